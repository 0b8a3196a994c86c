/**
 * The creator's payout: one Stripe Transfer of the net (captured - refunded - commission - processing fees) to
 * their Express account, `transfer_group` = campaign id. Reckoned and paid in the platform's settlement currency
 * (what Stripe converted the campaign's charges into and what its balance holds), whatever the campaign's currency.
 *
 * It is sent in versions (`payout_attempts`), each one request with its own amount and key `payout-<campaignId>-v<n>`,
 * so every retry of a version is the same request to Stripe. A version whose outcome is unknown (a lost answer, a
 * timeout) is only ever sent again as it was. Once Stripe has refused a version (it made no transfer, and replays the
 * refusal to that key), the amount is worked out again from the ledger as the next version: a refund made while the
 * payout waited is taken off, and the refused version can never also go through.
 *
 * A campaign is paid only from its own money: it is ready once Stripe has made enough of this campaign's captures
 * available, whatever the platform's pooled balance holds (which stays a second guard).
 *
 * With a reserve against chargebacks (`reserveBps`, from the campaign's settings), the transfer holds part of what the
 * creator is owed back (`payouts.reserve_amount`, ledger `reserve_held`); disputes lost meanwhile draw on it
 * (src/disputes/dispute-recovery.ts), and `releaseReserve` pays what is left by a second transfer when the reserve
 * period ends, under its own key (`reserve-<campaignId>-release`).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { sql } from 'kysely';
import Stripe from 'stripe';
import { type Db, type Tx } from '../db/database';
import { type Payout, type PayoutAttempt } from '../db/schema';
import { saveAccountFlags } from '../src/connect/account-updates';
import { creatorDisputeDebits } from '../src/disputes/creator-dispute-debits';
import { campaignAvailableFunds } from '../src/ledger/available-funds';
import { fundsAvailableOn, ledgerTotals, recordLedgerEntries } from '../src/ledger/ledger';
import { fromMinorUnits } from '../src/money';
import { enqueueNotifications } from '../src/notifications/outbox';
import { PAYOUT_NOT_READY } from '../src/payments/failure-types';
import { stripeKeys } from '../src/payments/idempotency-keys';
import { platformSettlementCurrency } from '../src/payments/platform-account';
import { collectedFromLedger, computePayout } from '../src/rules/payout';
import { type ActivityDeps } from './deps';
import { callStripe, toActivityFailure } from './stripe-failures';

export type PayoutReadiness =
  | { state: 'ready'; transfer: number; currency: string }
  | { state: 'nothing_to_pay' }
  | { state: 'account_not_ready' }
  /** `nextAvailableAtMs`: when more of the campaign's own funds become available, if any are still pending. */
  | { state: 'funds_pending'; transfer: number; available: number; nextAvailableAtMs: number | null };

/** Refusals that time or onboarding fix: the payout waits and tries again (as a new version). */
const NOT_READY_CODES = ['balance_insufficient', 'insufficient_capabilities_for_transfer', 'account_invalid'];

interface PayoutCampaign {
  id: string;
  title: string;
  currency: string;
  /** The platform's settlement currency: the payout's. */
  settlementCurrency: string;
  platform_fee_bps: number;
  creator_id: string;
  stripe_account_id: string | null;
}

/** What the creator is owed now, from the ledger's settlement view, less the reserve held back. */
async function owedNow(db: Db | Tx, campaign: PayoutCampaign, reserveBps: number) {
  const money = collectedFromLedger(await ledgerTotals(db, campaign.id, 'settlement'));
  // Disputes lost before the payout come off it when the creator bears them (DISPUTE_RECOVERY); open ones do not.
  const disputes = await creatorDisputeDebits(db, campaign.id);
  return { money, amounts: computePayout({ ...money, ...disputes, platformFeeBps: campaign.platform_fee_bps, reserveBps }) };
}

/** The workflow's clock when it scheduled this activity (it runs ahead of the wall clock in time-skipping tests). */
function scheduledAtMs(): number {
  try {
    return Context.current().info.currentAttemptScheduledTimestampMs;
  } catch {
    return Date.now(); // called outside an activity
  }
}

