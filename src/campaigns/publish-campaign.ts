/**
 * Publishing: the creator's draft becomes `scheduled` and is handed to its workflow, which owns everything after
 * (deadline, settlement, payout). Publishing again is safe: it starts the same workflow id, or finds it started.
 */
import { type AppDatabase } from '../../db/database';
import { type CampaignStatus, type User } from '../../db/schema';
import { conflict, forbidden, notFound, unprocessable } from '../errors';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';
import { campaignWorkflowId } from '../../workflows/messages';

export async function publishCampaign(
  deps: { database: AppDatabase; workflows: CampaignWorkflows },
  campaignId: string,
  user: User,
): Promise<{ status: CampaignStatus; workflowId: string }> {
  const db = deps.database.db;
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirst();
  if (!campaign) throw notFound('Campaign');
  if (campaign.creator_id !== user.id) throw forbidden('Only the creator can publish this campaign');
  if (!user.payouts_enabled) {
    throw conflict('connect_onboarding_required', 'Finish payout onboarding (POST /api/me/connect) before publishing');
  }
  if (campaign.status === 'draft') {
    if (campaign.ends_at.getTime() <= Date.now()) throw unprocessable('campaign_deadline_passed', 'The campaign ends in the past; change its dates first');
    // Recorded first: if the start below is lost to a crash, publishing again starts the same workflow id.
    await db
      .updateTable('campaigns')
      .set({ status: 'scheduled', published_at: new Date(), workflow_id: campaignWorkflowId(campaignId), updated_at: new Date() })
      .where('id', '=', campaignId)
      .where('status', '=', 'draft')
      .execute();
  }
  await deps.workflows.start({ id: campaignId, title: campaign.title, creatorId: campaign.creator_id, model: campaign.model, endsAt: campaign.ends_at });
  const current = await db.selectFrom('campaigns').select('status').where('id', '=', campaignId).executeTakeFirstOrThrow();
  return { status: current.status, workflowId: campaignWorkflowId(campaignId) };
}
