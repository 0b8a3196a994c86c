/**
 * Fault drill: Stripe's webhooks duplicated, reordered, delayed by hours and forged. The events are the ones the
 * Stripe stand-in produced for each scenario (`stripe.events.list`), delivered to the API signed with the endpoint
 * secret as Stripe signs them, in the numbers and orders a real endpoint sees. Each scenario ends in a state asserted
 * exactly against Stripe's own objects, the campaign's ledger reconciles to the pledge rows and to Stripe, forgeries
 * change nothing, and no delivery is answered with a 5xx, but for the one refund event that overtook the record of
 * its capture, which the endpoint asks Stripe to deliver again.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type Stripe from 'stripe';
import { createPledgeSettlementActivities } from '../../activities/pledge-settlement';
import { createMailer } from '../../src/notifications/mailer';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { type CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

const WEBHOOK_SECRET = 'whsec_webhook_drills';
const HOUR_S = 3600;
/** What `stripe.webhooks.constructEvent` accepts by default, and Stripe's documented replay window. */
const SIGNATURE_TOLERANCE_S = 300;

let api: TestApi;
let stripe: TestStripe;
const connectAccountUpdated = jest.fn(async (_campaignId: string) => undefined);

beforeAll(async () => {
  stripe = await startTestStripe();
  const campaignWorkflows = { connectAccountUpdated } as unknown as CampaignWorkflows;
  api = await createTestApi({ STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET }, { stripe: stripe.stripe, campaignWorkflows });
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});
beforeEach(() => connectAccountUpdated.mockClear());

const db = () => api.context.database.db;

// ---------------------------------------------------------------------------------------------------------------
// Deliveries

async function post(payload: string, signature?: string) {
  const call = request(api.app).post('/api/webhooks/stripe').set('Content-Type', 'application/json');
  const response = await (signature === undefined ? call : call.set('Stripe-Signature', signature)).send(payload);
  // Whatever arrives, the endpoint answers for itself: a 5xx would have Stripe retry a delivery that can never work.
  expect(response.status).toBeLessThan(500);
  return response;
}

function sign(payload: string, options: { secret?: string; timestamp?: number; scheme?: string } = {}) {
  return stripe.stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? WEBHOOK_SECRET, ...options });
}

/** Delivers one event as Stripe does, signed now (or at `signedAt`, seconds since the epoch). */
async function deliver(event: Stripe.Event, signedAt?: number) {
  const payload = JSON.stringify(event);
  return post(payload, sign(payload, signedAt === undefined ? {} : { timestamp: signedAt }));
}

async function deliverInOrder(events: Stripe.Event[]) {
  for (const event of events) expect((await deliver(event)).status).toBe(200);
}

async function deliverAllAtOnce(events: Stripe.Event[]) {
  const responses = await Promise.all(events.map((event) => deliver(event)));
  expect(responses.map((response) => response.status)).toEqual(events.map(() => 200));
  return responses;
}

/** Every event the stand-in emitted about these objects, oldest first. */
async function eventsAbout(...objectIds: string[]): Promise<Stripe.Event[]> {
  const events: Stripe.Event[] = [];
  for await (const event of stripe.stripe.events.list({ limit: 100 })) {
    if (objectIds.includes((event.data.object as { id: string }).id)) events.push(event);
  }
  return events.reverse();
}

/** A reproducible shuffle (mulberry32), so a failing order can be replayed from its seed. */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, index) => permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]));
}

const ordering = {
  chronological: (events: Stripe.Event[]) => events,
  reversed: (events: Stripe.Event[]) => [...events].reverse(),
  'shuffled (seed 7)': (events: Stripe.Event[]) => shuffled(events, 7),
  'shuffled (seed 1234)': (events: Stripe.Event[]) => shuffled(events, 1234),
  'shuffled (seed 99991)': (events: Stripe.Event[]) => shuffled(events, 99_991),
};

// ---------------------------------------------------------------------------------------------------------------
// Fixtures: users, campaigns and pledges made through the API as a backer would

const user = () => tokenUser(api, 'Drill');

