/**
 * Card testing and scripted sign-ups, bounded (issue #17): declined cards from one account, from fresh accounts on one
 * address and one card from everywhere reach Stripe a bounded number of times, each refusal a 429 with Retry-After;
 * a backer who pledges normally never meets a limit. Counts come from the Stripe stand-in's request log: the
 * PaymentIntents and SetupIntents Stripe was asked for, and the cards it was asked to attach. The limits are the
 * production defaults.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import {
  DECLINE_WEIGHT,
  DECLINES_BEFORE_BLOCK,
  DEFAULT_CARD_ATTEMPTS_PER_CARD,
  DEFAULT_CARD_ATTEMPTS_PER_IP,
  DEFAULT_SIGNUPS_PER_IP,
} from '../../src/abuse/velocity-limits';
import { type CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

let api: TestApi;
let stripe: TestStripe;
const signalled: string[] = [];

beforeAll(async () => {
  stripe = await startTestStripe();
  const workflows = { paymentMethodUpdated: async (_campaignId: string, pledgeId: string) => void signalled.push(pledgeId) } as unknown as CampaignWorkflows;
  api = await createTestApi({}, { stripe: stripe.stripe, campaignWorkflows: workflows });
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});
beforeEach(async () => {
  await api.context.database.db.deleteFrom('velocity_events').execute();
  await stripe.clearRequests();
});

const ATTEMPTS = 30;
const DECLINED_CARDS = ['pm_card_chargeDeclined', 'pm_card_chargeDeclinedInsufficientFunds', 'pm_card_chargeDeclinedExpiredCard'];

function pledge(campaignId: string, auth: Record<string, string>, paymentMethodId: string, ip: string) {
  return request(api.app)
    .post(`/api/campaigns/${campaignId}/pledges`)
    .set(auth)
    .set('Idempotency-Key', randomUUID())
    .set('X-Forwarded-For', ip)
    .send({ amount: '25.00', paymentMethodId });
}

/** Cards Stripe was asked to charge, hold, save or attach (each a card-testing probe), replays excluded. */
async function cardRequestsToStripe(): Promise<number> {
  const probes = /^\/v1\/(payment_intents|setup_intents|payment_methods\/[^/]+\/attach)$/;
  return (await stripe.requests()).filter((r) => r.method === 'POST' && !r.replayed && probes.test(r.path)).length;
}

function expectRateLimited(response: request.Response, code: string) {
  expect(response.status).toBe(429);
  expect(response.body.error.code).toBe(code);
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(24 * 3600);
}

test(`${ATTEMPTS} declined attempts from one account: ${DECLINES_BEFORE_BLOCK} reach Stripe, then the account is blocked, even with a good card`, async () => {
  const c = await campaignRow(api);
  const tester = await tokenUser(api);
  const statuses: number[] = [];
  let last: request.Response | undefined;
  for (let i = 0; i < ATTEMPTS; i++) {
    last = await pledge(c.id, tester.auth, 'pm_card_chargeDeclined', '203.0.113.1');
    statuses.push(last.status);
  }
  expect(statuses.filter((s) => s === 402)).toHaveLength(DECLINES_BEFORE_BLOCK);
  expect(statuses.filter((s) => s === 429)).toHaveLength(ATTEMPTS - DECLINES_BEFORE_BLOCK);
  expectRateLimited(last!, 'too_many_declines');
  expect(await cardRequestsToStripe()).toBe(DECLINES_BEFORE_BLOCK);

  // Blocked as an account: another address and a card that works change nothing.
  expectRateLimited(await pledge((await campaignRow(api)).id, tester.auth, 'pm_card_visa', '203.0.113.2'), 'too_many_declines');
  expect(await cardRequestsToStripe()).toBe(DECLINES_BEFORE_BLOCK);
});

test('parallel declined attempts from one account are counted before any is answered', async () => {
  const tester = await tokenUser(api);
  const campaigns = await Promise.all(Array.from({ length: ATTEMPTS }, () => campaignRow(api)));
  const responses = await Promise.all(campaigns.map((c) => pledge(c.id, tester.auth, 'pm_card_chargeDeclined', '203.0.113.3')));
  expect(responses.filter((r) => r.status === 429)).toHaveLength(ATTEMPTS - DECLINES_BEFORE_BLOCK);
  expect(await cardRequestsToStripe()).toBeLessThanOrEqual(DECLINES_BEFORE_BLOCK);
});

test(`fresh accounts rotating declined cards from one address: at most ${DEFAULT_CARD_ATTEMPTS_PER_IP / DECLINE_WEIGHT} reach Stripe`, async () => {
  const c = await campaignRow(api);
  const statuses: number[] = [];
  let last: request.Response | undefined;
  for (let i = 0; i < ATTEMPTS; i++) {
    last = await pledge(c.id, (await tokenUser(api)).auth, DECLINED_CARDS[i % DECLINED_CARDS.length]!, '198.51.100.7');
    statuses.push(last.status);
  }
  const perAddress = DEFAULT_CARD_ATTEMPTS_PER_IP / DECLINE_WEIGHT;
  expect(statuses.filter((s) => s === 402)).toHaveLength(perAddress);
  expectRateLimited(last!, 'too_many_payment_attempts');
  expect(await cardRequestsToStripe()).toBe(perAddress);

  // The address is what is limited: a new account with a good card there waits, elsewhere it pledges.
  expectRateLimited(await pledge(c.id, (await tokenUser(api)).auth, 'pm_card_visa', '198.51.100.7'), 'too_many_payment_attempts');
  await pledge(c.id, (await tokenUser(api)).auth, 'pm_card_visa', '198.51.100.8').expect(201);
});

