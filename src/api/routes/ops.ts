/** Ops staff's view of a campaign's workflow, and the retry button for errored settlements. */
import { Router } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { type ApiContext, requireRole, requireWorkflows } from '../context';
import { notFound } from '../errors';
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