async function campaign(options: { model: 'aon' | 'kia'; status?: 'active' | 'funded'; creatorId?: string }) {
  const row = await campaignRow(api, { ...options, title: 'Drill lamp' });
  const reward = await db().insertInto('rewards').values({ campaign_id: row.id, title: 'Pin', min_pledge: 1_000, limit_qty: 1 }).returningAll().executeTakeFirstOrThrow();
  return { ...row, rewardId: reward.id };
}

/** A new backer's pledge through the API, as the browser places it; the API's answer and the pledge's row. */
async function placeThroughApi(campaignId: string, body: { amount: string; paymentMethodId: string; rewardId?: string }) {
  const backer = await user();
  const response = await request(api.app).post(`/api/campaigns/${campaignId}/pledges`).set(backer.auth).set('Idempotency-Key', randomUUID()).send(body).expect(201);
  return { backer, status: response.body.status as string, pledge: await pledgeRow(response.body.id as string) };
}

/** A pledge by a card that asks for 3-D Secure: the API answers `requires_action`, the webhook is to finish it. */
async function pledgeNeedingAuthentication(model: 'aon' | 'kia', amount = '25.00') {
  const c = await campaign({ model });
  const { backer, status, pledge } = await placeThroughApi(c.id, { amount, rewardId: c.rewardId, paymentMethodId: 'pm_card_authenticationRequired' });
  expect(status).toBe('requires_action');
  return { campaign: c, backer, pledgeId: pledge.id, intentId: pledge.payment_intent_id! };
}

const pledgeRow = (id: string) => db().selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function intentWithCharge(intentId: string) {
  const intent = await stripe.stripe.paymentIntents.retrieve(intentId, { expand: ['latest_charge.balance_transaction'] });
  const charge = intent.latest_charge as Stripe.Charge;
  return { intent, charge, balance: charge.balance_transaction as Stripe.BalanceTransaction };
}

/** A refund made by staff in Stripe's dashboard: no metadata of ours. */
const dashboardRefund = (intentId: string, amount?: number) => stripe.stripe.refunds.create({ payment_intent: intentId, ...(amount ? { amount } : {}) });

// ---------------------------------------------------------------------------------------------------------------
// Assertions

async function ledgerOf(pledgeId: string) {
  const rows = await db().selectFrom('ledger_entries').select(['kind', 'amount', 'stripe_object_id']).where('pledge_id', '=', pledgeId).execute();
  return rows.sort((a, b) => `${a.kind}${a.stripe_object_id}`.localeCompare(`${b.kind}${b.stripe_object_id}`));
}

/**
 * The pledge is exactly what Stripe says its PaymentIntent collected and refunded: status, amounts, fee, one ledger
 * entry per Stripe object, one refund row per Stripe refund, and the receipt sent once.
 */
async function expectPledgeMatchesStripe(pledgeId: string, intentId: string) {
  const { intent, charge, balance } = await intentWithCharge(intentId);
  const refunds = (await stripe.stripe.refunds.list({ payment_intent: intentId, limit: 100 })).data;
  const pledge = await pledgeRow(pledgeId);
  expect(intent.status).toBe('succeeded');
  expect({
    status: pledge.status,
    amount_captured: pledge.amount_captured,
    processing_fee: pledge.processing_fee,
    amount_refunded: pledge.amount_refunded,
  }).toEqual({
    status: charge.amount_refunded >= charge.amount_captured ? 'refunded' : 'captured',
    amount_captured: intent.amount_received,
    processing_fee: balance.fee,
    amount_refunded: charge.amount_refunded,
  });
  expect(pledge.amount_captured).toBe(pledge.amount);
  const expected = [
    { kind: 'capture', amount: intent.amount_received, stripe_object_id: charge.id },
    { kind: 'processing_fee', amount: balance.fee, stripe_object_id: balance.id },
    ...refunds.map((refund) => ({ kind: 'refund', amount: refund.amount, stripe_object_id: refund.id })),
  ].sort((a, b) => `${a.kind}${a.stripe_object_id}`.localeCompare(`${b.kind}${b.stripe_object_id}`));
  expect(await ledgerOf(pledgeId)).toEqual(expected);
  const refundRows = await db().selectFrom('refunds').select(['stripe_refund_id', 'amount', 'status']).where('pledge_id', '=', pledgeId).execute();
  const byStripeId = (a: { stripe_refund_id: string | null }, b: { stripe_refund_id: string | null }) => (a.stripe_refund_id ?? '').localeCompare(b.stripe_refund_id ?? '');
  expect(refundRows.sort(byStripeId)).toEqual(refunds.map((refund) => ({ stripe_refund_id: refund.id, amount: refund.amount, status: 'succeeded' })).sort(byStripeId));
  const receipts = await db().selectFrom('notifications').select('id').where('dedupe_key', '=', `pledge-${pledgeId}-receipt`).execute();
  expect(receipts).toHaveLength(1);
}

