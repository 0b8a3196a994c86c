/**
 * The backer's own pledges. Today: saving a new card for a pledge whose charge failed, which wakes its settlement
 * (placement, changes and cancellation are the pledge API's).
 */
import { Router } from 'express';
import Stripe from 'stripe';
import { z } from 'zod';
import { fromMinorUnits } from '../../money';
import { cancelPledge } from '../../pledges/cancel-pledge';
import { changePledge } from '../../pledges/change-pledge';
import { placePledge } from '../../pledges/place-pledge';
import { type ApiContext, requireStripe, requireUser, requireWorkflows } from '../context';
import { idempotent } from '../idempotency';
import { ApiError, conflict, forbidden, notFound } from '../errors';

export const pledgeIdParams = z.object({ id: z.uuid() });
export const placePledgeBody = z.object({
  amount: z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'must be a decimal amount such as "25.00"'),
  rewardId: z.uuid().optional(),
  paymentMethodId: z.string().regex(/^pm_\w+$/, 'must be a Stripe PaymentMethod id (pm_...)'),
});

/** `POST /api/campaigns/:id/pledges` (mounted under /api/campaigns), with a required Idempotency-Key. */
export function campaignPledgeRoutes(context: ApiContext): Router {
  const router = Router();
  router.post('/:id/pledges', idempotent(context), async (req, res) => {
    const backer = requireUser(res);
    const { id } = pledgeIdParams.parse(req.params);
    const body = placePledgeBody.parse(req.body);
    const stripe = requireStripe(context);
    const { pledge, nextAction } = await placePledge(
      { database: context.database, stripe, config: context.config },
      { campaignId: id, backer, amount: body.amount, paymentMethodId: body.paymentMethodId, ...(body.rewardId ? { rewardId: body.rewardId } : {}) },
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
  .object({
    amount: z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'must be a decimal amount such as "25.00"').optional(),
    rewardId: z.uuid().nullable().optional(),
  })
  .refine((body) => body.amount !== undefined || body.rewardId !== undefined, 'give amount or rewardId');
export const paymentMethodBody = z.object({ paymentMethodId: z.string().regex(/^pm_\w+$/, 'must be a Stripe PaymentMethod id (pm_...)') });

export function pledgeRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();

  router.patch('/:id', async (req, res) => {
    const user = requireUser(res);
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
    const stripe = requireStripe(context);
    const workflows = requireWorkflows(context);
    const pledge = await db.selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirst();
    if (!pledge) throw notFound('Pledge');
    if (pledge.backer_id !== user.id) throw forbidden('Only the backer can change this pledge’s card');
    if (pledge.status !== 'errored') throw conflict('pledge_not_errored', `Only a pledge whose payment failed needs a new card; this one is ${pledge.status}`);
    if (pledge.grace_ends_at && pledge.grace_ends_at.getTime() <= Date.now()) throw conflict('grace_window_closed', 'The time to fix this payment has passed');
    if (!user.stripe_customer_id) throw conflict('no_customer', 'The backer has no Stripe customer');
    let attached: Stripe.PaymentMethod;
    try {
      attached = await stripe.paymentMethods.attach(paymentMethodId, { customer: user.stripe_customer_id });
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError) throw new ApiError(402, error.code ?? 'card_declined', error.message);
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        throw new ApiError(400, 'invalid_payment_method', error.message, [{ path: 'paymentMethodId', message: error.message }]);
      }
      throw error;
    }
    await db.updateTable('pledges').set({ payment_method_id: attached.id, updated_at: new Date() }).where('id', '=', pledge.id).where('status', '=', 'errored').execute();
    await workflows.paymentMethodUpdated(pledge.campaign_id, pledge.id);
    res.status(202).json({ id: pledge.id, status: 'retrying', paymentMethodId: attached.id });
  });

  return router;
}
