/** A backer's own pledges, newest first, each with its campaign: what "my pledges" shows. */
import { type Db } from '../../db/database';

export function backerPledges(db: Db, backerId: string) {
  return db
    .selectFrom('pledges')
    .innerJoin('campaigns', 'campaigns.id', 'pledges.campaign_id')
    .select([
      'pledges.id',
      'pledges.status',
      'pledges.amount',
      'pledges.amount_refunded',
      'pledges.currency',
      'pledges.reward_id',
      'pledges.failure_code',
      'pledges.grace_ends_at',
      'pledges.created_at',
      'campaigns.id as campaign_id',
      'campaigns.title as campaign_title',
      'campaigns.slug as campaign_slug',
    ])
    .where('pledges.backer_id', '=', backerId)
    .orderBy('pledges.created_at', 'desc')
    .limit(500)
    .execute();
}
