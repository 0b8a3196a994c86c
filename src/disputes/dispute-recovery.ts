/**
 * Who bears a lost dispute, decided once when Stripe closes it as lost (DISPUTE_RECOVERY):
 * - `platform`: the platform; nothing is taken from the creator, before or after the payout.
 * - `creator`, before the payout: the payout comes out smaller (`creatorDisputeDebits` in its arithmetic).
 * - `creator`, after the payout: the creator's share (src/rules/dispute-recovery.ts) is drawn from the payout's
 *   reserve while one is held (`reserve`: nothing moves on Stripe, the platform keeps that much of the reserve), and
 *   what the reserve does not cover is taken back by a reversal of the payout's transfer, a step of its own with its
 *   own key (`dispute-<id>-recovery`), recorded as owed first and retried on every later sync until Stripe made it.
 * A won dispute costs the creator nothing: the amount comes back, and the platform bears Stripe's fee.
 */
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { type AppDatabase, type Tx } from '../../db/database';
import { type Dispute, type DisputeRecovery } from '../../db/schema';
import { ledgerTotals, recordLedgerEntries } from '../ledger/ledger';
import { stripeKeys } from '../payments/idempotency-keys';
import { reverseTransferOnce } from '../payments/transfer-reversals';
import { recoveryForLostDispute } from '../rules/dispute-recovery';
import { collectedFromLedger } from '../rules/payout';
import { creatorDisputeDebits } from './creator-dispute-debits';

export type DisputeRecoveryPolicy = 'creator' | 'platform';

export interface RecoveryDecision {
  recovery: DisputeRecovery;
  recovery_amount: number;
  platform_fee_reversal: number;
  reserve_drawn: number;
}

/** What is left of the payout's reserve: held, less what disputes drew on it; none once its release has begun. */
async function reserveHeld(trx: Tx, payout: { campaign_id: string; reserve_status: string | null; reserve_amount: number }): Promise<number> {
  if (payout.reserve_status !== 'held') return 0;
  const drawn = await trx
    .selectFrom('disputes')
    .select(sql<number>`coalesce(sum(reserve_drawn), 0)`.as('total'))
    .where('campaign_id', '=', payout.campaign_id)
    .executeTakeFirstOrThrow();
  return payout.reserve_amount - Number(drawn.total);
}

/** Decides, in the transaction that records the dispute closed, under the payout's lock (as refunds decide theirs). */
export async function decideRecovery(trx: Tx, dispute: Dispute, policy: DisputeRecoveryPolicy): Promise<RecoveryDecision> {
  const none = (recovery: DisputeRecovery): RecoveryDecision => ({ recovery, recovery_amount: 0, platform_fee_reversal: 0, reserve_drawn: 0 });
  if (dispute.status !== 'lost') return none('not_needed');
  if (policy === 'platform') return none('platform');
  const payout = await trx.selectFrom('payouts').selectAll().where('campaign_id', '=', dispute.campaign_id).forUpdate().executeTakeFirst();
  if (payout?.status !== 'paid' || !payout.stripe_transfer_id) return none('payout');

  const campaign = await trx.selectFrom('campaigns').select('platform_fee_bps').where('id', '=', dispute.campaign_id).executeTakeFirstOrThrow();
  const settlement = await ledgerTotals(trx, dispute.campaign_id, 'settlement');
  // Reversals decided but not made yet: the creator no longer holds that money either.
  const owedBack = await trx
    .selectFrom('refunds')
    .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
    .select(sql<number>`coalesce(sum(refunds.transfer_reversal_amount), 0)`.as('total'))
    .where('pledges.campaign_id', '=', dispute.campaign_id)
    .where('refunds.reversal_status', '=', 'pending')
    .executeTakeFirstOrThrow();
  const disputesOwedBack = await trx
    .selectFrom('disputes')
    .select(sql<number>`coalesce(sum(recovery_amount), 0)`.as('total'))
    .where('campaign_id', '=', dispute.campaign_id)
    .where('recovery', '=', 'pending')
    .executeTakeFirstOrThrow();
  const transferredNet = settlement.transfer - settlement.transfer_reversal - Number(owedBack.total) - Number(disputesOwedBack.total);
  const { reserveDrawn, transferReversal, platformFeeReversal } = recoveryForLostDispute({
    ...collectedFromLedger(settlement),
    ...(await creatorDisputeDebits(trx, dispute.campaign_id)),
    platformFeeBps: campaign.platform_fee_bps,
    lost: { amount: dispute.settlement_amount, fee: dispute.fee },
    transferredNet,
    reserveHeld: await reserveHeld(trx, payout),
  });
  // The creator holds nothing more from this campaign: the platform bears the loss.
  if (transferReversal === 0 && reserveDrawn === 0) return none('platform');
  const entry = { campaignId: dispute.campaign_id, pledgeId: dispute.pledge_id, currency: payout.currency, stripeObjectId: dispute.stripe_dispute_id };
  await recordLedgerEntries(trx, [
    { ...entry, kind: 'platform_fee_reversal', amount: platformFeeReversal },
    { ...entry, kind: 'reserve_drawn', amount: reserveDrawn },
  ]);
  return {
    recovery: transferReversal === 0 ? 'reserve' : 'pending',
    recovery_amount: transferReversal,
    platform_fee_reversal: platformFeeReversal,
    reserve_drawn: reserveDrawn,
  };
}

/** Takes the creator's share of a dispute lost after the payout back, once; a no-op unless it is owed. */
export async function recoverFromCreator(deps: { database: AppDatabase; stripe: Stripe }, disputeId: string): Promise<void> {
  const db = deps.database.db;
  const dispute = await db.selectFrom('disputes').selectAll().where('id', '=', disputeId).executeTakeFirstOrThrow();
  if (dispute.recovery !== 'pending') return;
  const payout = await db.selectFrom('payouts').select(['stripe_transfer_id', 'currency']).where('campaign_id', '=', dispute.campaign_id).executeTakeFirstOrThrow();
  const transferId = payout.stripe_transfer_id!;
  const reversal = await reverseTransferOnce(deps.stripe, {
    transferId,
    amount: dispute.recovery_amount,
    metadata: { dispute_id: dispute.stripe_dispute_id, campaign_id: dispute.campaign_id },
    ownedBy: { key: 'dispute_id', value: dispute.stripe_dispute_id },
    idempotencyKey: stripeKeys.disputeRecovery(dispute.stripe_dispute_id),
    earlierAttempts: dispute.recovery_attempts,
    countAttempt: async () => void (await db.updateTable('disputes').set({ recovery_attempts: sql`recovery_attempts + 1` }).where('id', '=', dispute.id).execute()),
  });
  const reversalId = reversal.id;
  await deps.database.transaction(async (trx) => {
    const done = await trx
      .updateTable('disputes')
      .set({ recovery: 'reversed', recovery_reversal_id: reversalId, updated_at: new Date() })
      .where('id', '=', dispute.id)
      .where('recovery', '=', 'pending')
      .executeTakeFirst();
    if (done.numUpdatedRows === 0n) return;
    await recordLedgerEntries(trx, [
      { campaignId: dispute.campaign_id, pledgeId: dispute.pledge_id, kind: 'transfer_reversal', amount: dispute.recovery_amount, currency: payout.currency, stripeObjectId: reversalId },
    ]);
  });
}
