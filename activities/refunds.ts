/**
 * Refunds, whoever asked for them (support, or a cancelled keep-it-all campaign), carried out in recorded steps so
 * that a failure or a retry at any point refunds nobody twice and loses no record:
 *
 * 1. The refund row and its idempotency key exist before Stripe is called (written by whoever asked).
 * 2. The Stripe Refund, its attempts counted on the row before each call. It is recorded the moment Stripe made it
 *    (row, pledge, ledger, the backer's notification, and whether the creator's share must come back), in one
 *    transaction, whatever happens next.
 * 3. After the payout only: the transfer reversal that takes the creator's share back (the platform gives up its
 *    commission on the refund), with its own key and state, retried until done: the activity throws a retryable
 *    failure while Stripe is down, and calling `executeRefund` again resumes from the recorded step.
 *
 * Stripe forgets an idempotency key after 24 h, and a retry may come later than that (a refund stuck through an
 * outage, retried by ops): once an attempt has reached Stripe, a retry first looks for what it made, by the
 * `refund_id` in its metadata, as settlement does for off-session charges.
 */
import type Stripe from 'stripe';
import { sql } from 'kysely';
import { type Tx } from '../db/database';
import { pledgeTotals } from '../src/pledges/pledge-totals';
import { ledgerTotals, recordLedgerEntries, settlementOf } from '../src/ledger/ledger';
import { fromMinorUnits } from '../src/money';
import { enqueueNotifications } from '../src/notifications/outbox';
import { stripeKeys } from '../src/payments/idempotency-keys';
import { reverseTransferOnce } from '../src/payments/transfer-reversals';
import { recordRefundOnPledge } from '../src/refunds/record-refund';
import { collectedFromLedger, reversalForRefund } from '../src/rules/payout';
import { type ActivityDeps } from './deps';
import { callStripe } from './stripe-failures';

export interface RefundResult {
  refundId: string;
  status: 'succeeded' | 'failed';
  amount: number;
  transferReversal: number;
  /** All the campaign has refunded so far: what the workflow shows, read rather than added up (a refund signalled twice counts once). */
  campaignRefunded?: number;
}

