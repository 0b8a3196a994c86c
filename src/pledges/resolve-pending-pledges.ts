/**
 * The sweep behind placement and cancellation: pledges a crash or an unreachable Stripe left half-done are finished
 * by asking Stripe again. Run periodically by the worker.
 */
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { releaseCancelledHolds } from './cancel-pledge';
import { failPlacement } from './placement-outcome';
import { askStripe, ensureCustomer, retrieveWithCharge } from './placement-request';

/** Stripe keeps an idempotency key for 24 h: a placement older than this is looked up before it is asked again. */
const KEY_LOOKUP_AGE_MS = 23 * 3_600_000;

/**
 * Pledges left `pending` (a crash, or Stripe unreachable, between the row and Stripe's answer) are resolved by
 * asking Stripe again with the same request and key: Stripe replays what it did, or does it now. Past the key's
 * lifetime Stripe would do it again, so an older placement's PaymentIntent is looked up by its metadata first.
 * Card errors fail the pledge and free its reward unit. Cancelled pledges whose holds Stripe did not hear released
 * are released too. Returns how many pledges it settled or released.
 */
export async function resolvePendingPledges(deps: { database: AppDatabase; stripe: Stripe }, options: { olderThanMs: number; limit?: number }): Promise<number> {
  const { database, stripe } = deps;
  const pending = await database.db
    .selectFrom('pledges')
    .selectAll()
    .where('status', '=', 'pending')
    .where('placement', 'is not', null)
    .where('created_at', '<', new Date(Date.now() - options.olderThanMs))
    .orderBy('created_at')
    .limit(options.limit ?? 100)
    .execute();
  let resolved = 0;
  for (const pledge of pending) {
    const campaign = await database.db.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
    const backer = await database.db.selectFrom('users').selectAll().where('id', '=', pledge.backer_id).executeTakeFirstOrThrow();
    try {
      // The customer too is asked for again: placement may have made it on Stripe and then lost the database.
      const customerId = await ensureCustomer(database, stripe, backer);
      const keyMayHaveExpired = Date.now() - pledge.created_at.getTime() > KEY_LOOKUP_AGE_MS;
      await askStripe(database, stripe, campaign, pledge, customerId, keyMayHaveExpired ? { findEarlierIntent: () => findPlacementIntent(stripe, customerId, pledge.id) } : {});
      resolved++;
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError) {
        await failPlacement(database, pledge, error);
        resolved++;
      }
      // Stripe or Postgres still unreachable: try again on the next sweep.
    }
  }
  return resolved + (await releaseCancelledHolds(deps, options));
}

/**
 * The placement's PaymentIntent if Stripe has one, found by its metadata (a change's carries a `revision`, a
 * settlement charge's an `attempt`). Listing by customer is strongly consistent (search is not), and a backer has
 * few PaymentIntents.
 */
async function findPlacementIntent(stripe: Stripe, customerId: string, pledgeId: string): Promise<Stripe.PaymentIntent | undefined> {
  for await (const intent of stripe.paymentIntents.list({ customer: customerId, limit: 100 })) {
    if (intent.metadata.pledge_id === pledgeId && intent.metadata.revision === undefined && intent.metadata.attempt === undefined) return retrieveWithCharge(stripe, intent.id);
  }
  return undefined;
}
