/**
 * Publishing and cancelling a campaign (src/campaigns/publish-campaign.ts, cancel-campaign.ts): the decision is
 * recorded and handed to the campaign's workflow, which owns everything after (deadline, settlement, payout).
 */
import { Router } from 'express';
import { z } from 'zod';
import { cancelCampaign } from '../../campaigns/cancel-campaign';
import { publishCampaign } from '../../campaigns/publish-campaign';
import { text } from '../../campaigns/schemas';
import { type ApiContext, requireUser, requireVerifiedUser, requireWorkflows } from '../context';
import { requestIdOf } from '../request-id';

export const campaignIdParams = z.object({ id: z.uuid() });
export const cancelCampaignBody = z.strictObject({ reason: text().trim().min(3).max(500) });

export function campaignLifecycleRoutes(context: ApiContext): Router {
  const router = Router();

  // Verified accounts only: a campaign takes money in the creator's name, which must be a mailbox they read.
  router.post('/:id/publish', async (req, res) => {
    const user = requireVerifiedUser(res);
    const { id } = campaignIdParams.parse(req.params);
    const published = await publishCampaign({ database: context.database, workflows: requireWorkflows(context) }, id, user);
    res.status(202).json({ status: published.status, workflowId: published.workflowId });
  });

  router.post('/:id/cancel', async (req, res) => {
    const user = requireUser(res);
    const { id } = campaignIdParams.parse(req.params);
    const { reason } = cancelCampaignBody.parse(req.body);
    const { workflowId } = await cancelCampaign({ database: context.database, workflows: requireWorkflows(context) }, id, user, reason, requestIdOf(res));
    res.status(202).json({ status: 'cancelling', workflowId });
  });

  return router;
}
