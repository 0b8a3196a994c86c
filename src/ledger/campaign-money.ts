/** What a campaign collected, read from its pledges: the numbers payouts and refunds compute from. */
import { sql } from 'kysely';
import { type Db, type Tx } from '../../db/database';

export interface CampaignMoney {
  captured: number;
  refunded: number;
  processingFees: number;
}

export async function campaignMoney(db: Db | Tx, campaignId: string): Promise<CampaignMoney> {
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
