/**
 * What placement asks of Stripe: the backer's customer, then the pledge's one request. Both carry keys from business
 * ids, so asking again (a retried request, the pending sweep) is the same request.
 */
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Campaign, type Pledge, type User } from '../../db/schema';
import { stripeKeys } from '../payments/idempotency-keys';
import { awaitingAction, collectedPayment, currentPledge, failPlacement, heldOrSaved, type PlacedPledge, releaseUnusedHold, settlePlacement } from './placement-outcome';

/**
 * The one Stripe request a pledge's placement makes, built only from the pledge row, so placement and the sweep
 * send byte-for-byte the same request under the same key (Stripe replays it rather than charging twice).
 * `findEarlierIntent` is asked first, when given, for a PaymentIntent made before (the sweep's lookup once the key
 * may have expired).
 */
export async function askStripe(
  database: AppDatabase,
  stripe: Stripe,
  campaign: Campaign,
  pledge: Pledge,
  customerId: string,
  options: { findEarlierIntent?: () => Promise<Stripe.PaymentIntent | undefined> } = {},
): Promise<PlacedPledge> {
  // The backer's address for Stripe Radar. Stripe takes no server-side address field with an existing PaymentMethod
  // (Radar Sessions are made in the browser); its rules and reviews read metadata. From the row: a retry is identical.
  const metadata = { pledge_id: pledge.id, campaign_id: campaign.id, ...(pledge.placed_from_ip ? { client_ip: pledge.placed_from_ip } : {}) };
  const key = { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id) };
  // Never looked up once the key may have expired: a second SetupIntent saves the card again and moves no money.
  if (pledge.placement === 'save') {
    const setup = await stripe.setupIntents.create({ customer: customerId, payment_method: pledge.payment_method_id!, confirm: true, usage: 'off_session', metadata }, key);
    if (setup.status === 'requires_action') return awaitingAction(database, pledge, { setup_intent_id: setup.id }, setup.client_secret!);
    return { pledge: await settlePlacement(database, campaign, pledge, { status: 'authorized', setup_intent_id: setup.id, payment_method_id: setup.payment_method as string }) };
  }
  const found = options.findEarlierIntent ? await options.findEarlierIntent() : undefined;
  const intent =
    found ??
    (await stripe.paymentIntents.create(
      {
        amount: pledge.amount,
        currency: campaign.currency.toLowerCase(),
        customer: customerId,
        payment_method: pledge.payment_method_id!,
        confirm: true,
        setup_future_usage: 'off_session',
        capture_method: pledge.placement === 'hold' ? 'manual' : 'automatic',
        transfer_group: campaign.id,
        metadata,
        expand: ['latest_charge.balance_transaction'],
      },
      key,
    ));
  if (intent.status === 'canceled' && intent.cancellation_reason === 'automatic' && (intent.latest_charge as Stripe.Charge | null)?.status === 'succeeded') {
    // Found again after its hold lapsed (or was released unused): the card was authorized and saved then.
    return { pledge: await settlePlacement(database, campaign, pledge, { status: 'authorized', payment_method_id: intent.payment_method as string }) };
  }
  if (intent.status === 'requires_payment_method' || intent.status === 'canceled') {
    // Only an intent found again can be here (a new one that is declined throws): it was declined back then.
    const declined = intent.last_payment_error;
    await failPlacement(database, pledge, { code: declined?.code ?? 'card_declined', ...(declined?.decline_code ? { decline_code: declined.decline_code } : {}), message: declined?.message ?? 'The card was declined' });
    return { pledge: await currentPledge(database, pledge.id) };
  }
  if (intent.status === 'requires_action') return awaitingAction(database, pledge, { payment_intent_id: intent.id }, intent.client_secret!);
  if (intent.status === 'succeeded') {
    const { changes, movements } = collectedPayment(intent, pledge.amount);
    return { pledge: await settlePlacement(database, campaign, pledge, { ...changes, payment_intent_id: intent.id }, movements) };
  }
  // The deadline was within the hold window, but only the authorization's own `capture_before` tells whether
  // settlement can capture it then; if not, the pledge keeps the card saved, and the hold is released.
  const held = heldOrSaved(intent, campaign.ends_at);
  const settled = await settlePlacement(database, campaign, pledge, { status: 'authorized', ...held });
  if (!held.payment_intent_id) await releaseUnusedHold(stripe, pledge.id, intent.id);
  return { pledge: settled };
}

export async function ensureCustomer(database: AppDatabase, stripe: Stripe, backer: User): Promise<string> {
  if (backer.stripe_customer_id) return backer.stripe_customer_id;
  const customer = await stripe.customers.create({ email: backer.email, name: backer.name, metadata: { user_id: backer.id } }, { idempotencyKey: stripeKeys.customer(backer.id) });
  await database.db.updateTable('users').set({ stripe_customer_id: customer.id }).where('id', '=', backer.id).where('stripe_customer_id', 'is', null).execute();
  return customer.id;
}

/** A PaymentIntent with what recording a collected payment reads: its charge and the charge's fee. */
export const retrieveWithCharge = (stripe: Stripe, paymentIntentId: string) => stripe.paymentIntents.retrieve(paymentIntentId, { expand: ['latest_charge.balance_transaction'] });
