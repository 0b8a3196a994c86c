/**
 * The pledge API: placement (with a required Idempotency-Key), changes, cancellation, and a new card for a pledge
 * whose charge failed, which wakes its settlement. The use cases are in src/pledges/.
 */
import { Router } from 'express';
import { z } from 'zod';
import { fromMinorUnits } from '../../money';
import { cancelPledge } from '../../pledges/cancel-pledge';
import { changePledge } from '../../pledges/change-pledge';
import { placePledge } from '../../pledges/place-pledge';
import { updatePaymentMethod } from '../../pledges/update-payment-method';
import { type ApiContext, requireStripe, requireUser, requireVerifiedUser, requireWorkflows, verifiedUserOnly } from '../context';
import { idempotent } from '../idempotency';

export const pledgeIdParams = z.object({ id: z.uuid() });
export const placePledgeBody = z.strictObject({
  amount: z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'must be a decimal amount such as "25.00"'),
  rewardId: z.uuid().optional(),
  paymentMethodId: z.string().regex(/^pm_\w+$/, 'must be a Stripe PaymentMethod id (pm_...)'),
});

/**
 * `POST /api/campaigns/:id/pledges` (mounted under /api/campaigns), with a required Idempotency-Key. Verified
 * accounts only, checked before the key is claimed: a refusal stored under the key would be replayed after the
 * backer has confirmed their address.
 */
export function campaignPledgeRoutes(context: ApiContext): Router {
  const router = Router();
  router.post('/:id/pledges', verifiedUserOnly, idempotent(context), async (req, res) => {
    const backer = requireVerifiedUser(res);
    const { id } = pledgeIdParams.parse(req.params);
    const body = placePledgeBody.parse(req.body);
    const stripe = requireStripe(context);
    const { pledge, nextAction } = await placePledge(
      { database: context.database, stripe, config: context.config },
      { campaignId: id, backer, amount: body.amount, paymentMethodId: body.paymentMethodId, ip: req.ip, ...(body.rewardId ? { rewardId: body.rewardId } : {}) },
    );
    res.status(201).json({
      id: pledge.id,
      status: pledge.status,
      amount: fromMinorUnits(pledge.amount, pledge.currency),
      currency: pledge.currency,
      reward: pledge.reward_id,
      ...(nextAction ? { nextAction } : {}),
    });
  });
  return router;
}
export const changePledgeBody = z
  .strictObject({
    amount: z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'must be a decimal amount such as "25.00"').optional(),
    rewardId: z.uuid().nullable().optional(),
  })
  .refine((body) => body.amount !== undefined || body.rewardId !== undefined, 'give amount or rewardId');
export const paymentMethodBody = z.strictObject({ paymentMethodId: z.string().regex(/^pm_\w+$/, 'must be a Stripe PaymentMethod id (pm_...)') });

export function pledgeRoutes(context: ApiContext): Router {
  const router = Router();

  // A change re-authorizes the card for the new amount: a placement in all but name, so verified accounts only.
  router.patch('/:id', async (req, res) => {
    const user = requireVerifiedUser(res);
    const { id } = pledgeIdParams.parse(req.params);
    const body = changePledgeBody.parse(req.body);
    const { pledge, nextAction } = await changePledge({ database: context.database, stripe: requireStripe(context) }, id, user.id, body);
    // A change that needs 3-D Secure: the pledge stays as it was until the backer completes it, as on placement.
    const pendingChange = pledge.pending_amount === null ? {} : { pendingChange: { amount: fromMinorUnits(pledge.pending_amount, pledge.currency), reward: pledge.pending_reward_id } };
    res.json({
      id: pledge.id,
      status: pledge.status,
      amount: fromMinorUnits(pledge.amount, pledge.currency),
      currency: pledge.currency,
      reward: pledge.reward_id,
      ...pendingChange,
      ...(nextAction ? { nextAction } : {}),
    });
  });

  router.delete('/:id', async (req, res) => {
    const user = requireUser(res);
    const { id } = pledgeIdParams.parse(req.params);
    const outcome = await cancelPledge(
      { database: context.database, stripe: requireStripe(context), ...(context.campaignWorkflows ? { workflows: context.campaignWorkflows } : {}) },
      id,
      user.id,
    );
    res.status(outcome.status === 'cancelled' ? 200 : 202).json({ id, ...outcome });
  });

  router.post('/:id/payment-method', async (req, res) => {
    const user = requireUser(res);
    const { id } = pledgeIdParams.parse(req.params);
    const { paymentMethodId } = paymentMethodBody.parse(req.body);
    const updated = await updatePaymentMethod(
      { database: context.database, stripe: requireStripe(context), workflows: requireWorkflows(context), config: context.config },
      id,
      user,
      paymentMethodId,
      req.ip,
    );
    res.status(202).json({ id: updated.pledgeId, status: 'retrying', paymentMethodId: updated.paymentMethodId });
  });

  return router;
}
