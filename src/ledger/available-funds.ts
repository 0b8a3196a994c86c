/** How much of a campaign's money Stripe has made available, read from the ledger: what its payout may draw on. */
import { sql } from 'kysely';
import { type Db, type Tx } from '../../db/database';

export interface CampaignFunds {
  /** What Stripe has made available of this campaign's money, net of fees, refunds and transfers, in settlement minor units. */
  available: number;
  /** When the next of its captures still pending becomes available; null when none is pending. */
  nextAvailableAt: Date | null;
}

/**
 * The campaign's own funds on Stripe as of `asOf`, read from the ledger: the net of its captures whose balance
 * transactions are past `available_on`, less everything refunded (Stripe takes refunds from the balance at once,
 * pending funds or not) and anything already transferred. A capture whose `available_on` is not recorded counts as
 * pending, and its fee as already taken: unknown money is never paid out. In the platform's settlement currency, which
 * is what Stripe's balance holds and the payout transfers.
 */
export async function campaignAvailableFunds(db: Db | Tx, campaignId: string, asOf: Date): Promise<CampaignFunds> {
  const row = await db
    .selectFrom('ledger_entries')
    .select([
      sql<number>`coalesce(sum(settlement_amount) filter (where kind = 'capture' and available_on <= ${asOf}), 0)`.as('captured'),
      sql<number>`coalesce(sum(settlement_amount) filter (where kind = 'processing_fee' and (available_on is null or available_on <= ${asOf})), 0)`.as('fees'),
      sql<number>`coalesce(sum(settlement_amount) filter (where kind = 'refund'), 0)`.as('refunded'),
      sql<number>`coalesce(sum(settlement_amount) filter (where kind = 'transfer'), 0) - coalesce(sum(settlement_amount) filter (where kind = 'transfer_reversal'), 0)`.as('transferred'),
      sql<Date | null>`min(available_on) filter (where kind = 'capture' and available_on > ${asOf})`.as('next_available_at'),
    ])
    .where('campaign_id', '=', campaignId)
    .executeTakeFirstOrThrow();
  return {
    available: Number(row.captured) - Number(row.fees) - Number(row.refunded) - Number(row.transferred),
    nextAvailableAt: row.next_available_at,
  };
}
