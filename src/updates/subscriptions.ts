/**
 * A user's choice to stop (or resume) mails about one campaign's updates: a row in `campaign_unsubscribes` while
 * stopped. Both ways are idempotent. Only update mails are affected: pledge, payment and refund mails still come.
 */
import { sql } from 'kysely';
import { type Db } from '../../db/database';

export async function unsubscribeFromUpdates(db: Db, userId: string, campaignId: string): Promise<void> {
  // Written only for a user and campaign that exist, so that a valid link to something gone is simply done.
  await db
    .insertInto('campaign_unsubscribes')
    .columns(['user_id', 'campaign_id'])
    .expression(
      db
        .selectFrom('users')
        .innerJoin('campaigns', (join) => join.on('campaigns.id', '=', campaignId))
        .select([sql<string>`users.id`.as('user_id'), sql<string>`campaigns.id`.as('campaign_id')])
        .where('users.id', '=', userId),
    )
    .onConflict((oc) => oc.columns(['user_id', 'campaign_id']).doNothing())
    .execute();
}

export async function resubscribeToUpdates(db: Db, userId: string, campaignId: string): Promise<void> {
  await db.deleteFrom('campaign_unsubscribes').where('user_id', '=', userId).where('campaign_id', '=', campaignId).execute();
}
