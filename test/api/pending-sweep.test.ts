/**
 * The pending-pledge sweep after Stripe has forgotten the placement's idempotency key (24 h): it looks the
 * PaymentIntent up by the pledge's metadata before asking again, so a placement whose answer was lost a day ago
 * still makes exactly one Stripe object. It also lets go of the holds of cancelled pledges that Stripe did not hear
 * about when the backer cancelled.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { resolvePendingPledges } from '../../src/pledges/resolve-pending-pledges';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

const HOUR_S = 3600;

let api: TestApi;
let stripe: TestStripe;
beforeAll(async () => {
  stripe = await startTestStripe();
  api = await createTestApi({}, { stripe: stripe.stripe });
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});
afterEach(() => stripe.clearFaults());

const db = () => api.context.database.db;
const sweep = () => resolvePendingPledges({ database: api.context.database, stripe: stripe.stripe }, { olderThanMs: 0 });

const user = () => tokenUser(api);

const campaign = (model: 'aon' | 'kia') => campaignRow(api, { model });

const intentsOf = (pledgeId: string) => [...stripe.standin.state.paymentIntents.values()].filter((intent) => intent.metadata?.pledge_id === pledgeId);

/**
 * A placement left pending: the first request to Stripe is applied with its answer lost (`reached`) or never
 * arrives, the SDK's retries cannot connect, and the API answers 503. Then a day and an hour pass, on Stripe's
 * clock and on the pledge's.
 */
async function pendingForADay(model: 'aon' | 'kia', reached: boolean) {
  const c = await campaign(model);
  if (reached) await stripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/payment_intents$', count: 1 });
  await stripe.injectFault({ kind: 'reset', method: 'POST', path: '^/v1/payment_intents$', count: reached ? 2 : 3 });
  const backer = await user();
  await request(api.app).post(`/api/campaigns/${c.id}/pledges`).set(backer.auth).set('Idempotency-Key', randomUUID()).send({ amount: '33.00', paymentMethodId: 'pm_card_visa' }).expect(503);
  const pending = await db().selectFrom('pledges').selectAll().where('backer_id', '=', backer.id).executeTakeFirstOrThrow();
  expect(pending.status).toBe('pending');
  await stripe.advanceClock(25 * HOUR_S);
  await sql`update pledges set created_at = now() - interval '25 hours' where id = ${pending.id}`.execute(db());
  return pending;
}

test('a hold placed on Stripe a day ago with its answer lost: the sweep finds it by metadata, and exactly one exists', async () => {
  const pending = await pendingForADay('aon', true);
  expect(intentsOf(pending.id)).toHaveLength(1);
  expect(await sweep()).toBeGreaterThanOrEqual(1);
  const intents = intentsOf(pending.id);
  expect(intents.map((intent) => intent.status)).toEqual(['requires_capture']);
  const settled = await db().selectFrom('pledges').selectAll().where('id', '=', pending.id).executeTakeFirstOrThrow();
  expect(settled).toMatchObject({ status: 'authorized', payment_intent_id: intents[0]!.id });
  const applied = (await stripe.requests()).filter((r) => r.idempotencyKey === `pledge-${pending.id}-authorize` && r.status === 200);
  expect(applied).toHaveLength(1);
});

test('a keep-it-all charge made a day ago with its answer lost: found, recorded once, nobody charged twice', async () => {
  const pending = await pendingForADay('kia', true);
  await sweep();
  const intents = intentsOf(pending.id);
  expect(intents.map((intent) => intent.status)).toEqual(['succeeded']);
  const settled = await db().selectFrom('pledges').selectAll().where('id', '=', pending.id).executeTakeFirstOrThrow();
  expect(settled).toMatchObject({ status: 'captured', payment_intent_id: intents[0]!.id, amount_captured: 3_300 });
  const ledger = await db().selectFrom('ledger_entries').select(['kind', 'amount']).where('pledge_id', '=', pending.id).orderBy('kind').execute();
  expect(ledger).toEqual([
    { kind: 'capture', amount: 3_300 },
    { kind: 'processing_fee', amount: Math.round(3_300 * 0.029) + 30 },
  ]);
});

test('a placement that never reached Stripe, a day ago: nothing found, so the sweep places it now, once', async () => {
  const pending = await pendingForADay('aon', false);
  expect(intentsOf(pending.id)).toHaveLength(0);
  await sweep();
  expect(intentsOf(pending.id).map((intent) => intent.status)).toEqual(['requires_capture']);
  expect(await db().selectFrom('pledges').select('status').where('id', '=', pending.id).executeTakeFirstOrThrow()).toEqual({ status: 'authorized' });
  expect(await sweep()).toBe(0);
});

test('a cancelled pledge whose hold Stripe never heard cancelled: the sweep releases it', async () => {
  const c = await campaign('aon');
  const backer = await user();
  const placed = await request(api.app).post(`/api/campaigns/${c.id}/pledges`).set(backer.auth).set('Idempotency-Key', randomUUID()).send({ amount: '20.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  await stripe.injectFault({ kind: 'reset', method: 'POST', path: '^/v1/payment_intents/[^/]+/cancel$', count: 3 });
  await request(api.app).delete(`/api/pledges/${placed.body.id}`).set(backer.auth).expect(200);
  expect(intentsOf(placed.body.id as string).map((intent) => intent.status)).toEqual(['requires_capture']);
  await stripe.clearFaults();
  await sweep();
  expect(intentsOf(placed.body.id as string).map((intent) => intent.status)).toEqual(['canceled']);
  expect(await db().selectFrom('pledges').select(['status', 'hold_release_pending']).where('id', '=', placed.body.id as string).executeTakeFirstOrThrow()).toEqual({
    status: 'cancelled',
    hold_release_pending: false,
  });
  expect(await sweep()).toBe(0);
});
