/**
 * Support staff's tools: refunds, full or partial, carried out by the campaign's workflow, with a required
 * Idempotency-Key (as pledge placement has).
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { text } from '../../campaigns/schemas';
import { toMinorUnits } from '../../money';
import { requestRefund } from '../../refunds/request-refund';
import { type ApiContext, requireRole, requireWorkflows } from '../context';
import { conflict, invalidField, notFound } from '../errors';
import { idempotent } from '../idempotency';

export const pledgeIdParams = z.object({ id: z.uuid() });
export const refundBody = z.object({
  amount: z.string().optional(),
  reason: text().trim().min(3).max(500),
});

export function supportRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();

  // Staff only, checked before the key is claimed: anyone else is told 403, whatever they send.
  const supportOnly: RequestHandler = (_req, res, next) => {
    requireRole(res, 'support');
    next();
  };

  router.post('/pledges/:id/refunds', supportOnly, idempotent(context), async (req, res) => {
    const staff = requireRole(res, 'support');
    const { id } = pledgeIdParams.parse(req.params);
    const body = refundBody.parse(req.body);
    const workflows = requireWorkflows(context);
    const pledge = await db.selectFrom('pledges').select(['currency']).where('id', '=', id).executeTakeFirst();
    if (!pledge) throw notFound('Pledge');
    let amount: number | undefined;
    if (body.amount !== undefined) {
      try {
        amount = toMinorUnits(body.amount, pledge.currency);
      } catch (error) {
        throw invalidField('amount', (error as Error).message);
      }
    }
    const { refund, campaignId } = await requestRefund(context.database, {
      pledgeId: id,
      ...(amount === undefined ? {} : { amount }),
      reason: body.reason,
      requestedBy: staff.id,
      // Checked by `idempotent`. A retry that takes over the key of a request that died finds that request's refund.
      requestKey: `${staff.id}:${String(req.headers['idempotency-key'])}`,
    });
    // A refund found done (or failed) by such a retry needs no workflow; one still requested may never have reached it.
    if (refund.status !== 'requested') {
      res.status(202).json({ refundId: refund.id, status: refund.status });
      return;
    }
    try {
      await workflows.refund(campaignId, refund.id);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      // The campaign's workflow has closed with its refund window: nothing would carry the refund out, and a row
      // left `requested` would count against what can be refunded. It stays, failed, as the record of the request.
      await db
        .updateTable('refunds')
        .set({ status: 'failed', failure_message: 'refund window closed', completed_at: new Date() })
        .where('id', '=', refund.id)
        .where('status', '=', 'requested')
        .execute();
      throw conflict('refund_window_closed', 'This campaign no longer takes refunds: its refund window has closed');
    }
    res.status(202).json({ refundId: refund.id, status: refund.status });
  });

  return router;
}
