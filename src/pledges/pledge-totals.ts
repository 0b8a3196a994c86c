/**
 * What a campaign's pledges add up to: captured, refunded and Stripe's fees, summed from the pledge rows (the numbers
 * the payout and refund arithmetic computes from; reconciliation checks them against the ledger).
 */
import { sql } from 'kysely';
import { type Db, type Tx } from '../../db/database';

export interface PledgeTotals {
  captured: number;
  refunded: number;
  processingFees: number;
}

export async function pledgeTotals(db: Db | Tx, campaignId: string): Promise<PledgeTotals> {
  const row = await db
    .selectFrom('pledges')
    .select([
      sql<number>`coalesce(sum(amount_captured), 0)`.as('captured'),
      sql<number>`coalesce(sum(amount_refunded), 0)`.as('refunded'),
      sql<number>`coalesce(sum(processing_fee), 0)`.as('processing_fees'),
    ])
    .where('campaign_id', '=', campaignId)
    .executeTakeFirstOrThrow();
  return { captured: Number(row.captured), refunded: Number(row.refunded), processingFees: Number(row.processing_fees) };
}