/** captured - refunded = transfers - reversals + commission + fees + held, proven against pledges, refunds and Stripe. */
async function expectLedgerBalanced(campaignId: string) {
  const report = await reconcileCampaign(db(), campaignId, stripe.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.breakdown.held).toBe(report.breakdown.netCollected - report.breakdown.processingFees);
}

/**
 * Three account.updated events the stand-in emits for one account: the creator submits details (nothing enabled
 * yet), finishes onboarding (everything enabled), and, in the longer story, Stripe pauses payouts pending
 * verification. The stand-in has no control for the first and last, so its state is changed in-process and the
 * event emitted as Stripe would emit it.
 */
async function accountStory(options: { pausedAtTheEnd: boolean }) {
  const creator = await user();
  const account = await stripe.stripe.accounts.create({ type: 'express', country: 'US' });
  await db().updateTable('users').set({ stripe_account_id: account.id }).where('id', '=', creator.id).execute();
  const waiting = await campaign({ model: 'aon', status: 'funded', creatorId: creator.id });
  const stored = stripe.standin.state.account(account.id);
  stored.details_submitted = true;
  stripe.standin.state.emit('account.updated', stored);
  const link = await stripe.stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://ok' });
  await fetch(link.url);
  if (options.pausedAtTheEnd) {
    stored.payouts_enabled = false;
    stored.capabilities = { ...stored.capabilities, transfers: 'inactive' };
    stripe.standin.state.emit('account.updated', stored);
  }
  const events = (await eventsAbout(account.id)).filter((event) => event.type === 'account.updated');
  expect(events).toHaveLength(options.pausedAtTheEnd ? 3 : 2);
  return { creator, account, waiting, events };
}

async function expectFlagsAsStripeHasThem(userId: string, accountId: string) {
  const now = await stripe.stripe.accounts.retrieve(accountId);
  const flags = await db().selectFrom('users').select(['charges_enabled', 'payouts_enabled', 'details_submitted']).where('id', '=', userId).executeTakeFirstOrThrow();
  expect(flags).toEqual({ charges_enabled: now.charges_enabled, payouts_enabled: now.payouts_enabled, details_submitted: now.details_submitted });
}

async function claimedUnits(rewardId: string) {
  return (await db().selectFrom('rewards').select('claimed_qty').where('id', '=', rewardId).executeTakeFirstOrThrow()).claimed_qty;
}

async function recordedEvents(ids: string[]) {
  if (ids.length === 0) return [];
  return db().selectFrom('stripe_events').select(['id', 'processed_at']).where('id', 'in', ids).execute();
}

// ---------------------------------------------------------------------------------------------------------------

