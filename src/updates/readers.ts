/**
 * Who reads a campaign's updates, and what of them: public updates are for anyone; a backers-only update's body is
 * for the campaign's backers, its creator and staff (support, ops), and everyone else sees it listed with its title
 * and a hidden body, as Kickstarter shows a locked update. The send's progress is for the creator and staff.
 */
import { type Db } from '../../db/database';
import { type Campaign, type User } from '../../db/schema';
import { notFound } from '../errors';
import { isCampaignBacker } from './backers';

export type UpdateReader = 'creator' | 'staff' | 'backer' | 'anyone';

/** A campaign whose updates the caller may list: drafts exist only for their creator. */
export async function campaignWithUpdates(db: Db, campaignId: string, user: User | undefined): Promise<Campaign> {
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirst();
  if (!campaign || (campaign.status === 'draft' && campaign.creator_id !== user?.id)) throw notFound('Campaign');
  return campaign;
}

export async function updateReader(db: Db, campaign: Campaign, user: User | undefined): Promise<UpdateReader> {
  if (!user) return 'anyone';
  if (campaign.creator_id === user.id) return 'creator';
  if (user.role === 'support' || user.role === 'ops') return 'staff';
  return (await isCampaignBacker(db, campaign.id, user.id)) ? 'backer' : 'anyone';
}
