/**
 * A creator posts an update to their published campaign (any status after draft: scheduled, live, settling, funded
 * or paid out, failed, cancelled; Kickstarter lets creators keep talking to backers after the end, whatever it was).
 * The update is numbered under the campaign row's lock, so two posts at once get #n and #n+1. The request's
 * Idempotency-Key, per creator, is stored with it: the same request again finds this update rather than adding one.
 */
import { type AppDatabase } from '../../db/database';
import { type Campaign, type CreatorUpdate, type User } from '../../db/schema';
import { conflict, forbidden, notFound, unprocessable } from '../errors';
import { type PostUpdateBody } from './schemas';

/** The campaign the caller may post an update to; who else asks is told as little as the campaign pages tell them. */
export async function campaignForUpdates(database: AppDatabase, campaignId: string, user: User): Promise<Campaign> {
  const campaign = await database.db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirst();
  // A draft exists only for its creator (404 to everyone else, as GET /api/campaigns/:id answers).
  if (!campaign || (campaign.status === 'draft' && campaign.creator_id !== user.id)) throw notFound('Campaign');
  if (campaign.creator_id !== user.id) throw forbidden('Only the campaign’s creator can post updates');
  if (campaign.status === 'draft') throw conflict('campaign_not_published', 'Publish the campaign before posting updates');
  return campaign;
}

export async function postUpdate(
  database: AppDatabase,
  request: { campaignId: string; author: User; update: PostUpdateBody; requestKey: string },
): Promise<{ update: CreatorUpdate; created: boolean }> {
  return database.transaction(async (trx) => {
    const campaign = await trx.selectFrom('campaigns').select(['id', 'creator_id', 'status']).where('id', '=', request.campaignId).forUpdate().executeTakeFirst();
    if (!campaign || campaign.creator_id !== request.author.id) throw notFound('Campaign');
    if (campaign.status === 'draft') throw conflict('campaign_not_published', 'Publish the campaign before posting updates');
    const earlier = await trx.selectFrom('campaign_updates').selectAll().where('request_key', '=', request.requestKey).executeTakeFirst();
    if (earlier?.campaign_id === campaign.id) return { update: earlier, created: false };
    if (earlier) throw unprocessable('idempotency_key_reused', 'This Idempotency-Key was used to post an update to another campaign');
    const last = await trx
      .selectFrom('campaign_updates')
      .select((eb) => eb.fn.max('number').as('number'))
      .where('campaign_id', '=', campaign.id)
      .executeTakeFirstOrThrow();
    const update = await trx
      .insertInto('campaign_updates')
      .values({
        campaign_id: campaign.id,
        author_id: request.author.id,
        number: (last.number ?? 0) + 1,
        title: request.update.title,
        body: request.update.body,
        audience: request.update.audience,
        request_key: request.requestKey,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { update, created: true };
  });
}
