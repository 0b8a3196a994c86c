/**
 * The backer's new card for a pledge whose settlement charge failed: attached to their Stripe customer, saved on the
 * pledge, and the pledge's settlement child told, so it charges the new card within the grace window.
 */
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type User } from '../../db/schema';
import { conflict, DomainError, forbidden, notFound } from '../errors';
import { type Config } from '../config';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';
import { claimCardAttempt, recordCardOutcome } from './card-velocity';

export async function updatePaymentMethod(
  deps: { database: AppDatabase; stripe: Stripe; workflows: CampaignWorkflows; config: Config },
  pledgeId: string,
  backer: User,
  paymentMethodId: string,
  ip?: string,
): Promise<{ pledgeId: string; paymentMethodId: string }> {
  const db = deps.database.db;
  const pledge = await db.selectFrom('pledges').selectAll().where('id', '=', pledgeId).executeTakeFirst();
  if (!pledge) throw notFound('Pledge');
  if (pledge.backer_id !== backer.id) throw forbidden('Only the backer can change this pledge’s card');
  if (pledge.status !== 'errored') throw conflict('pledge_not_errored', `Only a pledge whose payment failed needs a new card; this one is ${pledge.status}`);
  if (pledge.grace_ends_at && pledge.grace_ends_at.getTime() <= Date.now()) throw conflict('grace_window_closed', 'The time to fix this payment has passed');
  if (!backer.stripe_customer_id) throw conflict('no_customer', 'The backer has no Stripe customer');
  // A new card is a card put to Stripe, as a placement is: the same velocity limits, counted before Stripe is asked.
  const attemptId = await claimCardAttempt(deps, { action: 'payment_method', backer, ip, paymentMethodId });
  let attached: Stripe.PaymentMethod;
  try {
    attached = await deps.stripe.paymentMethods.attach(paymentMethodId, { customer: backer.stripe_customer_id });
  } catch (error) {
    const refused = error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError;
    // Best effort: an outcome not written leaves the attempt counted as a decline, the safe side.
    await recordCardOutcome(deps.database, attemptId, refused ? 'declined' : 'unanswered').catch(() => undefined);
    if (error instanceof Stripe.errors.StripeCardError) throw new DomainError('payment_declined', error.code ?? 'card_declined', error.message);
    if (error instanceof Stripe.errors.StripeInvalidRequestError) {
      throw new DomainError('invalid', 'invalid_payment_method', error.message, { fields: [{ path: 'paymentMethodId', message: error.message }] });
    }
    throw error;
  }
  await recordCardOutcome(deps.database, attemptId, 'succeeded').catch(() => undefined);
  await db.updateTable('pledges').set({ payment_method_id: attached.id, updated_at: new Date() }).where('id', '=', pledge.id).where('status', '=', 'errored').execute();
  await deps.workflows.paymentMethodUpdated(pledge.campaign_id, pledge.id);
  return { pledgeId: pledge.id, paymentMethodId: attached.id };
}
