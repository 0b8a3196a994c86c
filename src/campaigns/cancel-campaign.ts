/**
 * Cancelling a campaign before its deadline, by its creator or ops: checked here, carried out by the campaign's
 * workflow, which settles it as cancelled. Staff's cancellations are audited once the workflow has taken them (the
 * signal writes nothing here to share a transaction with).
 */
import { type AppDatabase } from '../../db/database';
import { type User } from '../../db/schema';
import { recordStaffAction, staffActor } from '../audit/staff-audit';
import { conflict, forbidden, notFound } from '../errors';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';
import { campaignWorkflowId } from '../../workflows/messages';

export async function cancelCampaign(
  deps: { database: AppDatabase; workflows: CampaignWorkflows },
  campaignId: string,
  user: User,
  reason: string,
  requestId: string | null = null,
): Promise<{ workflowId: string }> {
  const campaign = await deps.database.db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirst();
  if (!campaign) throw notFound('Campaign');
  if (campaign.creator_id !== user.id && user.role !== 'ops') throw forbidden('Only the creator or ops can cancel this campaign');
  if (campaign.status !== 'scheduled' && campaign.status !== 'active') {
    throw conflict('campaign_not_cancellable', `A ${campaign.status} campaign cannot be cancelled`);
  }
  if (campaign.ends_at.getTime() <= Date.now()) throw conflict('campaign_not_cancellable', 'The deadline has passed');
  await deps.workflows.cancel(campaignId, reason, user.id);
  if (user.role !== 'user') {
    await recordStaffAction(deps.database.db, { actor: staffActor(user), requestId }, {
      action: 'campaign.cancelled',
      objectType: 'campaign',
      objectId: campaignId,
      details: { reason, status: campaign.status, creatorId: campaign.creator_id },
    });
  }
  return { workflowId: campaignWorkflowId(campaignId) };
}
