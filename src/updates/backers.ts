/**
 * Who counts as a campaign's backer for its updates: whose pledge is live (LIVE_PLEDGE_STATUSES: placed, held,
 * collected, or failed but still fixable) or was released because the campaign failed or was cancelled. Kickstarter
 * keeps mailing the backers of an unsuccessful project (a relaunch is announced that way), so a creator may post on a
 * failed campaign and be heard. A backer who cancelled, was dropped, or was refunded in full no longer counts. The
 * same rule decides who is mailed and who may read backers-only updates.
 */
import { type Db, type Tx } from '../../db/database';
import { LIVE_PLEDGE_STATUSES, type PledgeStatus } from '../../db/schema';

export const UPDATE_BACKER_PLEDGE_STATUSES = [...LIVE_PLEDGE_STATUSES, 'released'] as const satisfies readonly PledgeStatus[];

export async function isCampaignBacker(db: Db | Tx, campaignId: string, userId: string): Promise<boolean> {
  const pledge = await db
    .selectFrom('pledges')
    .select('id')
    .where('campaign_id', '=', campaignId)
    .where('backer_id', '=', userId)
    .where('status', 'in', UPDATE_BACKER_PLEDGE_STATUSES)
    .limit(1)
    .executeTakeFirst();
  return pledge !== undefined;
}
