/**
 * Cancelling a campaign before its deadline, by its creator or ops: checked here, carried out by the campaign's
 * workflow, which settles it as cancelled.
 */
import { type AppDatabase } from '../../db/database';
import { type User } from '../../db/schema';
import { conflict, forbidden, notFound } from '../errors';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';
import { campaignWorkflowId } from '../../workflows/messages';

export async function cancelCampaign(
  deps: { database: AppDatabase; workflows: CampaignWorkflows },
  campaignId: string,
  user: User,
  reason: string,
): Promise<{ workflowId: string }> {
  const campaign = await deps.database.db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirst();
  if (!campaign) throw notFound('Campaign');
  if (campaign.creator_id !== user.id && user.role !== 'ops') throw forbidden('Only the creator or ops can cancel this campaign');
  if (campaign.status !== 'scheduled' && campaign.status !== 'active') {
    throw conflict('campaign_not_cancellable', `A ${campaign.status} campaign cannot be cancelled`);
  }
  if (campaign.ends_at.getTime() <= Date.now()) throw conflict('campaign_not_cancellable', 'The deadline has passed');
  await deps.workflows.cancel(campaignId, reason, user.id);
  return { workflowId: campaignWorkflowId(campaignId) };
}
