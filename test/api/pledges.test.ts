/**
 * Pledge placement through HTTP with real Postgres and the Stripe stand-in: each financing model's path, card
 * errors, 3-D Secure, idempotent replays, rewards that never oversell, stretch goals unlocked once.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { resolvePendingPledges } from '../../src/pledges/resolve-pending-pledges';
import { campaignRow, type CampaignRowOptions, createTestApi, deliverStandinEvent, LIFTED_CARD_LIMITS, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

let api: TestApi;
let stripe: TestStripe;
beforeAll(async () => {
  stripe = await startTestStripe();
  // Hundreds of backers pledge here from one address with one test card: the card-testing limits, proven in
  // card-testing.test.ts, are lifted so they do not decide these tests.
  api = await createTestApi({ STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, ...LIFTED_CARD_LIMITS }, { stripe: stripe.stripe });
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});

const DAY = 86_400_000;
const WEBHOOK_SECRET = 'whsec_pledges_test';

const deliver = (type: string, objectId: string) => deliverStandinEvent(api, stripe.stripe, WEBHOOK_SECRET, type, objectId);

/** Users made directly in the database (no scrypt), with a token: many backers for the concurrency test. */
const user = () => tokenUser(api);

const campaign = (options: CampaignRowOptions = {}) => campaignRow(api, options);

function pledge(campaignId: string, auth: Record<string, string>, body: Record<string, unknown>, key = randomUUID()) {
  return request(api.app).post(`/api/campaigns/${campaignId}/pledges`).set(auth).set('Idempotency-Key', key).send(body);
}

const row = (id: string) => api.context.database.db.selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

