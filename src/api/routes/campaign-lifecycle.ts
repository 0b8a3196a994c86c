/**
 * Publishing and cancelling a campaign: the API records the decision and hands the campaign to its workflow,
 * which owns everything after (deadline, settlement, payout).
 */
import { Router } from 'express';
import { z } from 'zod';
import { text } from '../../campaigns/schemas';
import { type ApiContext, requireUser, requireWorkflows } from '../context';
import { conflict, forbidden, notFound, unprocessable } from '../errors';
import { campaignWorkflowId } from '../../../workflows/messages';

export const campaignIdParams = z.object({ id: z.uuid() });
export const cancelCampaignBody = z.object({ reason: text().trim().min(3).max(500) });

export function campaignLifecycleRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();

  router.post('/:id/publish', async (req, res) => {
    const user = requireUser(res);
    const { id } = campaignIdParams.parse(req.params);
    const workflows = requireWorkflows(context);
    const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
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
        .set({ status: 'scheduled', published_at: new Date(), workflow_id: campaignWorkflowId(id), updated_at: new Date() })
        .where('id', '=', id)
        .where('status', '=', 'draft')
        .execute();
    }
    await workflows.start({ id, title: campaign.title, creatorId: campaign.creator_id, model: campaign.model, endsAt: campaign.ends_at });
    const current = await db.selectFrom('campaigns').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    res.status(202).json({ status: current.status, workflowId: campaignWorkflowId(id) });
  });

  router.post('/:id/cancel', async (req, res) => {
    const user = requireUser(res);
    const { id } = campaignIdParams.parse(req.params);
    const { reason } = cancelCampaignBody.parse(req.body);
    const workflows = requireWorkflows(context);
    const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
    if (!campaign) throw notFound('Campaign');
    if (campaign.creator_id !== user.id && user.role !== 'ops') throw forbidden('Only the creator or ops can cancel this campaign');
    if (campaign.status !== 'scheduled' && campaign.status !== 'active') {
      throw conflict('campaign_not_cancellable', `A ${campaign.status} campaign cannot be cancelled`);
    }
    if (campaign.ends_at.getTime() <= Date.now()) throw conflict('campaign_not_cancellable', 'The deadline has passed');
    await workflows.cancel(id, reason, user.id);
    res.status(202).json({ status: 'cancelling', workflowId: campaignWorkflowId(id) });
  });

  return router;
}
