/**
 * Support staff's tools: refunds, full or partial, carried out by the campaign's workflow, with a required
 * Idempotency-Key (as pledge placement has).
 */
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { text } from '../../campaigns/schemas';
import { staffActor } from '../../audit/staff-audit';
import { refundPledge } from '../../refunds/refund-pledge';
import { type ApiContext, requireRole, requireWorkflows } from '../context';
import { idempotent } from '../idempotency';
import { requestIdOf } from '../request-id';

export const pledgeIdParams = z.object({ id: z.uuid() });
export const refundBody = z.strictObject({
  amount: z.string().optional(),
  reason: text().trim().min(3).max(500),
});

export function supportRoutes(context: ApiContext): Router {
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
    const refund = await refundPledge(
      { database: context.database, workflows: requireWorkflows(context) },
      {
        pledgeId: id,
        amount: body.amount,
        reason: body.reason,
        requestedBy: staff.id,
        // Checked by `idempotent`.
        requestKey: `${staff.id}:${String(req.headers['idempotency-key'])}`,
        audit: { actor: staffActor(staff), requestId: requestIdOf(res) },
      },
    );
    res.status(202).json({ refundId: refund.id, status: refund.status });
  });

  return router;
}