test('all-or-nothing within the hold window: a hold, with the card saved for off-session use', async () => {
  const c = await campaign();
  const backer = await user();
  const response = await pledge(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  expect(response.body).toMatchObject({ status: 'authorized', amount: '25.00', currency: 'USD' });
  const stored = await row(response.body.id as string);
  const intent = await stripe.stripe.paymentIntents.retrieve(stored.payment_intent_id!);
  expect(intent).toMatchObject({ status: 'requires_capture', capture_method: 'manual', setup_future_usage: 'off_session', metadata: { pledge_id: stored.id } });
});

test('all-or-nothing beyond the hold window: the card is saved by a SetupIntent, nothing is held', async () => {
  const c = await campaign({ endsInMs: 30 * DAY });
  const response = await pledge(c.id, (await user()).auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  const stored = await row(response.body.id as string);
  expect(stored).toMatchObject({ status: 'authorized', payment_intent_id: null });
  expect((await stripe.stripe.setupIntents.retrieve(stored.setup_intent_id!)).status).toBe('succeeded');
});

test('keep-it-all: charged now, with the capture and Stripe’s fee in the ledger', async () => {
  const c = await campaign({ model: 'kia' });
  const response = await pledge(c.id, (await user()).auth, { amount: '100.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  expect(response.body.status).toBe('captured');
  const ledger = await api.context.database.db.selectFrom('ledger_entries').select(['kind', 'amount']).where('pledge_id', '=', response.body.id as string).orderBy('kind').execute();
  expect(ledger).toEqual([{ kind: 'capture', amount: 10_000 }, { kind: 'processing_fee', amount: 320 }]);
});

test('a card that needs 3-D Secure answers with the next action; Stripe’s webhook completes the pledge once', async () => {
  const c = await campaign();
  const response = await pledge(c.id, (await user()).auth, { amount: '25.00', paymentMethodId: 'pm_card_authenticationRequired' }).expect(201);
  expect(response.body).toMatchObject({ status: 'requires_action', nextAction: { type: 'use_stripe_sdk', clientSecret: expect.stringMatching(/_secret_/) } });
  const waiting = await row(response.body.id as string);
  await stripe.authenticate('payment_intents', waiting.payment_intent_id!);
  await deliver('payment_intent.amount_capturable_updated', waiting.payment_intent_id!);
  expect(await row(waiting.id)).toMatchObject({ status: 'authorized' });
  const replay = await deliver('payment_intent.amount_capturable_updated', waiting.payment_intent_id!);
  expect(replay.body).toEqual({ received: true, duplicate: true });
});

test('a failed 3-D Secure challenge fails the pledge and frees its reward unit', async () => {
  const c = await campaign({ model: 'kia' });
  const reward = await api.context.database.db.insertInto('rewards').values({ campaign_id: c.id, title: 'Pin', min_pledge: 1_000, limit_qty: 1 }).returningAll().executeTakeFirstOrThrow();
  const response = await pledge(c.id, (await user()).auth, { amount: '25.00', rewardId: reward.id, paymentMethodId: 'pm_card_authenticationRequired' }).expect(201);
  const waiting = await row(response.body.id as string);
  await stripe.authenticate('payment_intents', waiting.payment_intent_id!, { fail: true });
  await deliver('payment_intent.payment_failed', waiting.payment_intent_id!);
  expect(await row(waiting.id)).toMatchObject({ status: 'failed' });
  const after = await api.context.database.db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
  expect(after.claimed_qty).toBe(0);
});

test.each([
  ['pm_card_chargeDeclined', 'card_declined'],
  ['pm_card_chargeDeclinedExpiredCard', 'expired_card'],
])('a declined card (%s) is a 402 %s, the pledge failed and its reward unit released', async (card, code) => {
  const c = await campaign();
  const reward = await api.context.database.db.insertInto('rewards').values({ campaign_id: c.id, title: 'Pin', min_pledge: 1_000, limit_qty: 3 }).returningAll().executeTakeFirstOrThrow();
  const response = await pledge(c.id, (await user()).auth, { amount: '25.00', rewardId: reward.id, paymentMethodId: card }).expect(402);
  expect(response.body.error.code).toBe(code);
  const after = await api.context.database.db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
  expect(after.claimed_qty).toBe(0);
});

test('errors: campaign not active, below the reward or currency minimum, malformed fields, missing key', async () => {
  const scheduled = await campaign({ status: 'scheduled' });
  const backer = await user();
  expect((await pledge(scheduled.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(422)).body.error.code).toBe('campaign_not_active');
  const c = await campaign();
  const reward = await api.context.database.db.insertInto('rewards').values({ campaign_id: c.id, title: 'Print', min_pledge: 5_000 }).returningAll().executeTakeFirstOrThrow();
  expect((await pledge(c.id, backer.auth, { amount: '25.00', rewardId: reward.id, paymentMethodId: 'pm_card_visa' }).expect(422)).body.error.code).toBe('amount_below_reward_minimum');
  expect((await pledge(c.id, backer.auth, { amount: '0.20', paymentMethodId: 'pm_card_visa' }).expect(422)).body.error.code).toBe('amount_below_currency_minimum');
  // Above what one Stripe charge can take (eight digits of minor units): refused before Stripe is asked.
  const tooLarge = await pledge(c.id, backer.auth, { amount: '1000000.00', paymentMethodId: 'pm_card_visa' }).expect(422);
  expect(tooLarge.body.error).toMatchObject({ code: 'amount_above_currency_maximum', fields: [{ path: 'amount' }] });
  expect((await pledge(c.id, backer.auth, { amount: '25.001', paymentMethodId: 'pm_card_visa' }).expect(400)).body.error.fields[0].path).toBe('amount');
  expect((await pledge(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'card' }).expect(400)).body.error.fields[0].path).toBe('paymentMethodId');
  await request(api.app).post(`/api/campaigns/${c.id}/pledges`).set(backer.auth).send({ amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(400);
  await pledge(c.id, {}, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(401);
});

test('unknown body fields are refused with a 400 naming them, not silently dropped (a currency sent with a pledge)', async () => {
  const c = await campaign();
  const backer = await user();
  const refused = await pledge(c.id, backer.auth, { amount: '25.00', currency: 'EUR', paymentMethodId: 'pm_card_visa' }).expect(400);
  expect(refused.body.error).toMatchObject({ code: 'validation_failed', fields: [{ path: 'currency', message: expect.stringMatching(/not a known field/) }] });
  expect(await api.context.database.db.selectFrom('pledges').select('id').where('campaign_id', '=', c.id).execute()).toEqual([]);
  const signup = await request(api.app).post('/api/auth/signup').send({ email: 'x@example.com', password: 'long enough password', name: 'X', role: 'ops' }).expect(400);
  expect(signup.body.error.fields).toEqual([{ path: 'role', message: expect.any(String) }]);
});

test('a creator cannot back their own campaign (self-pledging to reach an all-or-nothing goal)', async () => {
  const creator = await user();
  const own = await campaign({ creatorId: creator.id });
  const refused = await pledge(own.id, creator.auth, { amount: '900.00', paymentMethodId: 'pm_card_visa' }).expect(403);
  expect(refused.body.error.code).toBe('forbidden');
  expect(await api.context.database.db.selectFrom('pledges').select('id').where('campaign_id', '=', own.id).execute()).toEqual([]);
});

test('the same Idempotency-Key replays the first answer; another body with it is a 422; one live pledge per backer', async () => {
  const c = await campaign();
  const backer = await user();
  const key = randomUUID();
  const first = await pledge(c.id, backer.auth, { amount: '30.00', paymentMethodId: 'pm_card_visa' }, key).expect(201);
  const replay = await pledge(c.id, backer.auth, { amount: '30.00', paymentMethodId: 'pm_card_visa' }, key).expect(201);
  expect(replay.body).toEqual(first.body);
  expect(replay.headers['idempotent-replayed']).toBe('true');
  expect((await pledge(c.id, backer.auth, { amount: '31.00', paymentMethodId: 'pm_card_visa' }, key).expect(422)).body.error.code).toBe('idempotency_key_reused');
  expect((await pledge(c.id, backer.auth, { amount: '40.00', paymentMethodId: 'pm_card_visa' }).expect(409)).body.error.code).toBe('pledge_exists');
  const intents = (await stripe.requests()).filter((r) => r.path === '/v1/payment_intents' && r.idempotencyKey === `pledge-${first.body.id}-authorize`);
  expect(intents).toHaveLength(1);
});

test('the last 10 units of a reward go to exactly 10 of 200 concurrent backers', async () => {
  const c = await campaign();
  const reward = await api.context.database.db.insertInto('rewards').values({ campaign_id: c.id, title: 'Signed', min_pledge: 1_000, limit_qty: 50, claimed_qty: 40 }).returningAll().executeTakeFirstOrThrow();
  const backers = await Promise.all(Array.from({ length: 200 }, () => user()));
  const results = await Promise.all(backers.map((backer) => pledge(c.id, backer.auth, { amount: '10.00', rewardId: reward.id, paymentMethodId: 'pm_card_visa' })));
  const statuses = results.map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(10);
  expect(statuses.filter((s) => s === 409)).toHaveLength(190);
  expect(results.filter((r) => r.status === 409).every((r) => r.body.error.code === 'reward_sold_out')).toBe(true);
  const after = await api.context.database.db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
  expect(after.claimed_qty).toBe(50);
});

test('a pledge taking a hybrid campaign past a stretch goal unlocks it once and tells every backer', async () => {
  const c = await campaign({ model: 'hybrid', goal: 1_000 });
  const goal = await api.context.database.db.insertInto('stretch_goals').values({ campaign_id: c.id, title: 'Brass edition', target_amount: 5_000 }).returningAll().executeTakeFirstOrThrow();
  await pledge(c.id, (await user()).auth, { amount: '30.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  const crossing = await pledge(c.id, (await user()).auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  expect(crossing.body.status).toBe('authorized');
  const unlocked = await api.context.database.db.selectFrom('stretch_goals').selectAll().where('id', '=', goal.id).executeTakeFirstOrThrow();
  expect(unlocked.unlocked_at).toBeInstanceOf(Date);
  await pledge(c.id, (await user()).auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  const told = await api.context.database.db.selectFrom('notifications').select('recipient_id').where('template', '=', 'stretch_goal_unlocked').execute();
  expect(told).toHaveLength(2);
  const detail = await request(api.app).get(`/api/campaigns/${c.id}`).expect(200);
  expect(detail.body).toMatchObject({ raised: '80.00', backers: 3 });
  expect(detail.body.stretchGoals[0].unlockedAt).toEqual(expect.any(String));
});

describe('cancelling and listing pledges', () => {
  it('cancels a hold on Stripe, frees the reward unit, and lists the pledge as cancelled', async () => {
    const c = await campaign();
    const reward = await api.context.database.db.insertInto('rewards').values({ campaign_id: c.id, title: 'Pin', min_pledge: 1_000, limit_qty: 5 }).returningAll().executeTakeFirstOrThrow();
    const backer = await user();
    const placed = await pledge(c.id, backer.auth, { amount: '25.00', rewardId: reward.id, paymentMethodId: 'pm_card_visa' }).expect(201);
    await request(api.app).delete(`/api/pledges/${placed.body.id}`).set((await user()).auth).expect(403);
    const cancelled = await request(api.app).delete(`/api/pledges/${placed.body.id}`).set(backer.auth).expect(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });
    const stored = await row(placed.body.id as string);
    expect(stored.status).toBe('cancelled');
    expect((await stripe.stripe.paymentIntents.retrieve(stored.payment_intent_id!)).status).toBe('canceled');
    const claimed = await api.context.database.db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
    expect(claimed.claimed_qty).toBe(0);
    await request(api.app).delete(`/api/pledges/${placed.body.id}`).set(backer.auth).expect(409);
    const mine = await request(api.app).get('/api/me/pledges').set(backer.auth).expect(200);
    expect(mine.body.data).toEqual([expect.objectContaining({ id: placed.body.id, status: 'cancelled', amount: '25.00', campaign: expect.objectContaining({ id: c.id }) })]);
    // A backer may pledge again once the earlier pledge is no longer live.
    await pledge(c.id, backer.auth, { amount: '30.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  });

  it('refuses to cancel after the deadline', async () => {
    const c = await campaign();
    const backer = await user();
    const placed = await pledge(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
    await api.context.database.db.updateTable('campaigns').set({ status: 'settling' }).where('id', '=', c.id).execute();
    expect((await request(api.app).delete(`/api/pledges/${placed.body.id}`).set(backer.auth).expect(409)).body.error.code).toBe('pledging_closed');
    await request(api.app).delete(`/api/pledges/${randomUUID()}`).set(backer.auth).expect(404);
    await request(api.app).delete('/api/pledges/not-a-uuid').set(backer.auth).expect(400);
    await request(api.app).get('/api/me/pledges').expect(401);
  });
});

test('Stripe applied the hold but the response was lost: the retry with the same key replays it, one hold exists', async () => {
  const c = await campaign();
  const backer = await user();
  await stripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/payment_intents$', count: 1 });
  const before = stripe.standin.state.paymentIntents.size;
  const response = await pledge(c.id, backer.auth, { amount: '42.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  expect(response.body.status).toBe('authorized');
  expect(stripe.standin.state.paymentIntents.size).toBe(before + 1);
  const attempts = (await stripe.requests()).filter((r) => r.idempotencyKey === `pledge-${response.body.id}-authorize`);
  expect(attempts.map((r) => [r.fault ?? null, r.replayed])).toEqual([['lost', false], [null, true]]);
});

describe('the pending-pledge sweep', () => {
  it('settles a pledge whose placement never got an answer, with one Stripe object, whatever Stripe had done', async () => {
    const c = await campaign();
    // Stripe applies the hold but the answer is lost, and the SDK's retries cannot connect: the API answers 503
    // and the pledge stays pending, with a hold on Stripe that our database does not know yet.
    await stripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/payment_intents$', count: 1 });
    await stripe.injectFault({ kind: 'reset', method: 'POST', path: '^/v1/payment_intents$', count: 2 });
    const backer = await user();
    const response = await pledge(c.id, backer.auth, { amount: '33.00', paymentMethodId: 'pm_card_visa' }).expect(503);
    expect(response.body.error.code).toBe('payment_provider_unavailable');
    const pending = await api.context.database.db.selectFrom('pledges').selectAll().where('backer_id', '=', backer.id).executeTakeFirstOrThrow();
    expect(pending).toMatchObject({ status: 'pending', placement: 'hold' });

    expect(await resolvePendingPledges({ database: api.context.database, stripe: stripe.stripe }, { olderThanMs: 0 })).toBeGreaterThanOrEqual(1);
    const settled = await row(pending.id);
    expect(settled.status).toBe('authorized');
    const applied = (await stripe.requests()).filter((r) => r.idempotencyKey === `pledge-${pending.id}-authorize` && r.status === 200);
    expect(applied.map((r) => r.replayed)).toEqual([false, true]); // applied once (answer lost), replayed to the sweep
    const holds = [...stripe.standin.state.paymentIntents.values()].filter((intent) => intent.metadata.pledge_id === pending.id);
    expect(holds).toHaveLength(1);
    expect(holds[0]!.id).toBe(settled.payment_intent_id);
    expect(await resolvePendingPledges({ database: api.context.database, stripe: stripe.stripe }, { olderThanMs: 0 })).toBe(0);
  });

  it('fails a pending pledge whose card Stripe declines, freeing its reward unit', async () => {
    const c = await campaign();
    const reward = await api.context.database.db.insertInto('rewards').values({ campaign_id: c.id, title: 'Pin', min_pledge: 1_000, limit_qty: 2 }).returningAll().executeTakeFirstOrThrow();
    await stripe.injectFault({ kind: 'reset', method: 'POST', path: '^/v1/payment_intents$', count: 3 });
    const backer = await user();
    await pledge(c.id, backer.auth, { amount: '20.00', rewardId: reward.id, paymentMethodId: 'pm_card_chargeDeclined' }).expect(503);
    await resolvePendingPledges({ database: api.context.database, stripe: stripe.stripe }, { olderThanMs: 0 });
    const failed = await api.context.database.db.selectFrom('pledges').selectAll().where('backer_id', '=', backer.id).executeTakeFirstOrThrow();
    expect(failed).toMatchObject({ status: 'failed', failure_code: 'generic_decline' });
    const claimed = await api.context.database.db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
    expect(claimed.claimed_qty).toBe(0);
  });
});

describe('changing a pledge', () => {
  it('re-authorizes a held pledge for the new amount before releasing the old hold', async () => {
    const c = await campaign();
    const backer = await user();
    const placed = await pledge(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
    const before = await row(placed.body.id as string);
    await request(api.app).patch(`/api/pledges/${placed.body.id}`).set((await user()).auth).send({ amount: '40.00' }).expect(403);
    await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({}).expect(400);
    const changed = await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ amount: '40.00' }).expect(200);
    expect(changed.body).toMatchObject({ amount: '40.00', status: 'authorized' });
    const after = await row(placed.body.id as string);
    expect(after.revision).toBe(1);
    expect(after.payment_intent_id).not.toBe(before.payment_intent_id);
    expect(await stripe.stripe.paymentIntents.retrieve(after.payment_intent_id!)).toMatchObject({ status: 'requires_capture', amount: 4_000 });
    expect((await stripe.stripe.paymentIntents.retrieve(before.payment_intent_id!)).status).toBe('canceled');
    // A second change releases the second hold under its own key.
    await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ amount: '45.00' }).expect(200);
    expect((await stripe.stripe.paymentIntents.retrieve(after.payment_intent_id!)).status).toBe('canceled');
    expect((await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ amount: '1000000.00' }).expect(422)).body.error.code).toBe('amount_above_currency_maximum');
  });

  it('answers 503 with Retry-After while Stripe fails, and the pledge stays as it was', async () => {
    const c = await campaign();
    const backer = await user();
    const placed = await pledge(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
    await stripe.injectFault({ kind: '500', method: 'POST', path: '^/v1/payment_intents$' });
    try {
      const refused = await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ amount: '40.00' }).expect(503);
      expect(refused.body.error.code).toBe('payment_provider_unavailable');
      expect(refused.headers['retry-after']).toBe('1');
    } finally {
      await stripe.clearFaults();
    }
    expect(await row(placed.body.id as string)).toMatchObject({ amount: 2_500, status: 'authorized', revision: 0 });
    await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ amount: '40.00' }).expect(200);
  });

  it('moves a saved-card pledge to another reward atomically; a sold-out reward changes nothing', async () => {
    const c = await campaign({ endsInMs: 30 * DAY });
    const db = api.context.database.db;
    const open = await db.insertInto('rewards').values({ campaign_id: c.id, title: 'Mug', min_pledge: 1_000, limit_qty: 5 }).returningAll().executeTakeFirstOrThrow();
    const full = await db.insertInto('rewards').values({ campaign_id: c.id, title: 'Print', min_pledge: 1_000, limit_qty: 1, claimed_qty: 1 }).returningAll().executeTakeFirstOrThrow();
    const backer = await user();
    const placed = await pledge(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
    expect((await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ rewardId: full.id }).expect(409)).body.error.code).toBe('reward_sold_out');
    await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ rewardId: open.id, amount: '30.00' }).expect(200);
    const stored = await row(placed.body.id as string);
    expect(stored).toMatchObject({ reward_id: open.id, amount: 3_000, payment_intent_id: null });
    const claimed = await db.selectFrom('rewards').select(['id', 'claimed_qty']).where('campaign_id', '=', c.id).orderBy('title').execute();
    expect(claimed.map((r) => r.claimed_qty)).toEqual([1, 1]);
    expect((await request(api.app).patch(`/api/pledges/${placed.body.id}`).set(backer.auth).send({ amount: '5.00' }).expect(422)).body.error.code).toBe('amount_below_reward_minimum');
  });

  it('refuses to change a charged keep-it-all pledge or any pledge after the deadline', async () => {
    const kia = await campaign({ model: 'kia' });
    const backer = await user();
    const charged = await pledge(kia.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
    expect((await request(api.app).patch(`/api/pledges/${charged.body.id}`).set(backer.auth).send({ amount: '30.00' }).expect(409)).body.error.code).toBe('pledge_charged');
    const c = await campaign();
    const held = await pledge(c.id, backer.auth, { amount: '25.00', paymentMethodId: 'pm_card_visa' }).expect(201);
    await api.context.database.db.updateTable('campaigns').set({ status: 'settling' }).where('id', '=', c.id).execute();
    expect((await request(api.app).patch(`/api/pledges/${held.body.id}`).set(backer.auth).send({ amount: '30.00' }).expect(409)).body.error.code).toBe('pledging_closed');
  });
});

test('a refund made in Stripe’s dashboard reaches the ledger once through charge.refunded; our own refunds are left to us', async () => {
  const c = await campaign({ model: 'kia' });
  const placed = await pledge(c.id, (await user()).auth, { amount: '50.00', paymentMethodId: 'pm_card_visa' }).expect(201);
  const stored = await row(placed.body.id as string);
  await stripe.stripe.refunds.create({ payment_intent: stored.payment_intent_id!, amount: 1_500 });
  await stripe.stripe.refunds.create({ payment_intent: stored.payment_intent_id!, amount: 500, metadata: { refund_id: randomUUID() } });
  const charge = await stripe.stripe.charges.retrieve((await stripe.stripe.paymentIntents.retrieve(stored.payment_intent_id!)).latest_charge as string);
  const events = await stripe.stripe.events.list({ type: 'charge.refunded', limit: 100 });
  const event = events.data.find((e) => (e.data.object as { id: string }).id === charge.id)!;
  const payload = JSON.stringify(event);
  const signature = stripe.stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
  await request(api.app).post('/api/webhooks/stripe').set('Stripe-Signature', signature).set('Content-Type', 'application/json').send(payload).expect(200);
  const refunded = await row(stored.id);
  expect(refunded).toMatchObject({ amount_refunded: 1_500, status: 'captured' });
  const ledger = await api.context.database.db.selectFrom('ledger_entries').select(['kind', 'amount']).where('pledge_id', '=', stored.id).where('kind', '=', 'refund').execute();
  expect(ledger).toEqual([{ kind: 'refund', amount: 1_500 }]);
});
