/**
 * POST /api/webhooks/stripe: signatures checked over the raw body, each event acted on once, and account.updated
 * keeping a creator's Connect flags true to Stripe.
 */
import request from 'supertest';
import { createTestApi, signUp, type TestApi } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

const SECRET = 'whsec_test_webhooks';
let api: TestApi;
let stripe: TestStripe;

beforeAll(async () => {
  stripe = await startTestStripe();
  api = await createTestApi({ STRIPE_WEBHOOK_SECRET: SECRET }, { stripe: stripe.stripe });
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});

function signed(payload: string, secret = SECRET) {
  return stripe.stripe.webhooks.generateTestHeaderString({ payload, secret });
}

async function onboardedAccountEvent(userId: string) {
  const account = await stripe.stripe.accounts.create({ type: 'express', country: 'US' });
  await api.context.database.db.updateTable('users').set({ stripe_account_id: account.id }).where('id', '=', userId).execute();
  const link = await stripe.stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://ok' });
  await fetch(link.url);
  const events = await stripe.stripe.events.list({ type: 'account.updated', limit: 1 });
  return events.data[0]!;
}

test('account.updated sets the creator’s Connect flags, once per event id', async () => {
  const creator = await signUp(api);
  const event = await onboardedAccountEvent(creator.id);
  const payload = JSON.stringify(event);
  const first = await request(api.app).post('/api/webhooks/stripe').set('Stripe-Signature', signed(payload)).set('Content-Type', 'application/json').send(payload).expect(200);
  expect(first.body).toEqual({ received: true });
  const user = await api.context.database.db.selectFrom('users').selectAll().where('id', '=', creator.id).executeTakeFirstOrThrow();
  expect(user).toMatchObject({ payouts_enabled: true, charges_enabled: true, details_submitted: true });
  const replay = await request(api.app).post('/api/webhooks/stripe').set('Stripe-Signature', signed(payload)).set('Content-Type', 'application/json').send(payload).expect(200);
  expect(replay.body).toEqual({ received: true, duplicate: true });
  const recorded = await api.context.database.db.selectFrom('stripe_events').selectAll().where('id', '=', event.id).execute();
  expect(recorded).toHaveLength(1);
  expect(recorded[0]!.processed_at).toBeInstanceOf(Date);
});

test('a forged or tampered event is rejected with 400 and changes nothing', async () => {
  const creator = await signUp(api);
  const event = await onboardedAccountEvent(creator.id);
  const payload = JSON.stringify(event);
  const forged = await request(api.app).post('/api/webhooks/stripe').set('Stripe-Signature', signed(payload, 'whsec_someone_else')).set('Content-Type', 'application/json').send(payload).expect(400);
  expect(forged.body.error.code).toBe('invalid_signature');
  const tampered = payload.replace('"payouts_enabled":true', '"payouts_enabled":false');
  await request(api.app).post('/api/webhooks/stripe').set('Stripe-Signature', signed(payload)).set('Content-Type', 'application/json').send(tampered).expect(400);
  await request(api.app).post('/api/webhooks/stripe').set('Content-Type', 'application/json').send(payload).expect(400);
  const user = await api.context.database.db.selectFrom('users').selectAll().where('id', '=', creator.id).executeTakeFirstOrThrow();
  expect(user.payouts_enabled).toBe(false);
  expect(await api.context.database.db.selectFrom('stripe_events').selectAll().where('id', '=', event.id).execute()).toHaveLength(0);
});

test('events the stand-in delivers to the running API, signed with the endpoint secret, are applied', async () => {
  const live = await createTestApi({ STRIPE_WEBHOOK_SECRET: 'whsec_until_the_endpoint_exists' }, { stripe: stripe.stripe });
  const server = live.app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const delivered = await stripe.stripe.webhookEndpoints.create({ url: `http://127.0.0.1:${port}/api/webhooks/stripe`, enabled_events: ['account.updated'] });
    // The endpoint's secret exists only once the API listens at its URL; each endpoint signs with its own.
    live.context.config.stripe.webhookSecret = delivered.secret!;
    const creator = await signUp(live);
    const account = await stripe.stripe.accounts.create({ type: 'express', country: 'US' });
    await live.context.database.db.updateTable('users').set({ stripe_account_id: account.id }).where('id', '=', creator.id).execute();
    const link = await stripe.stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://ok' });
    await fetch(link.url);
    let payoutsEnabled = false;
    for (let i = 0; i < 100 && !payoutsEnabled; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      payoutsEnabled = (await live.context.database.db.selectFrom('users').select('payouts_enabled').where('id', '=', creator.id).executeTakeFirstOrThrow()).payouts_enabled;
    }
    expect(payoutsEnabled).toBe(true);
  } finally {
    server.close();
    await live.close();
  }
});
