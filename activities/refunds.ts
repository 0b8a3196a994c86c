/**
 * Refunds, whoever asked for them (support, or a cancelled keep-it-all campaign). One refund row is one Stripe
 * Refund: its idempotency key is stored on the row and reused on every retry. After the payout, the creator's
 * share of the refund is taken back with a transfer reversal, and the platform gives up its commission on it.
 */
import { sql } from 'kysely';
import { recordLedgerEntries } from '../src/ledger/ledger';
import { fromMinorUnits } from '../src/money';
import { enqueueNotifications } from '../src/notifications/outbox';
import { reversalForRefund } from '../src/rules/payout';
import { campaignMoney } from '../src/ledger/campaign-money';
import { type ActivityDeps } from './deps';
import { callStripe } from './stripe-failures';

export interface RefundResult {
  refundId: string;
  status: 'succeeded' | 'failed';
  amount: number;
  transferReversal: number;
}

export function createRefundActivities({ database, stripe }: ActivityDeps) {
  const db = database.db;

  async function executeRefund(input: { refundId: string }): Promise<RefundResult> {
    const refund = await db
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
      .where('refunds.id', '=', input.refundId)
      .executeTakeFirstOrThrow();
    const done = (status: RefundResult['status']): RefundResult => ({
      refundId: refund.id,
      status,
      amount: refund.amount,
      transferReversal: refund.transfer_reversal_amount,
    });
    if (refund.status !== 'requested') return done(refund.status);

    const refundable = refund.amount_captured - refund.amount_refunded;
    if (refund.amount > refundable || !refund.payment_intent_id) {
      await db
        .updateTable('refunds')
        .set({ status: 'failed', failure_message: `only ${refundable} minor units are refundable`, completed_at: new Date() })
        .where('id', '=', refund.id)
        .where('status', '=', 'requested')
        .execute();
      return done('failed');
    }

    const stripeRefund = await callStripe(() =>
      stripe.refunds.create(
        {
          payment_intent: refund.payment_intent_id!,
          amount: refund.amount,
          reason: 'requested_by_customer',
          metadata: { refund_id: refund.id, pledge_id: refund.pledge_id, campaign_id: refund.campaign_id },
        },
        { idempotencyKey: refund.idempotency_key },
      ),
    );

    // After the payout the creator gives back their share; before it, the payout simply comes out smaller.
    const payout = await db.selectFrom('payouts').selectAll().where('campaign_id', '=', refund.campaign_id).where('status', '=', 'paid').executeTakeFirst();
    let reversal = { transferReversal: 0, platformFeeReversal: 0 };
    let reversalId: string | null = null;
    if (payout?.stripe_transfer_id) {
      const money = await campaignMoney(db, refund.campaign_id);
      const reversedSoFar = await db
        .selectFrom('refunds')
        .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
        .select(sql<number>`coalesce(sum(refunds.transfer_reversal_amount), 0)`.as('total'))
        .where('pledges.campaign_id', '=', refund.campaign_id)
        .executeTakeFirstOrThrow();
      reversal = reversalForRefund({
        ...money,
        platformFeeBps: refund.platform_fee_bps,
        refundAmount: refund.amount,
        transferredNet: payout.amount - Number(reversedSoFar.total),
      });
      if (reversal.transferReversal > 0) {
        const transferReversal = await callStripe(() =>
          stripe.transfers.createReversal(
            payout.stripe_transfer_id!,
            { amount: reversal.transferReversal, metadata: { refund_id: refund.id, campaign_id: refund.campaign_id } },
            { idempotencyKey: `${refund.idempotency_key}-reversal` },
          ),
        );
        reversalId = transferReversal.id;
      }
    }

    await database.transaction(async (trx) => {
      const completed = await trx
        .updateTable('refunds')
        .set({
          status: 'succeeded',
          stripe_refund_id: stripeRefund.id,
          transfer_reversal_id: reversalId,
          transfer_reversal_amount: reversal.transferReversal,
          completed_at: new Date(),
        })
        .where('id', '=', refund.id)
        .where('status', '=', 'requested')
        .executeTakeFirst();
      if (completed.numUpdatedRows === 0n) return;
      await trx
        .updateTable('pledges')
        .set({
          amount_refunded: sql`amount_refunded + ${refund.amount}`,
          status: sql`case when amount_refunded + ${refund.amount} >= amount_captured then 'refunded' else status end`,
          refunded_at: new Date(),
          updated_at: new Date(),
        })
        .where('id', '=', refund.pledge_id)
        .execute();
      const entry = { campaignId: refund.campaign_id, pledgeId: refund.pledge_id, currency: refund.currency };
      await recordLedgerEntries(trx, [
        { ...entry, kind: 'refund', amount: refund.amount, stripeObjectId: stripeRefund.id },
        ...(reversalId ? [{ ...entry, kind: 'transfer_reversal' as const, amount: reversal.transferReversal, stripeObjectId: reversalId }] : []),
        ...(payout ? [{ ...entry, kind: 'platform_fee_reversal' as const, amount: reversal.platformFeeReversal, stripeObjectId: stripeRefund.id }] : []),
      ]);
      await enqueueNotifications(trx, [
        {
          recipientId: refund.backer_id,
          template: 'refund_issued',
          payload: { refundId: refund.id, campaignTitle: refund.campaign_title, amount: fromMinorUnits(refund.amount, refund.currency), currency: refund.currency },
          dedupeKey: `refund-${refund.id}-issued`,
        },
      ]);
    });
    return { refundId: refund.id, status: 'succeeded', amount: refund.amount, transferReversal: reversal.transferReversal };
  }

  return {
    executeRefund,

    /** A cancelled keep-it-all campaign gives back everything it collected from this pledge. */
    async refundPledgeInFull(input: { pledgeId: string }): Promise<RefundResult | null> {
      const pledge = await db.selectFrom('pledges').selectAll().where('id', '=', input.pledgeId).executeTakeFirstOrThrow();
      const idempotencyKey = `pledge-${pledge.id}-cancellation-refund`;
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