describe('duplicated deliveries are acted on once', () => {
  test('every event of a 3-D Secure charge, three times at once and then again: captured once, one capture and one fee entry', async () => {
    const { campaign: c, pledgeId, intentId } = await pledgeNeedingAuthentication('kia');
    await stripe.authenticate('payment_intents', intentId);
    const { charge } = await intentWithCharge(intentId);
    const events = await eventsAbout(intentId, charge.id);
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['payment_intent.requires_action', 'payment_intent.succeeded', 'charge.succeeded']));

    await deliverAllAtOnce(events.flatMap((event) => [event, event, event]));
    for (const event of events) expect((await deliver(event)).body).toEqual({ received: true, duplicate: true });

    await expectPledgeMatchesStripe(pledgeId, intentId);
    expect(await claimedUnits(c.rewardId)).toBe(1);
    const recorded = await recordedEvents(events.map((event) => event.id));
    expect(recorded).toHaveLength(events.length);
    expect(recorded.every((event) => event.processed_at instanceof Date)).toBe(true);
    await expectLedgerBalanced(c.id);
  });

  test('each dashboard refund’s charge.refunded, three times at once: every refund counted once, to the full refund', async () => {
    const c = await campaign({ model: 'kia' });
    const { id: pledgeId, payment_intent_id: intentId } = (await placeThroughApi(c.id, { amount: '50.00', paymentMethodId: 'pm_card_visa' })).pledge;
    const { charge } = await intentWithCharge(intentId!);
    await dashboardRefund(intentId!, 1_500);
    await dashboardRefund(intentId!, 700);
    const partial = (await eventsAbout(charge.id)).filter((event) => event.type === 'charge.refunded');
    expect(partial).toHaveLength(2);
    await deliverAllAtOnce(partial.flatMap((event) => [event, event, event]));
    await expectPledgeMatchesStripe(pledgeId, intentId!);
    expect((await pledgeRow(pledgeId)).amount_refunded).toBe(2_200);
    await expectLedgerBalanced(c.id);

    await dashboardRefund(intentId!);
    const last = (await eventsAbout(charge.id)).filter((event) => event.type === 'charge.refunded' && !partial.some((seen) => seen.id === event.id));
    await deliverAllAtOnce([...last, ...last]);
    await expectPledgeMatchesStripe(pledgeId, intentId!);
    expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'refunded', amount_refunded: 5_000 });
    await expectLedgerBalanced(c.id);
  });
  test('account.updated events of one account, each twice, all at once: the flags Stripe has now, the waiting payout woken', async () => {
    const { creator, account, waiting, events } = await accountStory({ pausedAtTheEnd: false });
    await deliverAllAtOnce([...events, ...events]);
    await expectFlagsAsStripeHasThem(creator.id, account.id);
    expect(await recordedEvents(events.map((event) => event.id))).toHaveLength(events.length);
    expect(connectAccountUpdated).toHaveBeenCalledWith(waiting.id);
  });
});

