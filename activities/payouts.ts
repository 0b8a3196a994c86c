/**
 * The creator's payout: one Stripe Transfer of the net (captured - refunded - commission - processing fees) to
 * their Express account, `transfer_group` = campaign id, key `payout-<campaignId>`. The amount is fixed on the
 * payouts row before the transfer, so every retry sends Stripe exactly the same request.
 */
import { ApplicationFailure } from '@temporalio/common';
import Stripe from 'stripe';
import { saveAccountFlags } from '../src/connect/account-updates';
import { recordLedgerEntries } from '../src/ledger/ledger';
import { fromMinorUnits } from '../src/money';
import { enqueueNotifications } from '../src/notifications/outbox';
import { stripeKeys } from '../src/payments/idempotency-keys';
import { computePayout } from '../src/rules/payout';
import { PAYOUT_NOT_READY } from '../src/payments/failure-types';
import { campaignMoney } from '../src/ledger/campaign-money';
import { type ActivityDeps } from './deps';
import { callStripe, toActivityFailure } from './stripe-failures';

export type PayoutReadiness =
  | { state: 'ready'; transfer: number; currency: string }
  | { state: 'nothing_to_pay' }
  | { state: 'account_not_ready' }
  | { state: 'funds_pending'; transfer: number; available: number };


export function createPayoutActivities({ database, stripe, config }: ActivityDeps) {
  const db = database.db;

  async function loadCampaignAndCreator(campaignId: string) {
    return db
      .selectFrom('campaigns')
      .innerJoin('users', 'users.id', 'campaigns.creator_id')
      .select([
        'campaigns.id',
        'campaigns.title',
        'campaigns.currency',
        'campaigns.platform_fee_bps',
        'campaigns.creator_id',
        'users.stripe_account_id',
        'users.payouts_enabled',
      ])
      .where('campaigns.id', '=', campaignId)
      .executeTakeFirstOrThrow();
  }

  /** Can the creator's account receive the transfer, and does the platform's available balance cover it? */
  async function checkAccount(accountId: string | null): Promise<boolean> {
    if (!accountId) return false;
    const account = await callStripe(() => stripe.accounts.retrieve(accountId));
    await saveAccountFlags(db, account);
    return account.payouts_enabled;
  }

  return {
    async payoutReadiness(input: { campaignId: string }): Promise<PayoutReadiness> {
      const existing = await db.selectFrom('payouts').selectAll().where('campaign_id', '=', input.campaignId).executeTakeFirst();
      if (existing?.status === 'paid') return { state: 'nothing_to_pay' };
      const campaign = await loadCampaignAndCreator(input.campaignId);
      const amounts = computePayout({ ...(await campaignMoney(db, input.campaignId)), platformFeeBps: campaign.platform_fee_bps });
      const transfer = existing?.amount ?? amounts.transfer;
      if (transfer === 0) return { state: 'nothing_to_pay' };
      if (!(await checkAccount(campaign.stripe_account_id))) return { state: 'account_not_ready' };
      const balance = await callStripe(() => stripe.balance.retrieve());
      const currency = campaign.currency.toLowerCase();
      const available = balance.available.filter((funds) => funds.currency === currency).reduce((sum, funds) => sum + funds.amount, 0);
      if (available < transfer) return { state: 'funds_pending', transfer, available };
      return { state: 'ready', transfer, currency: campaign.currency };
    },

    async sendPayout(input: { campaignId: string }): Promise<{ transferId: string; amount: number } | null> {
      const campaign = await loadCampaignAndCreator(input.campaignId);
      if (!campaign.stripe_account_id) throw ApplicationFailure.create({ type: PAYOUT_NOT_READY, message: 'creator has no Connect account', nonRetryable: true });
      const money = await campaignMoney(db, input.campaignId);
      const amounts = computePayout({ ...money, platformFeeBps: campaign.platform_fee_bps });
      await db
        .insertInto('payouts')
        .values({
          campaign_id: campaign.id,
          destination_account_id: campaign.stripe_account_id,
          amount: amounts.transfer,
          currency: campaign.currency,
          gross_captured: money.captured,
          refunded: money.refunded,
          platform_fee: amounts.platformFee,
          processing_fees: amounts.processingFees,
          idempotency_key: stripeKeys.payout(campaign.id),
        })
        .onConflict((oc) => oc.column('campaign_id').doNothing())
        .execute();
      const payout = await db.selectFrom('payouts').selectAll().where('campaign_id', '=', campaign.id).executeTakeFirstOrThrow();
      if (payout.status === 'paid') return { transferId: payout.stripe_transfer_id!, amount: payout.amount };
      if (payout.amount === 0) return null;

      let transfer: Stripe.Transfer;
      try {
        transfer = await stripe.transfers.create(
          {
            amount: payout.amount,
            currency: payout.currency.toLowerCase(),
            destination: payout.destination_account_id,
            transfer_group: campaign.id,
            metadata: { campaign_id: campaign.id, payout_id: payout.id },
          },
          { idempotencyKey: payout.idempotency_key },
        );
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && (error.code === 'balance_insufficient' || error.code === 'account_invalid' || /transfers/.test(error.message))) {
          throw ApplicationFailure.create({ type: PAYOUT_NOT_READY, message: error.message, nonRetryable: true, cause: error });
        }
        throw toActivityFailure(error);
      }

      await database.transaction(async (trx) => {
        const paid = await trx
          .updateTable('payouts')
          .set({ status: 'paid', stripe_transfer_id: transfer.id, paid_at: new Date() })
          .where('id', '=', payout.id)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        if (paid.numUpdatedRows === 0n) return;
        await trx.updateTable('campaigns').set({ paid_out_at: new Date(), updated_at: new Date() }).where('id', '=', campaign.id).execute();
        const entry = { campaignId: campaign.id, currency: payout.currency, stripeObjectId: transfer.id };
        await recordLedgerEntries(trx, [
          { ...entry, kind: 'transfer', amount: payout.amount },
          { ...entry, kind: 'platform_fee', amount: payout.platform_fee },
        ]);
        await enqueueNotifications(trx, [
          {
            recipientId: campaign.creator_id,
            template: 'payout_sent',
            payload: { campaignId: campaign.id, campaignTitle: campaign.title, amount: fromMinorUnits(payout.amount, payout.currency), currency: payout.currency },
            dedupeKey: `payout-${campaign.id}-sent`,
          },
        ]);
      });
      return { transferId: transfer.id, amount: payout.amount };
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
