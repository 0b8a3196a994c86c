/**
 * Cancelling and changing a pledge against the deadline and against each other: the pledge row under the campaign
 * lock is the one truth, so a backer told `cancelled` is never counted nor charged, concurrent changes of one pledge
 * serialize and reward units always balance, and a declined or 3-D Secure change leaves the pledge changeable.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import Stripe from 'stripe';
import { createCampaignActivities } from '../../activities/campaigns';
import { type ActivityDeps } from '../../activities/deps';
import { createPledgeSettlementActivities } from '../../activities/pledge-settlement';
import { errorHandler } from '../../src/api/errors';
import { createLogger } from '../../src/logger';
import { tallyPledges } from '../../src/campaigns/tally';
import { campaignRow, createTestApi, deliverStandinEvent, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

const DAY = 86_400_000;
const WEBHOOK_SECRET = 'whsec_pledge_races';

let api: TestApi;
let stripe: TestStripe;
let activities: ActivityDeps;
beforeAll(async () => {
  stripe = await startTestStripe();
  api = await createTestApi({ STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET }, { stripe: stripe.stripe });
  activities = { database: api.context.database, stripe: stripe.stripe, config: api.context.config, mailer: { send: async () => undefined, close: () => undefined } };
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});
afterEach(() => stripe.clearFaults());

const db = () => api.context.database.db;

const user = () => tokenUser(api);

const campaign = (options: { endsInMs?: number } = {}) => campaignRow(api, options);

const reward = (campaignId: string, limit: number, claimed = 0) =>
  db().insertInto('rewards').values({ campaign_id: campaignId, title: 'Pin', min_pledge: 1_000, limit_qty: limit, claimed_qty: claimed }).returningAll().executeTakeFirstOrThrow();
const claimedUnits = async (rewardId: string) => (await db().selectFrom('rewards').select('claimed_qty').where('id', '=', rewardId).executeTakeFirstOrThrow()).claimed_qty;
const row = (id: string) => db().selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function place(campaignId: string, auth: Record<string, string>, body: Record<string, unknown>) {
  const response = await request(api.app).post(`/api/campaigns/${campaignId}/pledges`).set(auth).set('Idempotency-Key', randomUUID()).send(body).expect(201);
  return response.body as { id: string; status: string; nextAction?: { clientSecret: string } };
}
const change = (id: string, auth: Record<string, string>, body: Record<string, unknown>) => request(api.app).patch(`/api/pledges/${id}`).set(auth).send(body);
const cancel = (id: string, auth: Record<string, string>) => request(api.app).delete(`/api/pledges/${id}`).set(auth);

const deliver = (type: string, objectId: string) => deliverStandinEvent(api, stripe.stripe, WEBHOOK_SECRET, type, objectId);

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const intentsOf = (pledgeId: string) => [...stripe.standin.state.paymentIntents.values()].filter((intent) => intent.metadata?.pledge_id === pledgeId);

describe('cancelling at the deadline', () => {
  test('the hold cancellation’s answer is lost while pledging closes: a backer told `cancelled` is neither counted nor charged', async () => {
    const c = await campaign();
    const backer = await user();
    const placed = await place(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' });
    // Stripe cancels the hold but its answer is lost; the SDK's retry is held up on its way (150 ms was enough in
    // production), and the deadline closes pledging and settles the pledge meanwhile.
    await stripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/payment_intents/[^/]+/cancel$', count: 1 });
    await stripe.injectFault({ kind: 'latency', latencyMs: 500, method: 'POST', path: '^/v1/payment_intents/[^/]+/cancel$', count: 1 });
    const cancelling = cancel(placed.id, backer.auth).then((response) => response);
    await until(async () => (await stripe.requests()).some((r) => r.fault === 'latency' && r.path.endsWith('/cancel')), 'the retried hold cancellation');

    const tally = await createCampaignActivities(activities).closePledging(c.id);
    const settlement = await createPledgeSettlementActivities(activities)
      .capturePledge({ pledgeId: placed.id, attempt: 1 })
      .then(
        () => 'captured',
        (error: { type?: string }) => error.type,
      );
    const answer = await cancelling;

    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { id: placed.id, status: 'cancelled' } });
    expect(tally).toEqual({ totalPledged: 0, backers: 0 });
    expect(settlement).toBe('PledgeNotCapturable');
    expect(await row(placed.id)).toMatchObject({ status: 'cancelled', amount_captured: 0 });
    expect(intentsOf(placed.id).map((intent) => intent.status)).toEqual(['canceled']);
    expect(await db().selectFrom('ledger_entries').select('kind').where('pledge_id', '=', placed.id).execute()).toEqual([]);
  });

  test('a cancel waits for the deadline’s close in flight, then answers 409 pledging_closed and the pledge stays counted', async () => {
    const c = await campaign();
    const backer = await user();
    const placed = await place(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' });
    let answered = false;
    let cancelling: Promise<request.Response> | undefined;
    // closePledging's transaction, held open between its UPDATE of the campaign row and its tally.
    const tally = await api.context.database.transaction(async (trx) => {
      await trx.updateTable('campaigns').set({ status: 'settling', settling_at: new Date() }).where('id', '=', c.id).execute();
      cancelling = cancel(placed.id, backer.auth).then((response) => {
        answered = true;
        return response;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(answered).toBe(false);
      return tallyPledges(trx, c.id);
    });
    const answer = await cancelling!;
    expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 409, code: 'pledging_closed' });
    expect(tally.totalPledged).toBe(2_500);
    expect(await row(placed.id)).toMatchObject({ status: 'authorized' });
    expect(intentsOf(placed.id).map((intent) => intent.status)).toEqual(['requires_capture']);
  });

  test('after the workflow closed pledging, before ends_at: nothing is cancelled or changed (409 pledging_closed)', async () => {
    const c = await campaign();
    const backer = await user();
    const placed = await place(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' });
    await createCampaignActivities(activities).closePledging(c.id);
    expect((await cancel(placed.id, backer.auth).expect(409)).body.error.code).toBe('pledging_closed');
    expect((await change(placed.id, backer.auth, { amount: '30.00' }).expect(409)).body.error.code).toBe('pledging_closed');
    expect(await row(placed.id)).toMatchObject({ status: 'authorized', amount: 2_500 });
  });

  test('Stripe unreachable for the hold cancellation: the pledge is cancelled all the same and its hold released later', async () => {
    const c = await campaign();
    const backer = await user();
    const r = await reward(c.id, 5);
    const placed = await place(c.id, backer.auth, { amount: '25.00', rewardId: r.id, paymentMethodId: 'pm_card_visa' });
    await stripe.injectFault({ kind: 'reset', method: 'POST', path: '^/v1/payment_intents/[^/]+/cancel$', count: 3 });
    expect((await cancel(placed.id, backer.auth).expect(200)).body).toEqual({ id: placed.id, status: 'cancelled' });
    expect(await row(placed.id)).toMatchObject({ status: 'cancelled', hold_release_pending: true });
    expect(await claimedUnits(r.id)).toBe(0);
    expect(intentsOf(placed.id).map((intent) => intent.status)).toEqual(['requires_capture']);
    expect((await tallyPledges(db(), c.id)).totalPledged).toBe(0);
  });
});

describe('concurrent changes of one pledge', () => {
  test('8 parallel reward changes of a saved-card pledge, then a cancel: the reward’s units are back where they were', async () => {
    const c = await campaign({ endsInMs: 30 * DAY });
    const limited = await reward(c.id, 10, 3);
    const backer = await user();
    const placed = await place(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => change(placed.id, backer.auth, { rewardId: limited.id })));
    expect(await claimedUnits(limited.id)).toBe(4);
    expect(answers.every((a) => a.status === 200 || (a.status === 409 && a.body.error.code === 'pledge_change_in_progress'))).toBe(true);
    expect(await row(placed.id)).toMatchObject({ reward_id: limited.id });
    await cancel(placed.id, backer.auth).expect(200);
    expect(await claimedUnits(limited.id)).toBe(3);
  });

  test('8 parallel amount-and-reward changes of a hold while Stripe is slow: one wins, the others 409, units balance', async () => {
    const c = await campaign();
    const limited = await reward(c.id, 10, 3);
    const backer = await user();
    const placed = await place(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' });
    await stripe.injectFault({ kind: 'latency', latencyMs: 300, method: 'POST', path: '^/v1/payment_intents$', count: 1 });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => change(placed.id, backer.auth, { amount: `${30 + i}.00`, rewardId: limited.id })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.error.code === 'pledge_change_in_progress')).toBe(true);
    const winner = answers.find((a) => a.status === 200)!;
    const changed = await row(placed.id);
    expect(changed).toMatchObject({ amount: Number(winner.body.amount.replace('.', '')), reward_id: limited.id, revision: 1 });
    expect(await claimedUnits(limited.id)).toBe(4);
    // One new hold (the winner's) and the first one released.
    expect(intentsOf(placed.id).map((intent) => [intent.amount, intent.status])).toEqual([
      [2_500, 'canceled'],
      [changed.amount, 'requires_capture'],
    ]);
    await cancel(placed.id, backer.auth).expect(200);
    expect(await claimedUnits(limited.id)).toBe(3);
    expect(intentsOf(placed.id).every((intent) => intent.status === 'canceled')).toBe(true);
  });
});

describe('changing the amount', () => {
  test('a declined change leaves the pledge changeable: a change to another amount is authorized', async () => {
    const c = await campaign();
    const backer = await user();
    const placed = await place(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' });
    const held = await row(placed.id);
    // The card now declines (funds spent elsewhere), then the bank approves again.
    const user_ = await db().selectFrom('users').select('stripe_customer_id').where('id', '=', backer.id).executeTakeFirstOrThrow();
    const declining = await stripe.stripe.paymentMethods.attach('pm_card_chargeDeclinedInsufficientFunds', { customer: user_.stripe_customer_id! });
    await db().updateTable('pledges').set({ payment_method_id: declining.id }).where('id', '=', placed.id).execute();
    expect((await change(placed.id, backer.auth, { amount: '40.00' }).expect(402)).body.error.code).toBe('card_declined');
    expect(await row(placed.id)).toMatchObject({ amount: 2_500, revision: 0, payment_intent_id: held.payment_intent_id });
    await db().updateTable('pledges').set({ payment_method_id: held.payment_method_id }).where('id', '=', placed.id).execute();

    const changed = await change(placed.id, backer.auth, { amount: '45.00' }).expect(200);
    expect(changed.body).toMatchObject({ status: 'authorized', amount: '45.00' });
    const after = await row(placed.id);
    expect(await stripe.stripe.paymentIntents.retrieve(after.payment_intent_id!)).toMatchObject({ status: 'requires_capture', amount: 4_500 });
    expect((await stripe.stripe.paymentIntents.retrieve(held.payment_intent_id!)).status).toBe('canceled');
  });

  test('a card that always asks for 3-D Secure can change its amount: next action, then the new hold once authenticated', async () => {
    const c = await campaign();
    const limited = await reward(c.id, 5);
    const backer = await user();
    const placed = await place(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_authenticationRequired' });
    const waiting = await row(placed.id);
    await stripe.authenticate('payment_intents', waiting.payment_intent_id!);
    await deliver('payment_intent.amount_capturable_updated', waiting.payment_intent_id!);
    expect(await row(placed.id)).toMatchObject({ status: 'authorized', amount: 2_500 });

    // A first change whose challenge the backer fails: nothing changes, the unit it claimed is freed.
    const failing = await change(placed.id, backer.auth, { amount: '35.00', rewardId: limited.id }).expect(200);
    expect(failing.body).toMatchObject({ status: 'authorized', amount: '25.00', nextAction: { type: 'use_stripe_sdk', clientSecret: expect.stringMatching(/_secret_/) } });
    expect(await claimedUnits(limited.id)).toBe(1);
    const failed = (await row(placed.id)).pending_payment_intent_id!;
    await stripe.authenticate('payment_intents', failed, { fail: true });
    await deliver('payment_intent.payment_failed', failed);
    expect(await row(placed.id)).toMatchObject({ amount: 2_500, reward_id: null, payment_intent_id: waiting.payment_intent_id, pending_payment_intent_id: null });
    expect(await claimedUnits(limited.id)).toBe(0);
    expect((await stripe.stripe.paymentIntents.retrieve(failed)).status).toBe('canceled');

    // A second change, authenticated: the pledge switches to the new hold and lets the old one go.
    const asked = await change(placed.id, backer.auth, { amount: '40.00', rewardId: limited.id }).expect(200);
    expect(asked.body).toMatchObject({ amount: '25.00', nextAction: { type: 'use_stripe_sdk' } });
    const pending = (await row(placed.id)).pending_payment_intent_id!;
    expect((await tallyPledges(db(), c.id)).totalPledged).toBe(2_500);
    await stripe.authenticate('payment_intents', pending);
    await deliver('payment_intent.amount_capturable_updated', pending);
    expect(await row(placed.id)).toMatchObject({ status: 'authorized', amount: 4_000, reward_id: limited.id, payment_intent_id: pending, pending_payment_intent_id: null });
    expect(await claimedUnits(limited.id)).toBe(1);
    expect((await stripe.stripe.paymentIntents.retrieve(waiting.payment_intent_id!)).status).toBe('canceled');
    expect(await stripe.stripe.paymentIntents.retrieve(pending)).toMatchObject({ status: 'requires_capture', amount: 4_000 });
    expect((await tallyPledges(db(), c.id)).totalPledged).toBe(4_000);

    await cancel(placed.id, backer.auth).expect(200);
    expect(await claimedUnits(limited.id)).toBe(0);
    expect(intentsOf(placed.id).every((intent) => intent.status === 'canceled')).toBe(true);
  });
});

test('Stripe refusing a reused idempotency key is a 409 with its own code, not a 500', async () => {
  const app = express();
  app.get('/', () => {
    throw new Stripe.errors.StripeIdempotencyError({ type: 'idempotency_error', message: 'Keys for idempotent requests can only be used with the same parameters' });
  });
  app.use(errorHandler(createLogger('silent')));
  const response = await request(app).get('/').expect(409);
  expect(response.body.error.code).toBe('payment_request_conflict');
});
