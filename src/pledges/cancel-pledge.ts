/**
 * A backer withdraws a pledge before pledging closes. The pledge row decides, under the campaign lock that closing
 * pledging also takes: it is marked cancelled (its reward unit freed) in one transaction, so the deadline's tally
 * either counted it before (and the cancel is refused as a conflict) or never counts it. Only then is Stripe told to let go of the
 * hold; if Stripe does not hear it, the pledge is cancelled all the same (settlement never charges a cancelled
 * pledge) and the pending-pledge sweep releases the hold later. A saved card simply stops being charged; a
 * keep-it-all charge is refunded in full through the campaign's workflow (its refund terms promise no less before
 * the deadline).
 */
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Pledge } from '../../db/schema';
import { conflict, forbidden, notFound } from '../errors';
import { stripeKeys } from '../payments/idempotency-keys';
import { sendRefundToWorkflow } from '../refunds/refund-pledge';
import { requestRefund } from '../refunds/request-refund';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';
import { lockPledge, pledgingClosed } from './pledge-lock';
import { releaseRewardUnit } from './reward-units';

export type CancelOutcome = { status: 'cancelled' } | { status: 'refunding'; refundId: string };

export async function cancelPledge(
  deps: { database: AppDatabase; stripe: Stripe; workflows?: CampaignWorkflows },
  pledgeId: string,
  backerId: string,
): Promise<CancelOutcome> {
  const { database } = deps;
  const found = await database.db.selectFrom('pledges').select(['id', 'backer_id', 'campaign_id']).where('id', '=', pledgeId).executeTakeFirst();
  if (!found) throw notFound('Pledge');
  if (found.backer_id !== backerId) throw forbidden('Only the backer can cancel this pledge');

  const pledge = await database.transaction(async (trx) => {
    const { pledge, pledgingOpen } = await lockPledge(trx, found);
    if (!pledgingOpen) throw pledgingClosed('cancelled');
    if (pledge.status === 'captured') return pledge;
    // Stripe has not answered the placement yet: what it did is unknown (a keep-it-all charge may have gone
    // through), so the sweep resolves it first.
    if (pledge.status === 'pending') throw conflict('pledge_processing', 'This pledge’s payment is still being processed; try again in a minute');
    if (pledge.status !== 'requires_action' && pledge.status !== 'authorized') throw conflict('pledge_not_cancellable', `A ${pledge.status} pledge cannot be cancelled`);
    const cancelled = await trx
      .updateTable('pledges')
      .set({ status: 'cancelled', cancelled_at: new Date(), updated_at: new Date(), hold_release_pending: holdsOf(pledge).length > 0 })
      .where('id', '=', pledge.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (pledge.reward_id) await releaseRewardUnit(trx, pledge.reward_id);
    // A change waiting for 3-D Secure holds a unit of the reward it moves to.
    if (pledge.pending_payment_intent_id && pledge.pending_reward_id && pledge.pending_reward_id !== pledge.reward_id) await releaseRewardUnit(trx, pledge.pending_reward_id);
    return cancelled;
  });

  if (pledge.status === 'captured') {
    if (!deps.workflows) throw conflict('refunds_unavailable', 'Refunds are not configured on this server');
    const { refund } = await requestRefund(database, { pledgeId: pledge.id, reason: 'backer_cancelled', requestedBy: backerId });
    await sendRefundToWorkflow({ database, workflows: deps.workflows }, pledge.campaign_id, refund.id);
    return { status: 'refunding', refundId: refund.id };
  }
  // The answer is the pledge row's: cancelled. A hold Stripe did not hear about is left to the sweep.
  await releaseHolds(deps, pledge).catch(() => undefined);
  return { status: 'cancelled' };
}

/** The PaymentIntents that may hold the backer's card: the pledge's hold and a change's hold awaiting 3-D Secure. */
function holdsOf(pledge: Pledge): string[] {
  return [pledge.payment_intent_id, pledge.pending_payment_intent_id].filter((id): id is string => id !== null);
}

/** Cancels a cancelled pledge's holds on Stripe, each under its own key, and records that none is left. */
async function releaseHolds(deps: { database: AppDatabase; stripe: Stripe }, pledge: Pledge): Promise<void> {
  for (const intentId of holdsOf(pledge)) await cancelHold(deps.stripe, pledge.id, intentId);
  await deps.database.db.updateTable('pledges').set({ hold_release_pending: false }).where('id', '=', pledge.id).where('status', '=', 'cancelled').execute();
}

async function cancelHold(stripe: Stripe, pledgeId: string, intentId: string): Promise<void> {
  try {
    await stripe.paymentIntents.cancel(intentId, { cancellation_reason: 'requested_by_customer' }, { idempotencyKey: stripeKeys.pledgeRelease(pledgeId, intentId) });
  } catch (error) {
    // Not cancellable any more, or cancelled under this key by another path (a failed challenge, with its own
    // reason): Stripe's intent says whether anything is still held.
    const cannotCancel = error instanceof Stripe.errors.StripeIdempotencyError || (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'payment_intent_unexpected_state');
    if (!cannotCancel) throw error;
    const intent = await stripe.paymentIntents.retrieve(intentId);
    if (intent.status !== 'canceled') throw new Error(`PaymentIntent ${intentId} of cancelled pledge ${pledgeId} is ${intent.status}`, { cause: error });
  }
}

/**
 * Releases the holds of cancelled pledges whose cancellation did not reach Stripe (part of the pending-pledge
 * sweep). Returns how many pledges it released; one that Stripe still does not answer waits for the next sweep.
 */
export async function releaseCancelledHolds(deps: { database: AppDatabase; stripe: Stripe }, options: { olderThanMs: number; limit?: number }): Promise<number> {
  const cancelled = await deps.database.db
    .selectFrom('pledges')
    .selectAll()
    .where('hold_release_pending', '=', true)
    .where('status', '=', 'cancelled')
    .where('cancelled_at', '<', new Date(Date.now() - options.olderThanMs))
    .orderBy('cancelled_at')
    .limit(options.limit ?? 100)
    .execute();
  let released = 0;
  for (const pledge of cancelled) {
    try {
      await releaseHolds(deps, pledge);
      released++;
    } catch {
      // Stripe or Postgres unreachable: the next sweep tries again.
    }
  }
  return released;
}
