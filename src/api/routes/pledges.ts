/**
 * The backer's own pledges. Today: saving a new card for a pledge whose charge failed, which wakes its settlement
 * (placement, changes and cancellation are the pledge API's).
 */
import { Router } from 'express';
import Stripe from 'stripe';
import { z } from 'zod';
import { type ApiContext, requireStripe, requireUser, requireWorkflows } from '../context';
import { ApiError, conflict, forbidden, notFound } from '../errors';

export const pledgeIdParams = z.object({ id: z.uuid() });
export const paymentMethodBody = z.object({ paymentMethodId: z.string().regex(/^pm_\w+$/, 'must be a Stripe PaymentMethod id (pm_...)') });

export function pledgeRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();

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
