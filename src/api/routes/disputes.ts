/**
 * `/api/support/disputes`: support staff's queue of chargebacks, evidence sent to Stripe, and accepting a loss. The
 * two writes take a required Idempotency-Key (as support refunds do); the role is checked before anything else.
 */
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { OPEN_DISPUTE_STATUSES } from '../../../db/schema';
import { text } from '../../campaigns/schemas';
import { staffActor } from '../../audit/staff-audit';
import { acceptDispute, listDisputes, submitEvidence } from '../../disputes/support-disputes';
import { type ApiContext, requireRole, requireStripe } from '../context';
import { idempotent } from '../idempotency';
import { requestIdOf } from '../request-id';

export const disputeIdParams = z.object({ id: z.uuid() });

const STATUSES = [...OPEN_DISPUTE_STATUSES, 'warning_closed', 'won', 'lost', 'prevented'] as const;
export const disputeListQuery = z.object({
  status: z.enum(['open', 'closed', 'all', ...STATUSES]).default('open'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Stripe's evidence fields that take text (the others take uploaded files); Stripe allows 20,000 characters each. */
const evidenceText = text().trim().min(1).max(20_000).optional();
export const evidenceBody = z.strictObject({
  evidence: z
    .strictObject({
      uncategorized_text: evidenceText,
      product_description: evidenceText,
      customer_name: evidenceText,
      customer_email_address: evidenceText,
      customer_purchase_ip: evidenceText,
      billing_address: evidenceText,
      access_activity_log: evidenceText,
      service_date: evidenceText,
      shipping_address: evidenceText,
      shipping_carrier: evidenceText,
      shipping_date: evidenceText,
      shipping_tracking_number: evidenceText,
      cancellation_policy_disclosure: evidenceText,
      cancellation_rebuttal: evidenceText,
      refund_policy_disclosure: evidenceText,
      refund_refusal_explanation: evidenceText,
      duplicate_charge_explanation: evidenceText,
    })
    .refine((evidence) => Object.values(evidence).some((value) => value !== undefined), 'name at least one evidence field'),
  /** Submit for the issuer to decide now (default), or only stage it. */
  submit: z.boolean().default(true),
});

export function disputeRoutes(context: ApiContext): Router {
  const router = Router();
  const deps = () => ({ database: context.database, stripe: requireStripe(context), recovery: context.config.disputes.recovery });

  // Staff only, checked before the key is claimed and the body read: anyone else is told 403, whatever they send.
  const supportOnly: RequestHandler = (_req, res, next) => {
    requireRole(res, 'support');
    next();
  };

  router.get('/', supportOnly, async (req, res) => {
    const query = disputeListQuery.parse(req.query);
    res.json({ disputes: await listDisputes({ database: context.database }, query) });
  });

  router.post('/:id/evidence', supportOnly, idempotent(context), async (req, res) => {
    const { id } = disputeIdParams.parse(req.params);
    const body = evidenceBody.parse(req.body);
    const evidence = Object.fromEntries(Object.entries(body.evidence).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const audit = { actor: staffActor(requireRole(res, 'support')), requestId: requestIdOf(res) };
    res.json({ dispute: await submitEvidence(deps(), { disputeId: id, evidence, submit: body.submit, audit }) });
  });

  router.post('/:id/accept', supportOnly, idempotent(context), async (req, res) => {
    const { id } = disputeIdParams.parse(req.params);
    const audit = { actor: staffActor(requireRole(res, 'support')), requestId: requestIdOf(res) };
    res.json({ dispute: await acceptDispute(deps(), { disputeId: id, audit }) });
  });

  return router;
}