export function createRefundActivities({ database, stripe }: ActivityDeps) {
  const db = database.db;

  function loadRefund(refundId: string) {
    return db
      .selectFrom('refunds')
      .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
      .innerJoin('campaigns', 'campaigns.id', 'pledges.campaign_id')
      .selectAll('refunds')
      .select([
        'pledges.campaign_id',
        'pledges.backer_id',
        'pledges.payment_intent_id',
        'pledges.amount_captured',
        'pledges.amount_refunded',
        'campaigns.title as campaign_title',
        'campaigns.platform_fee_bps',
      ])
      .where('refunds.id', '=', refundId)
      .executeTakeFirstOrThrow();
  }
  type LoadedRefund = Awaited<ReturnType<typeof loadRefund>>;

  async function markFailed(refundId: string, message: string): Promise<void> {
    await db.updateTable('refunds').set({ status: 'failed', failure_message: message, completed_at: new Date() }).where('id', '=', refundId).where('status', '=', 'requested').execute();
  }

  /** This row's refund on Stripe, if an attempt made one. */
  async function findRefund(paymentIntentId: string, refundId: string): Promise<Stripe.Refund | undefined> {
    for await (const made of stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100, expand: ['data.balance_transaction'] })) {
      if (made.metadata?.refund_id === refundId) return made;
    }
    return undefined;
  }

  /** Step 2: the Stripe Refund, made once; null when it cannot be made (the row is then `failed`). */
  async function makeRefund(refund: LoadedRefund): Promise<Stripe.Refund | null> {
    const paymentIntentId = refund.payment_intent_id;
    if (refund.attempts > 0 && paymentIntentId) {
      const earlier = await callStripe(() => findRefund(paymentIntentId, refund.id));
      if (earlier) return earlier;
    }
    const refundable = refund.amount_captured - refund.amount_refunded;
    if (refund.amount > refundable || !paymentIntentId) {
      await markFailed(refund.id, `only ${refundable} minor units are refundable`);
      return null;
    }
    await db.updateTable('refunds').set({ attempts: sql`attempts + 1` }).where('id', '=', refund.id).execute();
    return callStripe(() =>
      stripe.refunds.create(
        {
          payment_intent: paymentIntentId,
          amount: refund.amount,
          reason: 'requested_by_customer',
          metadata: { refund_id: refund.id, pledge_id: refund.pledge_id, campaign_id: refund.campaign_id },
          // What it takes from the platform's balance, in the settlement currency (a converted charge's refund is
          // converted at the charge's rate).
          expand: ['balance_transaction'],
        },
        { idempotencyKey: refund.idempotency_key },
      ),
    );
  }

  /** The refund's balance transaction: what left the platform's balance, in the settlement currency. */
  async function balanceOf(made: Stripe.Refund): Promise<Stripe.BalanceTransaction> {
    const balance = made.balance_transaction;
    if (balance && typeof balance !== 'string') return balance;
    if (!balance) throw new Error(`refund ${made.id} has no balance transaction`);
    return callStripe(() => stripe.balanceTransactions.retrieve(balance));
  }

  /**
   * What the creator gives back of this refund, worked out before it is on the pledge: in the settlement currency,
   * like the payout it comes out of (`refundSettled`: the refund's own settlement amount).
   */
  async function reversalOwed(trx: Tx, refund: LoadedRefund, payoutAmount: number, refundSettled: number) {
    const totals = collectedFromLedger(await ledgerTotals(trx, refund.campaign_id, 'settlement'));
    // Reversals decided but not yet made count too: the creator no longer holds that money either.
    const reversed = await trx
      .selectFrom('refunds')
      .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
      // Less what was paid back to the creator after refunds that failed (src/refunds/refund-failures.ts).
      .select(sql<number>`coalesce(sum(refunds.transfer_reversal_amount), 0) - coalesce(sum(refunds.restore_amount), 0)`.as('total'))
      .where('pledges.campaign_id', '=', refund.campaign_id)
      .executeTakeFirstOrThrow();
    // Disputes lost after the payout take their share back from the same transfer (owed or made).
    const recovered = await trx
      .selectFrom('disputes')
      .select(sql<number>`coalesce(sum(recovery_amount), 0)`.as('total'))
      .where('campaign_id', '=', refund.campaign_id)
      .where('recovery', 'in', ['pending', 'reversed'])
      .executeTakeFirstOrThrow();
    const transferredNet = payoutAmount - Number(reversed.total) - Number(recovered.total);
    return reversalForRefund({ ...totals, platformFeeBps: refund.platform_fee_bps, refundAmount: refundSettled, transferredNet });
  }

  /** Records the refund Stripe made, with all that follows from it, in one transaction. */
  async function recordRefund(refund: LoadedRefund, made: Stripe.Refund): Promise<void> {
    if (made.status === 'failed' || made.status === 'canceled') {
      await markFailed(refund.id, `Stripe ${made.status === 'failed' ? 'failed' : 'canceled'} the refund (${made.failure_reason ?? 'no reason given'})`);
      return;
    }
    const settlement = settlementOf(await balanceOf(made));
    await database.transaction(async (trx) => {
      // Locked so that refunds of one campaign decide their reversals one at a time, against a payout that stays put.
      const payout = await trx.selectFrom('payouts').selectAll().where('campaign_id', '=', refund.campaign_id).forUpdate().executeTakeFirst();
      const transferId = payout?.status === 'paid' ? payout.stripe_transfer_id : null;
      // Before the payout, the payout simply comes out smaller.
      const reversal = payout && transferId ? await reversalOwed(trx, refund, payout.amount, settlement.settlementAmount!) : null;
      const claimed = await trx
        .updateTable('refunds')
        .set({
          // Made: Stripe took the money from the balance. A `pending` refund may still fail at the bank; its
          // failure is put back in the books when Stripe says so (src/refunds/refund-failures.ts).
          status: 'succeeded',
          stripe_status: made.status as 'pending' | 'requires_action' | 'succeeded',
          stripe_refund_id: made.id,
          completed_at: new Date(),
          transfer_reversal_amount: reversal?.transferReversal ?? 0,
          reversal_status: reversal && reversal.transferReversal > 0 ? 'pending' : 'not_needed',
        })
        .where('id', '=', refund.id)
        .where('status', '=', 'requested')
        .executeTakeFirst();
      if (claimed.numUpdatedRows === 0n) return; // recorded by an earlier attempt
      const entry = { campaignId: refund.campaign_id, pledgeId: refund.pledge_id, currency: refund.currency };
      await recordRefundOnPledge(trx, { ...entry, amount: refund.amount, stripeRefundId: made.id, settlement });
      // Commission is reckoned in the settlement currency, as the payout it came out of.
      if (reversal && payout) {
        await recordLedgerEntries(trx, [{ ...entry, kind: 'platform_fee_reversal', amount: reversal.platformFeeReversal, currency: payout.currency, stripeObjectId: made.id }]);
      }
      await enqueueNotifications(trx, [
        {
          recipientId: refund.backer_id,
          template: 'refund_issued',
          payload: { refundId: refund.id, campaignTitle: refund.campaign_title, amount: fromMinorUnits(refund.amount, refund.currency), currency: refund.currency },
          dedupeKey: `refund-${refund.id}-issued`,
        },
      ]);
    });
  }

  /** Step 3: takes the creator's share back from the payout's transfer, once. */
  async function reverseTransfer(refund: LoadedRefund): Promise<void> {
    const payout = await db.selectFrom('payouts').select(['stripe_transfer_id', 'currency']).where('campaign_id', '=', refund.campaign_id).executeTakeFirstOrThrow();
    const transferId = payout.stripe_transfer_id!;
    const reversal = await callStripe(() =>
      reverseTransferOnce(stripe, {
        transferId,
        amount: refund.transfer_reversal_amount,
        metadata: { refund_id: refund.id, campaign_id: refund.campaign_id },
        ownedBy: { key: 'refund_id', value: refund.id },
        idempotencyKey: stripeKeys.refundReversal(refund.id),
        earlierAttempts: refund.reversal_attempts,
        countAttempt: async () => void (await db.updateTable('refunds').set({ reversal_attempts: sql`reversal_attempts + 1` }).where('id', '=', refund.id).execute()),
      }),
    );
    const reversalId = reversal.id;
    await database.transaction(async (trx) => {
      const done = await trx
        .updateTable('refunds')
        .set({ reversal_status: 'succeeded', transfer_reversal_id: reversalId })
        .where('id', '=', refund.id)
        .where('reversal_status', '=', 'pending')
        .executeTakeFirst();
      if (done.numUpdatedRows === 0n) return;
      await recordLedgerEntries(trx, [
        // In the transfer's (settlement) currency, as `transfer_reversal_amount` was worked out.
        { campaignId: refund.campaign_id, pledgeId: refund.pledge_id, kind: 'transfer_reversal', amount: refund.transfer_reversal_amount, currency: payout.currency, stripeObjectId: reversalId },
      ]);
    });
  }

  /** Carries a refund out from whichever step it was left at; safe to call again, at any time, until it returns. */
  async function executeRefund(input: { refundId: string }): Promise<RefundResult> {
    let refund = await loadRefund(input.refundId);
    if (refund.status === 'requested') {
      const made = await makeRefund(refund);
      if (made) await recordRefund(refund, made);
      refund = await loadRefund(input.refundId);
    }
    if (refund.status === 'succeeded' && refund.reversal_status === 'pending') {
      await reverseTransfer(refund);
      refund = await loadRefund(input.refundId);
    }
    if (refund.status === 'requested') throw new Error(`refund ${refund.id} is still requested`);
    const { refunded } = await pledgeTotals(db, refund.campaign_id);
    return { refundId: refund.id, status: refund.status, amount: refund.amount, transferReversal: refund.transfer_reversal_amount, campaignRefunded: refunded };
  }

  return {
    executeRefund,

    /** A cancelled keep-it-all campaign gives back everything it collected from this pledge. */
    async refundPledgeInFull(input: { pledgeId: string }): Promise<RefundResult | null> {
      const pledge = await db.selectFrom('pledges').selectAll().where('id', '=', input.pledgeId).executeTakeFirstOrThrow();
      const idempotencyKey = stripeKeys.cancellationRefund(pledge.id);
      const remaining = pledge.amount_captured - pledge.amount_refunded;
      if (remaining > 0) {
        await db
          .insertInto('refunds')
          .values({ pledge_id: pledge.id, amount: remaining, currency: pledge.currency, reason: 'campaign_cancelled', idempotency_key: idempotencyKey })
          .onConflict((oc) => oc.column('idempotency_key').doNothing())
          .execute();
      }
      const refund = await db.selectFrom('refunds').select('id').where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
      return refund ? executeRefund({ refundId: refund.id }) : null;
    },
  };
}