describe('reordered deliveries leave the state Stripe is in', () => {
  test.each(Object.keys(ordering) as Array<keyof typeof ordering>)(
    'a 3-D Secure charge then refunded in the dashboard, its events delivered %s',
    async (order) => {
      const { campaign: c, pledgeId, intentId } = await pledgeNeedingAuthentication('kia');
      await stripe.authenticate('payment_intents', intentId);
      await dashboardRefund(intentId, 1_000);
      const { charge } = await intentWithCharge(intentId);
      const events = await eventsAbout(intentId, charge.id);
      const delivered = ordering[order](events);
      if (order !== 'chronological') expect(delivered.map((event) => event.id)).not.toEqual(events.map((event) => event.id));

      await deliverInOrder(delivered);

      await expectPledgeMatchesStripe(pledgeId, intentId);
      expect((await pledgeRow(pledgeId)).amount_refunded).toBe(1_000);
      expect(await claimedUnits(c.rewardId)).toBe(1);
      await expectLedgerBalanced(c.id);
    },
  );

  test.each(['chronological', 'reversed'] as const)(
    'a failed challenge the backer retried successfully, its events delivered %s after the fact: captured, not failed',
    async (order) => {
      const { campaign: c, pledgeId, intentId } = await pledgeNeedingAuthentication('kia');
      await stripe.authenticate('payment_intents', intentId, { fail: true });
      // Stripe.js confirms again with the client secret; the stand-in takes the same request with the secret key.
      expect((await stripe.stripe.paymentIntents.confirm(intentId)).status).toBe('requires_action');
      await stripe.authenticate('payment_intents', intentId);
      const { charge } = await intentWithCharge(intentId);
      const events = await eventsAbout(intentId, charge.id);
      expect(events.map((event) => event.type)).toContain('payment_intent.payment_failed');

      await deliverInOrder(ordering[order](events));

      await expectPledgeMatchesStripe(pledgeId, intentId);
      expect(await claimedUnits(c.rewardId)).toBe(1);
      await expectLedgerBalanced(c.id);
    },
  );

  test('a failed challenge whose webhook arrives before the backer retries: the pledge fails and the retry can take no money', async () => {
    const { campaign: c, pledgeId, intentId } = await pledgeNeedingAuthentication('kia');
    await stripe.authenticate('payment_intents', intentId, { fail: true });
    const failed = (await eventsAbout(intentId)).find((event) => event.type === 'payment_intent.payment_failed')!;
    await deliverAllAtOnce([failed, failed]);
    expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'failed', failure_code: 'payment_intent_authentication_failure', amount_captured: 0 });
    expect(await claimedUnits(c.rewardId)).toBe(0);

    await expect(stripe.stripe.paymentIntents.confirm(intentId)).rejects.toMatchObject({ code: 'payment_intent_unexpected_state' });
    const intent = await stripe.stripe.paymentIntents.retrieve(intentId);
    expect(intent).toMatchObject({ status: 'canceled', amount_received: 0 });
    await deliverInOrder(await eventsAbout(intentId));
    expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'failed', amount_captured: 0 });
    expect(await ledgerOf(pledgeId)).toEqual([]);
    await expectLedgerBalanced(c.id);
  });

  test.each(permutations([0, 1]).map((order) => [order.join(' then ')]))(
    'account.updated about onboarding, delivered in the order %s: payouts enabled after every delivery, and the waiting payout woken',
    async (order) => {
      const { creator, account, waiting, events } = await accountStory({ pausedAtTheEnd: false });
      for (const index of order.split(' then ').map(Number)) {
        expect((await deliver(events[index]!)).status).toBe(200);
        await expectFlagsAsStripeHasThem(creator.id, account.id);
      }
      expect(await db().selectFrom('users').select('payouts_enabled').where('id', '=', creator.id).executeTakeFirstOrThrow()).toEqual({ payouts_enabled: true });
      expect(connectAccountUpdated).toHaveBeenCalledWith(waiting.id);
    },
  );

  test.each(permutations([0, 1, 2]).map((order) => [order.join(' then ')]))(
    'account.updated about an account onboarded and then paused, delivered in the order %s: never re-enabled by an older event',
    async (order) => {
      const { creator, account, events } = await accountStory({ pausedAtTheEnd: true });
      for (const index of order.split(' then ').map(Number)) {
        expect((await deliver(events[index]!)).status).toBe(200);
        await expectFlagsAsStripeHasThem(creator.id, account.id);
      }
      expect(await db().selectFrom('users').select(['payouts_enabled', 'details_submitted']).where('id', '=', creator.id).executeTakeFirstOrThrow()).toEqual({
        payouts_enabled: false,
        details_submitted: true,
      });
      expect(connectAccountUpdated).not.toHaveBeenCalled();
    },
  );
});

