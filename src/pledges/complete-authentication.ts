/**
 * A pledge placed while the backer had to pass 3-D Secure learns how it ended from Stripe's webhook, and is held,
 * charged, saved or failed accordingly. A change of amount waiting for 3-D Secure is completed through the same door.
 */
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Pledge } from '../../db/schema';
import { stripeKeys } from '../payments/idempotency-keys';
import { completePendingChange } from './change-pledge';
import { collectedPayment, failPlacement, heldOrSaved, type PlacementMovement, releaseUnusedHold, settlePlacement } from './placement-outcome';
import { retrieveWithCharge } from './placement-request';

/** Pledges still waiting to learn how the backer's 3-D Secure challenge (or the placement request) turned out. */
const AWAITING_AUTHENTICATION: Array<'pending' | 'requires_action'> = ['pending', 'requires_action'];
const isAwaitingAuthentication = (status: Pledge['status']) => (AWAITING_AUTHENTICATION as string[]).includes(status);

/**
 * A pledge that waited for 3-D Secure learns the outcome from Stripe's webhook. The event is only a prompt to look:
 * Stripe delivers events late, twice and in any order, each carrying the intent as it was when the event was
 * created, so acting on the event's type or copy would let the `payment_failed` of a first, failed challenge fail a
 * pledge whose retried challenge then succeeded. The pledge follows the intent as Stripe has it now (one retrieve,
 * made only while the pledge is still waiting), so a duplicate, stale or reordered event does nothing.
 */
export async function completeAuthentication(deps: { database: AppDatabase; stripe: Stripe }, event: Stripe.Event): Promise<void> {
  const { id } = event.data.object as { id: string };
  await syncAuthentication(deps, event.type.startsWith('setup_intent.') ? { setupIntentId: id } : { paymentIntentId: id });
}

/** Brings a pledge waiting for 3-D Secure up to date with its intent as Stripe has it now. */
export async function syncAuthentication(
  deps: { database: AppDatabase; stripe: Stripe },
  intent: { paymentIntentId: string } | { setupIntentId: string },
): Promise<void> {
  const { database, stripe } = deps;
  const db = database.db;
  const pledge = await ('setupIntentId' in intent
    ? db.selectFrom('pledges').selectAll().where('setup_intent_id', '=', intent.setupIntentId)
    : db.selectFrom('pledges').selectAll().where('payment_intent_id', '=', intent.paymentIntentId)
  ).executeTakeFirst();
  // No pledge's hold: perhaps a change of amount waiting for the backer's 3-D Secure.
  if (!pledge && 'paymentIntentId' in intent) return completePendingChange(deps, intent.paymentIntentId);
  if (!pledge || !isAwaitingAuthentication(pledge.status)) return;
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
  // Two deliveries at once both find the pledge waiting; settlePlacement's guarded update lets one of them settle it.
  const settle = async (changes: Record<string, unknown>, movements?: PlacementMovement[]) => {
    await settlePlacement(database, campaign, pledge, changes, movements);
  };

  if ('setupIntentId' in intent) {
    const setup = await stripe.setupIntents.retrieve(intent.setupIntentId);
    if (setup.status === 'succeeded') return settle({ status: 'authorized', payment_method_id: setup.payment_method as string });
    if (setup.status === 'requires_payment_method' || setup.status === 'canceled') return failAuthentication(database, pledge, setup.last_setup_error);
    return; // still with the backer: a later event will say how it ended
  }

  let payment: Stripe.PaymentIntent = await retrieveWithCharge(stripe, intent.paymentIntentId);
  const failure = payment.last_payment_error;
  if (payment.status === 'requires_payment_method') payment = await cancelFailedIntent(stripe, pledge.id, payment.id);
  switch (payment.status) {
    case 'succeeded': {
      const { changes, movements } = collectedPayment(payment, payment.amount_received);
      return settle(changes, movements);
    }
    case 'requires_capture': {
      // As at placement: a hold that lapses before the deadline is released, and the saved card charged then.
      const held = heldOrSaved(payment, campaign.ends_at);
      await settle({ status: 'authorized', ...held });
      if (!held.payment_intent_id) await releaseUnusedHold(stripe, pledge.id, payment.id);
      return;
    }
    case 'canceled': {
      const charge = payment.latest_charge as Stripe.Charge | null;
      if (payment.cancellation_reason === 'automatic' && charge?.status === 'succeeded') {
        // Authorized, then lapsed before we heard of it: the backer did authenticate and the card was saved for
        // off-session use, so settlement charges it as it does any hold that lapsed.
        return settle({ status: 'authorized', payment_method_id: payment.payment_method as string, hold_expires_at: new Date(payment.canceled_at! * 1000) });
      }
      return failAuthentication(database, pledge, failure ?? payment.last_payment_error);
    }
    default:
      return; // still with the backer: a later event will say how it ended
  }
}

/**
 * A failed challenge leaves the intent open to another try with its client secret. The pledge is about to fail and
 * free its reward unit, so the intent is cancelled first: otherwise a retry that later succeeded would take money
 * for a pledge that no longer exists. If a retry won the race, the intent as it is now says so.
 */
async function cancelFailedIntent(stripe: Stripe, pledgeId: string, paymentIntentId: string): Promise<Stripe.PaymentIntent> {
  try {
    await stripe.paymentIntents.cancel(paymentIntentId, { cancellation_reason: 'abandoned' }, { idempotencyKey: stripeKeys.pledgeRelease(pledgeId, paymentIntentId) });
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeIdempotencyError)) throw error;
  }
  return retrieveWithCharge(stripe, paymentIntentId);
}

function failAuthentication(database: AppDatabase, pledge: Pledge, error: { code?: string; message?: string } | null | undefined): Promise<void> {
  return failPlacement(database, pledge, { code: error?.code ?? 'authentication_failed', message: error?.message ?? 'Authentication failed' }, AWAITING_AUTHENTICATION);
}
