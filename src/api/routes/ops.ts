/** Ops staff's view of a campaign's workflow, its reconciliation, and the retry button for errored settlements. */
import { Router } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { type ApiContext, requireRole, requireWorkflows } from '../context';
import { notFound } from '../../errors';
import { reconcileCampaign } from '../../reconciliation/reconcile';
import { reconciliationView } from '../../reconciliation/report';
import { campaignIdParams } from './campaign-lifecycle';

export function opsRoutes(context: ApiContext): Router {
  const router = Router();

  router.get('/campaigns/:id', async (req, res) => {
    requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    const workflows = requireWorkflows(context);
    try {
      const { state, execution } = await workflows.state(id);
      res.json({
        state,
        workflow: {
          workflowId: execution.workflowId,
          runId: execution.runId,
          status: execution.status.name,
          startTime: execution.startTime.toISOString(),
          historyLength: execution.historyLength,
          searchAttributes: Object.fromEntries(execution.typedSearchAttributes.getAll().map((pair) => [pair.key.name, pair.value])),
        },
      });
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw notFound('Campaign workflow');
      throw error;
    }
  });

  /** The same proof as `npm run reconcile`; Stripe's side is checked when Stripe is configured. */
  router.get('/campaigns/:id/reconciliation', async (req, res) => {
    requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    const campaign = await context.database.db.selectFrom('campaigns').select('id').where('id', '=', id).executeTakeFirst();
    if (!campaign) throw notFound('Campaign');
    res.json(reconciliationView(await reconcileCampaign(context.database.db, id, context.stripe)));
  });

  router.post('/campaigns/:id/retry-settlement', async (req, res) => {
    requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    const workflows = requireWorkflows(context);
    try {
      await workflows.retrySettlement(id);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw notFound('Campaign workflow');
      throw error;
    }
    res.status(202).json({ status: 'retrying' });
  });

  return router;
}