export function createPayoutActivities({ database, stripe, config }: ActivityDeps) {
  const db = database.db;

  async function loadCampaignAndCreator(campaignId: string): Promise<PayoutCampaign> {
    const campaign = await db
      .selectFrom('campaigns')
      .innerJoin('users', 'users.id', 'campaigns.creator_id')
      .select(['campaigns.id', 'campaigns.title', 'campaigns.currency', 'campaigns.platform_fee_bps', 'campaigns.creator_id', 'users.stripe_account_id'])
      .where('campaigns.id', '=', campaignId)
      .executeTakeFirstOrThrow();
    return { ...campaign, settlementCurrency: await callStripe(() => platformSettlementCurrency(stripe)) };
  }

  /** Can the creator's account receive the transfer? */
  async function checkAccount(accountId: string | null): Promise<boolean> {
    if (!accountId) return false;
    const account = await callStripe(() => stripe.accounts.retrieve(accountId));
    await saveAccountFlags(db, account);
    return account.payouts_enabled;
  }

  /** The version a payout is at, and whether it may still go through (sent, outcome unknown). */
  async function currentVersion(trx: Db | Tx, payout: Payout): Promise<PayoutAttempt> {
    return trx.selectFrom('payout_attempts').selectAll().where('payout_id', '=', payout.id).where('version', '=', payout.version).executeTakeFirstOrThrow();
  }

  /** What the next transfer request would be for: the live version's amount, else what is owed now. */
  async function nextTransfer(campaign: PayoutCampaign, reserveBps: number): Promise<number | 'paid'> {
    const payout = await db.selectFrom('payouts').selectAll().where('campaign_id', '=', campaign.id).executeTakeFirst();
    if (payout?.status === 'paid') return 'paid';
    if (payout) {
      const live = await currentVersion(db, payout);
      if (live.status === 'pending') return live.amount;
    }
    return (await owedNow(db, campaign, reserveBps)).amounts.transfer;
  }

  /**
   * The payout row and the version to send: version 1 on the first call; the same version while its outcome is
   * unknown; a new version with the amount owed now once Stripe refused the last one. No version when nothing is owed.
   */
  async function versionToSend(campaign: PayoutCampaign & { stripe_account_id: string }, reserveBps: number): Promise<{ payout: Payout; attempt: PayoutAttempt | null }> {
    const figuresOf = ({ money, amounts }: Awaited<ReturnType<typeof owedNow>>) => ({
      destination_account_id: campaign.stripe_account_id,
      amount: amounts.transfer,
      gross_captured: money.captured,
      refunded: money.refunded,
      platform_fee: amounts.platformFee,
      processing_fees: amounts.processingFees,
      reserve_amount: amounts.reserve,
    });
    return database.transaction(async (trx) => {
      const first = figuresOf(await owedNow(trx, campaign, reserveBps));
      const created = await trx
        .insertInto('payouts')
        .values({ ...first, campaign_id: campaign.id, currency: campaign.settlementCurrency, version: 1, idempotency_key: stripeKeys.payout(campaign.id, 1) })
        .onConflict((oc) => oc.column('campaign_id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (created) {
        await trx
          .insertInto('payout_attempts')
          .values({ payout_id: created.id, version: 1, amount: first.amount, platform_fee: first.platform_fee, idempotency_key: stripeKeys.payout(campaign.id, 1) })
          .execute();
      }
      // Locked (refunds take this lock to record themselves): two executions agree on one version, and the amount of
      // a new one counts every refund recorded before it.
      const payout = await trx.selectFrom('payouts').selectAll().where('campaign_id', '=', campaign.id).forUpdate().executeTakeFirstOrThrow();
      if (payout.status === 'paid') return { payout, attempt: null };
      const current = await currentVersion(trx, payout);
      if (current.status !== 'refused') return { payout, attempt: current };
      const owed = figuresOf(await owedNow(trx, campaign, reserveBps));
      if (owed.amount === 0) return { payout, attempt: null };

      const version = payout.version + 1;
      const key = stripeKeys.payout(campaign.id, version);
      const attempt = await trx
        .insertInto('payout_attempts')
        .values({ payout_id: payout.id, version, amount: owed.amount, platform_fee: owed.platform_fee, idempotency_key: key })
        .returningAll()
        .executeTakeFirstOrThrow();
      const updated = await trx.updateTable('payouts').set({ ...owed, version, idempotency_key: key }).where('id', '=', payout.id).returningAll().executeTakeFirstOrThrow();
      return { payout: updated, attempt };
    });
  }

  /** The reserve's release transfer, if an earlier attempt made one. */
  async function findReserveRelease(campaignId: string, key: string): Promise<Stripe.Transfer | undefined> {
    for await (const transfer of stripe.transfers.list({ transfer_group: campaignId, limit: 100 })) {
      if (transfer.metadata?.reserve_release === key) return transfer;
    }
    return undefined;
  }

  /** Captures recorded before `available_on` was kept get it from their charge's balance transaction, once. */
  async function recordMissingAvailability(campaignId: string): Promise<void> {
    const unknown = await db
      .selectFrom('ledger_entries')
      .select('stripe_object_id')
      .where('campaign_id', '=', campaignId)
      .where('kind', '=', 'capture')
      .where('available_on', 'is', null)
      .execute();
    for (const { stripe_object_id: chargeId } of unknown) {
      const charge = await callStripe(() => stripe.charges.retrieve(chargeId, { expand: ['balance_transaction'] }));
      const balance = charge.balance_transaction;
      if (!balance || typeof balance === 'string') continue;
      await db
        .updateTable('ledger_entries')
        .set({ available_on: fundsAvailableOn(balance) })
        .where('campaign_id', '=', campaignId)
        .where('available_on', 'is', null)
        .where((eb) =>
          eb.or([
            eb.and([eb('kind', '=', 'capture'), eb('stripe_object_id', '=', chargeId)]),
            eb.and([eb('kind', '=', 'processing_fee'), eb('stripe_object_id', '=', balance.id)]),
          ]),
        )
        .execute();
    }
  }

  /**
   * Stripe, not our clock, says when funds are available (clocks drift; a stand-in's clock may be moved on). When
   * the ledger still counts some captures as pending, the one that becomes available last is asked about: if Stripe
   * already has it available, every capture up to its date is, and that date is returned to count them from.
   */
  async function availableOnStripeSince(campaignId: string, asOf: Date): Promise<Date | null> {
    // The fee entry names the capture's balance transaction, and carries the same availability date.
    const latest = await db
      .selectFrom('ledger_entries')
      .select(['stripe_object_id', 'available_on'])
      .where('campaign_id', '=', campaignId)
      .where('kind', '=', 'processing_fee')
      .where('available_on', '>', asOf)
      .orderBy('available_on', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!latest?.available_on) return null;
    const transaction = await callStripe(() => stripe.balanceTransactions.retrieve(latest.stripe_object_id));
    return transaction.status === 'available' ? latest.available_on : null;
  }

  return {
    /**
     * Whether the payout can be sent now: the creator's account can receive it, and the campaign's own funds that
     * Stripe has made available by `asOfMs` (the workflow's clock; by default when the workflow scheduled this
     * check) cover it, as does the platform's balance.
     */
    async payoutReadiness(input: { campaignId: string; asOfMs?: number; reserveBps?: number }): Promise<PayoutReadiness> {
      const campaign = await loadCampaignAndCreator(input.campaignId);
      const transfer = await nextTransfer(campaign, input.reserveBps ?? 0);
      if (transfer === 'paid' || transfer === 0) return { state: 'nothing_to_pay' };
      if (!(await checkAccount(campaign.stripe_account_id))) return { state: 'account_not_ready' };

      await recordMissingAvailability(campaign.id);
      const asOf = new Date(input.asOfMs ?? scheduledAtMs());
      let own = await campaignAvailableFunds(db, campaign.id, asOf);
      if (own.available < transfer) {
        const confirmed = await availableOnStripeSince(campaign.id, asOf);
        if (confirmed) own = await campaignAvailableFunds(db, campaign.id, confirmed);
      }
      if (own.available < transfer) return { state: 'funds_pending', transfer, available: own.available, nextAvailableAtMs: own.nextAvailableAt?.getTime() ?? null };

      // Like with like: the transfer and the balance are both in the settlement currency.
      const balance = await callStripe(() => stripe.balance.retrieve());
      const currency = campaign.settlementCurrency.toLowerCase();
      const pooled = balance.available.filter((funds) => funds.currency === currency).reduce((sum, funds) => sum + funds.amount, 0);
      if (pooled < transfer) return { state: 'funds_pending', transfer, available: pooled, nextAvailableAtMs: null };
      return { state: 'ready', transfer, currency: campaign.settlementCurrency };
    },

    /** `reserveBps`: the campaign's reserve against chargebacks (its settings), held back from the transfer. */
    async sendPayout(input: { campaignId: string; reserveBps?: number }): Promise<{ transferId: string; amount: number; reserve: number } | null> {
      const campaign = await loadCampaignAndCreator(input.campaignId);
      const accountId = campaign.stripe_account_id;
      if (!accountId) throw ApplicationFailure.create({ type: PAYOUT_NOT_READY, message: 'creator has no Connect account', nonRetryable: true });
      const { payout, attempt } = await versionToSend({ ...campaign, stripe_account_id: accountId }, input.reserveBps ?? 0);
      if (payout.status === 'paid') return { transferId: payout.stripe_transfer_id!, amount: payout.amount, reserve: payout.reserve_amount };
      if (!attempt || attempt.amount === 0) return null;

      let transfer: Stripe.Transfer;
      try {
        transfer = await stripe.transfers.create(
          {
            amount: attempt.amount,
            currency: payout.currency.toLowerCase(),
            destination: payout.destination_account_id,
            transfer_group: campaign.id,
            metadata: { campaign_id: campaign.id, payout_id: payout.id },
          },
          { idempotencyKey: attempt.idempotency_key },
        );
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError) {
          // Stripe made no transfer and answers this key the same way from now on: this version is over, and the
          // next attempt works the amount out again under a new one.
          await db
            .updateTable('payout_attempts')
            .set({ status: 'refused', failure_code: error.code ?? null, failure_message: error.message, completed_at: new Date() })
            .where('id', '=', attempt.id)
            .where('status', '=', 'pending')
            .execute();
          if (NOT_READY_CODES.includes(error.code ?? '') || /transfers/.test(error.message)) {
            throw ApplicationFailure.create({ type: PAYOUT_NOT_READY, message: error.message, nonRetryable: true, cause: error });
          }
        }
        // Anything else (network, 5xx, 409): the outcome is unknown, and a retry sends this same version again.
        throw toActivityFailure(error);
      }

      await database.transaction(async (trx) => {
        const paid = await trx
          .updateTable('payouts')
          .set({ status: 'paid', stripe_transfer_id: transfer.id, paid_at: new Date(), reserve_status: payout.reserve_amount > 0 ? 'held' : null })
          .where('id', '=', payout.id)
          .where('status', '=', 'pending')
          .where('version', '=', attempt.version)
          .executeTakeFirst();
        if (paid.numUpdatedRows === 0n) return;
        await trx.updateTable('payout_attempts').set({ status: 'paid', stripe_transfer_id: transfer.id, completed_at: new Date() }).where('id', '=', attempt.id).execute();
        await trx.updateTable('campaigns').set({ paid_out_at: new Date(), updated_at: new Date() }).where('id', '=', campaign.id).execute();
        const entry = { campaignId: campaign.id, currency: payout.currency, stripeObjectId: transfer.id };
        await recordLedgerEntries(trx, [
          { ...entry, kind: 'transfer', amount: attempt.amount },
          { ...entry, kind: 'platform_fee', amount: attempt.platform_fee },
          // The version's figures are the payout row's (versionToSend wrote them together).
          { ...entry, kind: 'reserve_held', amount: payout.reserve_amount },
        ]);
        await enqueueNotifications(trx, [
          {
            recipientId: campaign.creator_id,
            template: 'payout_sent',
            payload: { campaignId: campaign.id, campaignTitle: campaign.title, amount: fromMinorUnits(attempt.amount, payout.currency), currency: payout.currency },
            dedupeKey: `payout-${campaign.id}-sent`,
          },
        ]);
      });
      return { transferId: transfer.id, amount: attempt.amount, reserve: payout.reserve_amount };
    },

    /**
     * Pays the creator what disputes left of the reserve, by a second transfer, once: the amount is fixed under the
     * payout's lock (disputes decided after that take a transfer reversal instead), then sent under its own key. An
     * outcome Stripe did not give is retried as the same request; after 24 h (keys expire) a retry first looks for
     * the transfer an earlier attempt made. Null: the payout holds no reserve.
     */
    async releaseReserve(input: { campaignId: string }): Promise<{ amount: number; transferId: string | null } | null> {
      const campaign = await loadCampaignAndCreator(input.campaignId);
      const payout = await database.transaction(async (trx) => {
        const row = await trx.selectFrom('payouts').selectAll().where('campaign_id', '=', campaign.id).forUpdate().executeTakeFirst();
        if (row?.reserve_status !== 'held') return row;
        const drawn = await trx
          .selectFrom('disputes')
          .select(sql<number>`coalesce(sum(reserve_drawn), 0)`.as('total'))
          .where('campaign_id', '=', campaign.id)
          .executeTakeFirstOrThrow();
        const left = row.reserve_amount - Number(drawn.total);
        return trx
          .updateTable('payouts')
          .set({ reserve_status: left > 0 ? 'releasing' : 'released', reserve_release_amount: left, ...(left > 0 ? {} : { reserve_released_at: new Date() }) })
          .where('id', '=', row.id)
          .returningAll()
          .executeTakeFirstOrThrow();
      });
      if (!payout?.reserve_status) return null;
      if (payout.reserve_status === 'released') return { amount: payout.reserve_release_amount, transferId: payout.reserve_release_transfer_id };

      const key = stripeKeys.reserveRelease(campaign.id);
      let transfer = payout.reserve_release_attempts > 0 ? await callStripe(() => findReserveRelease(campaign.id, key)) : undefined;
      if (!transfer) {
        await db.updateTable('payouts').set({ reserve_release_attempts: sql`reserve_release_attempts + 1` }).where('id', '=', payout.id).execute();
        transfer = await callStripe(() =>
          stripe.transfers.create(
            {
              amount: payout.reserve_release_amount,
              currency: payout.currency.toLowerCase(),
              destination: payout.destination_account_id,
              transfer_group: campaign.id,
              metadata: { campaign_id: campaign.id, payout_id: payout.id, reserve_release: key },
            },
            { idempotencyKey: key },
          ),
        );
      }
      const transferId = transfer.id;
      await database.transaction(async (trx) => {
        const released = await trx
          .updateTable('payouts')
          .set({ reserve_status: 'released', reserve_release_transfer_id: transferId, reserve_released_at: new Date() })
          .where('id', '=', payout.id)
          .where('reserve_status', '=', 'releasing')
          .executeTakeFirst();
        if (released.numUpdatedRows === 0n) return;
        const entry = { campaignId: campaign.id, currency: payout.currency, stripeObjectId: transferId, amount: payout.reserve_release_amount };
        await recordLedgerEntries(trx, [
          { ...entry, kind: 'transfer' },
          { ...entry, kind: 'reserve_released' },
        ]);
        await enqueueNotifications(trx, [
          {
            recipientId: campaign.creator_id,
            template: 'payout_sent',
            payload: { campaignId: campaign.id, campaignTitle: campaign.title, amount: fromMinorUnits(payout.reserve_release_amount, payout.currency), currency: payout.currency },
            dedupeKey: `payout-${campaign.id}-reserve-released`,
          },
        ]);
      });
      return { amount: payout.reserve_release_amount, transferId };
    },

    /** Tells a creator whose account cannot receive the payout how to finish onboarding. */
    async remindCreatorToOnboard(input: { campaignId: string; reminder: number }): Promise<void> {
      const campaign = await loadCampaignAndCreator(input.campaignId);
      await enqueueNotifications(db, [
        {
          recipientId: campaign.creator_id,
          template: 'connect_onboarding_reminder',
          payload: { campaignId: campaign.id, campaignTitle: campaign.title, onboardingUrl: `${config.http.publicUrl}/me/connect` },
          dedupeKey: `payout-${campaign.id}-onboarding-reminder-${input.reminder}`,
        },
      ]);
    },
  };
}
