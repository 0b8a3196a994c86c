/**
 * Who may manage or read what a campaign's creator works with after the campaign (its surveys, the backer report):
 * the creator manages; staff (support, ops) may read; nobody else. A draft exists only for its creator (404 to
 * anyone else, staff included, as for the campaign itself); a published campaign is public, so a refusal there is a
 * 403 that confirms nothing new. Objects under the campaign are looked up only after this check, so a caller who may
 * not see them cannot learn whether one exists.
 */
import { type Db } from '../../db/database';
import { type Campaign, type User } from '../../db/schema';
import { forbidden, notFound } from '../errors';

export type CreatorAccess = 'manage' | 'read';

export async function campaignForCreatorWork(db: Db, campaignId: string, user: User, access: CreatorAccess, what: string): Promise<Campaign> {
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirst();
  const isCreator = campaign?.creator_id === user.id;
  if (!campaign || (campaign.status === 'draft' && !isCreator)) throw notFound('Campaign');
  if (isCreator) return campaign;
  if (access === 'read' && user.role !== 'user') return campaign;
  throw forbidden(access === 'manage' ? `Only the campaign's creator can manage its ${what}` : `Only the campaign's creator and staff can see its ${what}`);
}