describe('deliveries delayed by hours', () => {
  test('a hold the backer cancelled while its webhooks were six hours late: stays cancelled, nothing held or recorded', async () => {
    const { campaign: c, backer, pledgeId, intentId } = await pledgeNeedingAuthentication('aon');
    await stripe.authenticate('payment_intents', intentId);
    await request(api.app).delete(`/api/pledges/${pledgeId}`).set(backer.auth).expect(200);
    await stripe.advanceClock(6 * HOUR_S);
    const events = await eventsAbout(intentId);
    const authorized = events.find((event) => event.type === 'payment_intent.amount_capturable_updated')!;
    expect(stripe.standin.state.nowSeconds - authorized.created).toBeGreaterThanOrEqual(6 * HOUR_S);

    await deliverInOrder(events);
    await deliverInOrder([...events].reverse());

    expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'cancelled', amount_captured: 0 });
    expect((await stripe.stripe.paymentIntents.retrieve(intentId)).status).toBe('canceled');
    expect(await claimedUnits(c.rewardId)).toBe(0);
    expect(await ledgerOf(pledgeId)).toEqual([]);
    await expectLedgerBalanced(c.id);
  });

  test('a hold authenticated, whose webhook arrives after Stripe let the hold lapse: authorized with the lapsed hold, for the saved card', async () => {
    const { campaign: c, pledgeId, intentId } = await pledgeNeedingAuthentication('aon');
    await stripe.authenticate('payment_intents', intentId);
    const authorized = (await eventsAbout(intentId)).find((event) => event.type === 'payment_intent.amount_capturable_updated')!;
    await stripe.advanceClock(8 * 24 * HOUR_S);

    await deliverAllAtOnce([authorized, authorized]);

    const intent = await stripe.stripe.paymentIntents.retrieve(intentId);
    expect(intent).toMatchObject({ status: 'canceled', cancellation_reason: 'automatic' });
    const pledge = await pledgeRow(pledgeId);
    expect({ status: pledge.status, payment_method_id: pledge.payment_method_id, hold_expires_at: pledge.hold_expires_at?.getTime() }).toEqual({
      status: 'authorized',
      payment_method_id: intent.payment_method,
      hold_expires_at: intent.canceled_at! * 1000,
    });
    expect(await claimedUnits(c.rewardId)).toBe(1);
    expect(await ledgerOf(pledgeId)).toEqual([]);
  });

  test('a dashboard refund whose event overtakes settlement’s record of the capture: deferred for Stripe to redeliver, then recorded once', async () => {
    const c = await campaign({ model: 'aon' });
    const { pledge } = await placeThroughApi(c.id, { amount: '40.00', paymentMethodId: 'pm_card_visa' });
    const pledgeId = pledge.id;
    const intentId = pledge.payment_intent_id!;
    // Settlement's capture reached Stripe, but its activity has not recorded it yet (its answer was lost; it retries).
    await stripe.stripe.paymentIntents.capture(intentId);
    await dashboardRefund(intentId, 1_200);
    const { charge } = await intentWithCharge(intentId);
    const refunded = (await eventsAbout(charge.id)).find((event) => event.type === 'charge.refunded')!;

    const payload = JSON.stringify(refunded);
    const early = await request(api.app).post('/api/webhooks/stripe').set('Content-Type', 'application/json').set('Stripe-Signature', sign(payload)).send(payload);
    expect({ status: early.status, code: early.body.error?.code }).toEqual({ status: 503, code: 'capture_not_recorded_yet' });
    expect(await ledgerOf(pledgeId)).toEqual([]);
    expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'authorized', amount_captured: 0, amount_refunded: 0 });
    expect(await recordedEvents([refunded.id])).toEqual([{ id: refunded.id, processed_at: null }]);

    const settlement = createPledgeSettlementActivities({ database: api.context.database, stripe: stripe.stripe, config: api.context.config, mailer: createMailer({ from: 'drills@example.com' }) });
    await settlement.capturePledge({ pledgeId, attempt: 1 });
    expect((await deliver(refunded)).body).toEqual({ received: true });
    expect((await deliver(refunded)).body).toEqual({ received: true, duplicate: true });

    await expectPledgeMatchesStripe(pledgeId, intentId);
    expect((await pledgeRow(pledgeId)).amount_refunded).toBe(1_200);
    await expectLedgerBalanced(c.id);
  });

  test('a delivery signed more than five minutes ago is refused as a replay; the same event signed now is applied', async () => {
    const { pledgeId, intentId } = await pledgeNeedingAuthentication('aon');
    await stripe.authenticate('payment_intents', intentId);
    const events = await eventsAbout(intentId);
    const authorized = events.find((event) => event.type === 'payment_intent.amount_capturable_updated')!;
    const now = Math.floor(Date.now() / 1000);

    const replayed = await deliver(authorized, now - SIGNATURE_TOLERANCE_S - 60);
    expect(replayed.status).toBe(400);
    expect(replayed.body).toEqual({ error: { code: 'invalid_signature', message: expect.any(String) } });
    expect(await recordedEvents([authorized.id])).toEqual([]);
    expect((await pledgeRow(pledgeId)).status).toBe('requires_action');

    const requiresAction = events.find((event) => event.type === 'payment_intent.requires_action')!;
    expect((await deliver(requiresAction, now - SIGNATURE_TOLERANCE_S + 60)).status).toBe(200);
    expect((await deliver(authorized)).body).toEqual({ received: true });
    expect((await pledgeRow(pledgeId)).status).toBe('authorized');
  });
});

