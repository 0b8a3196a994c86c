/**
 * The disputes a campaign's creator bears (DISPUTE_RECOVERY=creator, lost): their withdrawn amounts and fees, in the
 * settlement currency. The payout takes those lost before it off what it pays; a dispute lost after it counts here
 * too once decided, so the next one's reversal is reckoned from what the creator still holds. Open disputes are not
 * here: the platform fronts a withdrawal until the dispute is decided, so a payout is not held back by one.
 */
import { sql } from 'kysely';
import { type Db, type Tx } from '../../db/database';

export interface CreatorDisputeDebits {
  disputesLost: number;
  disputeFees: number;
}

export async function creatorDisputeDebits(db: Db | Tx, campaignId: string): Promise<CreatorDisputeDebits> {
  const row = await db
    .selectFrom('disputes')
    .select([sql<number>`coalesce(sum(settlement_amount), 0)`.as('lost'), sql<number>`coalesce(sum(fee), 0)`.as('fees')])
    .where('campaign_id', '=', campaignId)
    .where('recovery', 'in', ['payout', 'reserve', 'pending', 'reversed'])
    .executeTakeFirstOrThrow();
  return { disputesLost: Number(row.lost), disputeFees: Number(row.fees) };
}