test(`one card from fresh accounts and addresses: at most ${DEFAULT_CARD_ATTEMPTS_PER_CARD / DECLINE_WEIGHT} reach Stripe`, async () => {
  const c = await campaignRow(api);
  const statuses: number[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    statuses.push((await pledge(c.id, (await tokenUser(api)).auth, 'pm_card_chargeDeclinedInsufficientFunds', `192.0.2.${i + 1}`)).status);
  }
  const perCard = DEFAULT_CARD_ATTEMPTS_PER_CARD / DECLINE_WEIGHT;
  expect(statuses.filter((s) => s === 402)).toHaveLength(perCard);
  expect(statuses.filter((s) => s === 429)).toHaveLength(ATTEMPTS - perCard);
  expect(await cardRequestsToStripe()).toBe(perCard);
});

test('a backer pledging normally, one card declined among them, meets no limit while an attack runs elsewhere', async () => {
  const attacked = await campaignRow(api);
  for (let i = 0; i < ATTEMPTS; i++) await pledge(attacked.id, (await tokenUser(api)).auth, 'pm_card_chargeDeclined', '198.51.100.66');

  const backer = await tokenUser(api);
  await pledge((await campaignRow(api)).id, backer.auth, 'pm_card_chargeDeclinedExpiredCard', '203.0.113.50').expect(402);
  for (let i = 0; i < 6; i++) await pledge((await campaignRow(api)).id, backer.auth, 'pm_card_mastercard', '203.0.113.50').expect(201);
  await pledge((await campaignRow(api, { model: 'kia' })).id, backer.auth, 'pm_card_mastercard', '203.0.113.50').expect(201);
});

test('the client address goes to Stripe Radar with the pledge; the customer carries the email', async () => {
  const backer = await tokenUser(api);
  const response = await pledge((await campaignRow(api)).id, backer.auth, 'pm_card_visa', '203.0.113.77').expect(201);
  const row = await api.context.database.db.selectFrom('pledges').selectAll().where('id', '=', response.body.id as string).executeTakeFirstOrThrow();
  const intent = await stripe.stripe.paymentIntents.retrieve(row.payment_intent_id!);
  expect(intent.metadata).toMatchObject({ pledge_id: row.id, client_ip: '203.0.113.77' });
  const user = await api.context.database.db.selectFrom('users').selectAll().where('id', '=', backer.id).executeTakeFirstOrThrow();
  const customer = await stripe.stripe.customers.retrieve(user.stripe_customer_id!);
  expect(customer).toMatchObject({ email: user.email });
});

test('a new card for a failed pledge counts as a card attempt: a blocked account is refused before Stripe is asked', async () => {
  const tester = await tokenUser(api);
  const c = await campaignRow(api);
  for (let i = 0; i < DECLINES_BEFORE_BLOCK; i++) await pledge(c.id, tester.auth, 'pm_card_chargeDeclined', '203.0.113.9').expect(402);
  const failed = await api.context.database.db.selectFrom('pledges').select('id').where('backer_id', '=', tester.id).executeTakeFirstOrThrow();
  await api.context.database.db
    .updateTable('pledges')
    .set({ status: 'errored', errored_at: new Date(), grace_ends_at: new Date(Date.now() + 86_400_000) })
    .where('id', '=', failed.id)
    .execute();
  await stripe.clearRequests();

  const refused = await request(api.app).post(`/api/pledges/${failed.id}/payment-method`).set(tester.auth).set('X-Forwarded-For', '203.0.113.10').send({ paymentMethodId: 'pm_card_visa' });
  expectRateLimited(refused, 'too_many_declines');
  expect(await cardRequestsToStripe()).toBe(0);
  expect(signalled).not.toContain(failed.id);

  // Once the block is over (here: its declines removed), the same change goes through.
  await api.context.database.db.deleteFrom('velocity_events').where('user_id', '=', tester.id).execute();
  await request(api.app).post(`/api/pledges/${failed.id}/payment-method`).set(tester.auth).set('X-Forwarded-For', '203.0.113.10').send({ paymentMethodId: 'pm_card_visa' }).expect(202);
  expect(signalled).toContain(failed.id);
});

describe('sign-up', () => {
  const signup = (ip: string) =>
    request(api.app)
      .post('/api/auth/signup')
      .set('X-Forwarded-For', ip)
      .send({ email: `${randomUUID()}@example.com`, password: 'correct horse battery', name: 'New' });

  test(`${DEFAULT_SIGNUPS_PER_IP} an hour from one address, counted atomically; other addresses are not affected`, async () => {
    const responses = await Promise.all(Array.from({ length: DEFAULT_SIGNUPS_PER_IP + 4 }, () => signup('203.0.113.200')));
    expect(responses.filter((r) => r.status === 202)).toHaveLength(DEFAULT_SIGNUPS_PER_IP);
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(4);
    expectRateLimited(refused[0]!, 'too_many_signups');
    await signup('203.0.113.201').expect(202);
  });
});
