/**
 * The Stripe stand-in, driven only through the official `stripe` package and the `/_standin/` controls: each
 * behaviour the product relies on, with Stripe's documented outcomes and error shapes.
 */
import Stripe from 'stripe';
import { startTestStripe, TEST_STRIPE_KEY as TEST_KEY, type TestStripe } from './harness';

let t: TestStripe;
let stripe: Stripe;
beforeAll(async () => {
  t = await startTestStripe();
  stripe = t.stripe;
});
afterAll(() => t.close());

const DAY = 86_400;

async function customerWith(card: string) {
  const customer = await stripe.customers.create({ email: 'backer@example.com' });
  return { customer, card };
}

describe('authentication and errors', () => {
  it('rejects requests without a secret key with 401', async () => {
    const response = await fetch(`${t.url}/v1/customers`, { method: 'POST' });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('answers unknown objects with 404 resource_missing, which the SDK raises as StripeInvalidRequestError', async () => {
    const error = await stripe.paymentIntents.retrieve('pi_missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });
});

describe('customers and payment methods', () => {
  it('creates, retrieves and updates customers', async () => {
    const customer = await stripe.customers.create({ email: 'a@example.com', metadata: { user_id: 'u1' } });
    expect(customer.id).toMatch(/^cus_/);
    const updated = await stripe.customers.update(customer.id, { name: 'Ada' });
    expect(updated.name).toBe('Ada');
    expect((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).toMatchObject({ email: 'a@example.com', metadata: { user_id: 'u1' } });
  });

  it('turns a test id into a new PaymentMethod on attach, lists and detaches it', async () => {
    const customer = await stripe.customers.create({});
    const method = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    expect(method.id).toMatch(/^pm_/);
    expect(method.id).not.toBe('pm_card_visa');
    expect(method.card?.last4).toBe('4242');
    const listed = await stripe.customers.listPaymentMethods(customer.id);
    expect(listed.data.map((m) => m.id)).toEqual([method.id]);
    expect((await stripe.paymentMethods.detach(method.id)).customer).toBeNull();
  });
});

describe('payment intents', () => {
  it('charges at once with automatic capture: a charge, a balance transaction with the documented fee', async () => {
    const { customer } = await customerWith('pm_card_visa');
    const intent = await stripe.paymentIntents.create({
      amount: 10_000,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
      setup_future_usage: 'off_session',
      expand: ['latest_charge.balance_transaction'],
    });
    expect(intent.status).toBe('succeeded');
    expect(intent.amount_received).toBe(10_000);
    const charge = intent.latest_charge as Stripe.Charge;
    const balance = charge.balance_transaction as Stripe.BalanceTransaction;
    expect(balance.fee).toBe(320); // 2.9% + 30
    expect(balance.net).toBe(9_680);
    // setup_future_usage saved the card on the customer
    expect((await stripe.paymentMethods.retrieve(intent.payment_method as string)).customer).toBe(customer.id);
  });

  it('holds with manual capture, then captures all or part', async () => {
    const hold = await stripe.paymentIntents.create({ amount: 5_000, currency: 'eur', payment_method: 'pm_card_mastercard', confirm: true, capture_method: 'manual' });
    expect(hold.status).toBe('requires_capture');
    expect(hold.amount_capturable).toBe(5_000);
    const captured = await stripe.paymentIntents.capture(hold.id, { amount_to_capture: 4_000 });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 4_000 });
    const again = await stripe.paymentIntents.capture(hold.id).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'payment_intent_unexpected_state', statusCode: 400 });
  });

  it('cancels an uncaptured hold after 7 days of stand-in time; capturing then fails', async () => {
    const hold = await stripe.paymentIntents.create({ amount: 5_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
    await t.advanceClock(7 * DAY + 1);
    const expired = await stripe.paymentIntents.retrieve(hold.id);
    expect(expired).toMatchObject({ status: 'canceled', cancellation_reason: 'automatic' });
    await expect(stripe.paymentIntents.capture(hold.id)).rejects.toMatchObject({ code: 'payment_intent_unexpected_state' });
  });

  it('cancels a hold on request', async () => {
    const hold = await stripe.paymentIntents.create({ amount: 5_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
    expect((await stripe.paymentIntents.cancel(hold.id)).status).toBe('canceled');
  });

  it.each([
    ['pm_card_chargeDeclined', 'card_declined', 'generic_decline'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
    ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
  ])('%s raises a StripeCardError %s/%s carrying the intent', async (card, code, declineCode) => {
    const error = (await stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', payment_method: card, confirm: true }).catch((e: unknown) => e)) as Stripe.errors.StripeCardError;
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(error).toMatchObject({ statusCode: 402, code, decline_code: declineCode });
    expect(error.payment_intent?.status).toBe('requires_payment_method');
    expect(error.payment_intent?.last_payment_error?.code).toBe(code);
  });

  it('a card that always needs 3-D Secure asks for it on-session and fails off-session with authentication_required', async () => {
    const customer = await stripe.customers.create({});
    const onSession = await stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', customer: customer.id, payment_method: 'pm_card_authenticationRequired', confirm: true, setup_future_usage: 'off_session' });
    expect(onSession.status).toBe('requires_action');
    expect(onSession.next_action?.type).toBe('use_stripe_sdk');
    await t.authenticate('payment_intents', onSession.id);
    expect((await stripe.paymentIntents.retrieve(onSession.id)).status).toBe('succeeded');
    const offSession = await stripe.paymentIntents
      .create({ amount: 2_000, currency: 'usd', customer: customer.id, payment_method: onSession.payment_method as string, confirm: true, off_session: true })
      .catch((e: unknown) => e);
    expect(offSession).toMatchObject({ type: 'StripeCardError', code: 'authentication_required' });
  });

  it('a card needing authentication on setup charges off-session once set up', async () => {
    const customer = await stripe.customers.create({});
    const setup = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_authenticationRequiredOnSetup', confirm: true, usage: 'off_session' });
    expect(setup.status).toBe('requires_action');
    await t.authenticate('setup_intents', setup.id);
    const done = await stripe.setupIntents.retrieve(setup.id);
    expect(done.status).toBe('succeeded');
    const charge = await stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', customer: customer.id, payment_method: done.payment_method as string, confirm: true, off_session: true });
    expect(charge.status).toBe('succeeded');
  });

  it('a card set up for off-session charges off-session but asks for authentication on-session', async () => {
    const customer = await stripe.customers.create({});
    const method = await stripe.paymentMethods.attach('pm_card_authenticationRequiredSetupForOffSession', { customer: customer.id });
    const off = await stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', customer: customer.id, payment_method: method.id, confirm: true, off_session: true });
    expect(off.status).toBe('succeeded');
    const on = await stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', customer: customer.id, payment_method: method.id, confirm: true });
    expect(on.status).toBe('requires_action');
  });

  it('pm_card_chargeCustomerFail attaches but every charge fails', async () => {
    const customer = await stripe.customers.create({});
    const setup = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_chargeCustomerFail', confirm: true, usage: 'off_session' });
    expect(setup.status).toBe('succeeded');
    await expect(
      stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', customer: customer.id, payment_method: setup.payment_method as string, confirm: true, off_session: true }),
    ).rejects.toMatchObject({ code: 'card_declined' });
  });

  it('enforces Stripe minimums and zero-decimal currencies', async () => {
    await expect(stripe.paymentIntents.create({ amount: 49, currency: 'usd' })).rejects.toMatchObject({ code: 'amount_too_small', param: 'amount' });
    await expect(stripe.paymentIntents.create({ amount: 49, currency: 'jpy' })).rejects.toMatchObject({ code: 'amount_too_small' });
    // ¥50 is Stripe's JPY minimum, but on a USD platform the amount must also convert to at least 0.50 USD.
    await expect(stripe.paymentIntents.create({ amount: 50, currency: 'jpy' })).rejects.toMatchObject({ code: 'amount_too_small' });
    expect((await stripe.paymentIntents.create({ amount: 75, currency: 'jpy' })).status).toBe('requires_payment_method');
    await expect(stripe.paymentIntents.create({ amount: 100_000_000, currency: 'usd' })).rejects.toMatchObject({ code: 'amount_too_large', param: 'amount' });
    expect((await stripe.paymentIntents.create({ amount: 99_999_999, currency: 'usd' })).amount).toBe(99_999_999);
  });

  it('lists with limit, starting_after and has_more', async () => {
    const customer = await stripe.customers.create({});
    for (let i = 0; i < 3; i++) await stripe.paymentIntents.create({ amount: 1_000 + i, currency: 'usd', customer: customer.id });
    const first = await stripe.paymentIntents.list({ customer: customer.id, limit: 2 });
    expect(first.data.map((p) => p.amount)).toEqual([1_002, 1_001]);
    expect(first.has_more).toBe(true);
    const second = await stripe.paymentIntents.list({ customer: customer.id, limit: 2, starting_after: first.data[1]!.id });
    expect(second.data.map((p) => p.amount)).toEqual([1_000]);
    expect(second.has_more).toBe(false);
  });
});

describe('refunds', () => {
  it('refunds in part and in full, and never more than what is left', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 3_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    const partial = await stripe.refunds.create({ payment_intent: intent.id, amount: 1_000, metadata: { refund_id: 'r1' } });
    expect(partial).toMatchObject({ status: 'succeeded', amount: 1_000, metadata: { refund_id: 'r1' } });
    await expect(stripe.refunds.create({ payment_intent: intent.id, amount: 2_500 })).rejects.toMatchObject({ code: 'amount_too_large', param: 'amount' });
    const rest = await stripe.refunds.create({ payment_intent: intent.id });
    expect(rest.amount).toBe(2_000);
    await expect(stripe.refunds.create({ payment_intent: intent.id })).rejects.toMatchObject({ code: 'charge_already_refunded' });
    const charge = await stripe.charges.retrieve(intent.latest_charge as string);
    expect(charge).toMatchObject({ refunded: true, amount_refunded: 3_000 });
  });
});

describe('idempotency', () => {
  it('replays the first response for the same key and parameters, and refuses other parameters', async () => {
    const key = `key-${Date.now()}`;
    const first = await stripe.customers.create({ email: 'x@example.com' }, { idempotencyKey: key });
    const replay = await stripe.customers.create({ email: 'x@example.com' }, { idempotencyKey: key });
    expect(replay.id).toBe(first.id);
    expect(replay.lastResponse.headers['idempotent-replayed']).toBe('true');
    const conflict = await stripe.customers.create({ email: 'y@example.com' }, { idempotencyKey: key }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });

  it('keeps errors too: a declined request replayed with its key is the same decline', async () => {
    const key = `decline-${Date.now()}`;
    const params = { amount: 2_000, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true };
    const first = (await stripe.paymentIntents.create(params, { idempotencyKey: key }).catch((e: unknown) => e)) as Stripe.errors.StripeCardError;
    const second = (await stripe.paymentIntents.create(params, { idempotencyKey: key }).catch((e: unknown) => e)) as Stripe.errors.StripeCardError;
    expect(second.payment_intent?.id).toBe(first.payment_intent?.id);
  });

  it('answers 409 idempotency_key_in_use while a request with the same key is still in progress', async () => {
    const key = `in-progress-${Date.now()}`;
    await t.injectFault({ kind: 'latency', latencyMs: 400, idempotencyKey: `^${key}$`, count: 1 });
    // Over plain HTTP: the SDK itself would retry the 409 until the first request is done.
    const post = () =>
      fetch(`${t.url}/v1/customers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_KEY}`, 'idempotency-key': key, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'email=twin%40example.com',
      });
    const slow = post();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const twin = await post();
    expect(twin.status).toBe(409);
    expect(await twin.json()).toMatchObject({ error: { type: 'idempotency_error', code: 'idempotency_key_in_use' } });
    const first = (await (await slow).json()) as { id: string };
    // Once it is done, the same request is a replay: one customer, whatever the twin did.
    expect((await stripe.customers.create({ email: 'twin@example.com' }, { idempotencyKey: key })).id).toBe(first.id);
  });

  it('decides a delayed request by its key as it arrived, not as it is once the delay is over', async () => {
    const key = `delayed-${Date.now()}`;
    const first = await stripe.customers.create({}, { idempotencyKey: key });
    // The retry arrives within the key's 24 hours; while it is held, a day and more of stand-in time passes.
    await t.injectFault({ kind: 'latency', latencyMs: 400, idempotencyKey: `^${key}$`, count: 1 });
    const late = stripe.customers.create({}, { idempotencyKey: key });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await t.advanceClock(DAY + 1);
    expect((await late).id).toBe(first.id);
  });

  it('expires keys after 24 hours of stand-in time', async () => {
    const key = `expiring-${Date.now()}`;
    const first = await stripe.customers.create({}, { idempotencyKey: key });
    await t.advanceClock(DAY + 1);
    const second = await stripe.customers.create({}, { idempotencyKey: key });
    expect(second.id).not.toBe(first.id);
  });
});

describe('balance transactions', () => {
  it('are pending until available_on passes on the stand-in clock, read however they are read', async () => {
    const { customer } = await customerWith('pm_card_visa');
    const intent = await stripe.paymentIntents.create({ amount: 5_000, currency: 'usd', customer: customer.id, payment_method: 'pm_card_visa', confirm: true, expand: ['latest_charge.balance_transaction'] });
    const transaction = (intent.latest_charge as Stripe.Charge).balance_transaction as Stripe.BalanceTransaction;
    expect(transaction).toMatchObject({ status: 'pending', fee: 175, net: 4_825 });
    expect(transaction.available_on).toBeGreaterThan(transaction.created);
    await t.advanceClock(2 * DAY + 1);
    // Retrieved directly, and expanded through its charge, without reading the balance first.
    expect((await stripe.balanceTransactions.retrieve(transaction.id)).status).toBe('available');
    const charge = await stripe.charges.retrieve((intent.latest_charge as Stripe.Charge).id, { expand: ['balance_transaction'] });
    expect((charge.balance_transaction as Stripe.BalanceTransaction).status).toBe('available');
  });
});