describe('forged deliveries are refused and change nothing', () => {
  test('wrong secret, tampered body, missing or garbage header, another body’s signature: 400 invalid_signature, nothing recorded', async () => {
    const { campaign: c, pledgeId, intentId } = await pledgeNeedingAuthentication('kia');
    await stripe.authenticate('payment_intents', intentId);
    const { charge } = await intentWithCharge(intentId);
    const genuine = await eventsAbout(intentId, charge.id);
    const succeeded = genuine.find((event) => event.type === 'payment_intent.succeeded')!;
    const creator = await user();
    const account = await stripe.stripe.accounts.create({ type: 'express', country: 'US' });
    await db().updateTable('users').set({ stripe_account_id: account.id }).where('id', '=', creator.id).execute();
    const link = await stripe.stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://ok' });
    await fetch(link.url);
    const onboarded = (await eventsAbout(account.id)).find((event) => event.type === 'account.updated')!;

    const payload = JSON.stringify(succeeded);
    const accountPayload = JSON.stringify(onboarded);
    const validSignature = sign(payload);
    const [, timestamp, digest] = /^t=(\d+),v1=([0-9a-f]+)/.exec(validSignature)!;
    const tampered = payload.replace(/"amount_received":\d+/, '"amount_received":1');
    expect(tampered).not.toBe(payload);
    const forgeries: Array<[string, string, string | undefined]> = [
      ['signed with another secret', payload, sign(payload, { secret: 'whsec_not_ours' })],
      ['body changed after signing', tampered, validSignature],
      ['same JSON, other bytes', JSON.stringify(succeeded, null, 2), validSignature],
      ['no Stripe-Signature header', payload, undefined],
      ['empty header', payload, ''],
      ['garbage header', payload, 'garbage'],
      ['no timestamp', payload, `v1=${digest}`],
      ['no v1 signature', payload, `t=${timestamp}`],
      ['a v0 signature only', payload, sign(payload, { scheme: 'v0' })],
      ['a made-up digest', payload, `t=${timestamp},v1=${'0'.repeat(64)}`],
      ['the account event’s valid signature over the payment event', payload, sign(accountPayload)],
      ['the payment event’s valid signature over the account event', accountPayload, validSignature],
    ];
    const eventsBefore = (await db().selectFrom('stripe_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n;

    for (const [name, body, signature] of forgeries) {
      const response = await post(body, signature);
      expect({ name, status: response.status, body: response.body }).toEqual({ name, status: 400, body: { error: { code: 'invalid_signature', message: expect.any(String) } } });
    }

    expect((await db().selectFrom('stripe_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n).toBe(eventsBefore);
    expect(await recordedEvents([succeeded.id, onboarded.id])).toEqual([]);
    expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'requires_action', amount_captured: 0 });
    expect(await ledgerOf(pledgeId)).toEqual([]);
    expect(await db().selectFrom('users').select(['charges_enabled', 'payouts_enabled', 'details_submitted']).where('id', '=', creator.id).executeTakeFirstOrThrow()).toEqual({
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
    });

    // The genuine deliveries of the same events still do what they say.
    await deliverInOrder([...genuine, onboarded]);
    await expectPledgeMatchesStripe(pledgeId, intentId);
    await expectFlagsAsStripeHasThem(creator.id, account.id);
    await expectLedgerBalanced(c.id);
  });

  test('a correctly signed body that is not a Stripe event is a 400, never a 500', async () => {
    const shapedWrong = [
      '{"id":"evt_1","type":"payment_intent.succeeded"}',
      // Ids Postgres cannot store or that are not Stripe's: refused before the stripe_events insert.
      '{"id":"\\u0000","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}',
      '{"id":"pi_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}',
      '{"id":"evt_2","type":"payment_intent.succeeded","data":{"object":{"id":"pi_\\u0000"}}}',
    ];
    for (const body of ['not json', '{}', '[]', ...shapedWrong]) {
      const response = await post(body, sign(body));
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ error: { code: expect.stringMatching(/^invalid_(signature|event)$/), message: expect.any(String) } });
    }
    expect(await recordedEvents(['evt_1'])).toEqual([]);
  });
});
