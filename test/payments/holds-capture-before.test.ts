/**
 * Holds by the authorization's real `capture_before` (issue #16): placement relies on a hold only if Stripe lets it
 * be captured at the deadline (7 days for a customer-initiated authorization, 4 days 18 hours for a
 * merchant-initiated Visa one), and otherwise keeps the card saved and releases the hold; settlement captures a
 * hold before its `capture_before` and charges the saved card off-session once it has passed.
 */
import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { createPledgeSettlementActivities } from '../../activities/pledge-settlement';
import { type ActivityDeps } from '../../activities/deps';
import { type Campaign, type Pledge, type User } from '../../db/schema';
import { loadConfig } from '../../src/config';
import { holdExpiresAt } from '../../src/pledges/placement-outcome';
import { askStripe, ensureCustomer } from '../../src/pledges/placement-request';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../helpers/db';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

const DAY = 86_400;
const VISA_MERCHANT_INITIATED = 4 * DAY + 18 * 3_600;
const CUSTOMER_INITIATED = 7 * DAY;

let testDb: TestDatabase;
let testStripe: TestStripe;
let deps: ActivityDeps;
beforeAll(async () => {
  testDb = await createTestDatabase();
  testStripe = await startTestStripe();
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error' });
  deps = { database: testDb.database, stripe: testStripe.stripe, config, mailer: { send: async () => undefined, close: () => undefined } };
});
afterAll(async () => {
  await testDb.drop();
  await testStripe.close();
});

const db = () => testDb.database.db;
const pledgeRow = (id: string) => db().selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** An active all-or-nothing campaign ending `daysOut` days from now, a backer with a Stripe customer, and their pending held pledge. */
async function heldPledge(daysOut: number, paymentMethod = 'pm_card_visa'): Promise<{ campaign: Campaign; pledge: Pledge; backer: User; customerId: string }> {
  const user = (name: string) => db().insertInto('users').values({ email: `${randomUUID()}@example.com`, name, password_hash: 'x' }).returningAll().executeTakeFirstOrThrow();
  const creator = await user('Creator');
  const backer = await user('Backer');
  const now = Date.now();
  const campaign = await db()
    .insertInto('campaigns')
    .values({
      creator_id: creator.id,
      title: 'Kettle',
      slug: `kettle-${randomUUID()}`,
      goal_amount: 1_000,
      currency: 'USD',
      model: 'aon',
      status: 'active',
      starts_at: new Date(now - DAY * 1000),
      ends_at: new Date(now + daysOut * DAY * 1000),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const pledge = await db()
    .insertInto('pledges')
    .values({ campaign_id: campaign.id, backer_id: backer.id, amount: 5_000, currency: 'USD', placement: 'hold', payment_method_id: paymentMethod })
    .returningAll()
    .executeTakeFirstOrThrow();
  const customerId = await ensureCustomer(testDb.database, testStripe.stripe, backer);
  return { campaign, pledge, backer: { ...backer, stripe_customer_id: customerId }, customerId };
}

/** Stripe requests that were carried out (not replayed) whose path matches. */
async function madeOnStripe(path: RegExp) {
  return (await testStripe.requests()).filter((r) => r.method === 'POST' && path.test(r.path) && r.status === 200 && !r.replayed);
}

test('a merchant-initiated Visa hold (capture_before 4 days 18 h) is not relied upon for a deadline 6 days out: the card stays saved, the hold is released', async () => {
  const { campaign, pledge, customerId } = await heldPledge(6);
  // The authorization as the sweep finds it again: made off-session (merchant-initiated) on a Visa card.
  const method = await testStripe.stripe.paymentMethods.attach('pm_card_visa', { customer: customerId });
  const merchantInitiated = await testStripe.stripe.paymentIntents.create({
    amount: pledge.amount,
    currency: 'usd',
    customer: customerId,
    payment_method: method.id,
    capture_method: 'manual',
    off_session: true,
    confirm: true,
    metadata: { pledge_id: pledge.id, campaign_id: campaign.id },
    expand: ['latest_charge.balance_transaction'],
  });
  expect(merchantInitiated.status).toBe('requires_capture');
  const captureBefore = holdExpiresAt(merchantInitiated)!;
  const authorizedAt = (merchantInitiated.latest_charge as Stripe.Charge).created;
  expect(captureBefore.getTime()).toBe((authorizedAt + VISA_MERCHANT_INITIATED) * 1000);
  expect(captureBefore.getTime()).toBeLessThan(campaign.ends_at.getTime());

  const placed = await askStripe(testDb.database, testStripe.stripe, campaign, pledge, customerId, { findEarlierIntent: async () => merchantInitiated });

  expect(placed.pledge).toMatchObject({ status: 'authorized', payment_intent_id: null, hold_expires_at: null, payment_method_id: method.id });
  const released = await testStripe.stripe.paymentIntents.retrieve(merchantInitiated.id);
  expect(released).toMatchObject({ status: 'canceled', cancellation_reason: 'abandoned' });
});

test('a customer-initiated hold for a deadline 5 days out records Stripe’s capture_before and is captured at settlement', async () => {
  const { campaign, pledge, customerId } = await heldPledge(5);
  const placed = await askStripe(testDb.database, testStripe.stripe, campaign, pledge, customerId);

  expect(placed.pledge.status).toBe('authorized');
  expect(placed.pledge.payment_intent_id).toMatch(/^pi_/);
  const intent = await testStripe.stripe.paymentIntents.retrieve(placed.pledge.payment_intent_id!, { expand: ['latest_charge'] });
  const charge = intent.latest_charge as Stripe.Charge;
  expect(charge.payment_method_details!.card!.capture_before).toBe(charge.created + CUSTOMER_INITIATED);
  expect(placed.pledge.hold_expires_at!.getTime()).toBe(charge.payment_method_details!.card!.capture_before! * 1000);

  const result = await createPledgeSettlementActivities(deps).capturePledge({ pledgeId: pledge.id, attempt: 1 });
  expect(result).toMatchObject({ method: 'hold', paymentIntentId: intent.id, amountCaptured: pledge.amount });
  expect(await pledgeRow(pledge.id)).toMatchObject({ status: 'captured', amount_captured: pledge.amount, payment_intent_id: intent.id });
});

test('settling a hold whose capture_before passed (Stripe cancelled it) charges the saved card off-session', async () => {
  const { campaign, pledge, customerId } = await heldPledge(5);
  const placed = await askStripe(testDb.database, testStripe.stripe, campaign, pledge, customerId);
  const holdId = placed.pledge.payment_intent_id!;
  // Stripe's clock past the hold's capture_before: Stripe cancels it.
  await testStripe.advanceClock(CUSTOMER_INITIATED + 60);

  const result = await createPledgeSettlementActivities(deps).capturePledge({ pledgeId: pledge.id, attempt: 1 });

  expect(result.method).toBe('off_session');
  expect(result.paymentIntentId).not.toBe(holdId);
  expect(await testStripe.stripe.paymentIntents.retrieve(holdId)).toMatchObject({ status: 'canceled', cancellation_reason: 'automatic' });
  const charged = await testStripe.stripe.paymentIntents.retrieve(result.paymentIntentId);
  expect(charged).toMatchObject({ status: 'succeeded', amount_received: pledge.amount, customer: customerId });
  expect(await pledgeRow(pledge.id)).toMatchObject({ status: 'captured', amount_captured: pledge.amount, payment_intent_id: charged.id });
  const captures = await db().selectFrom('ledger_entries').select(['kind', 'amount']).where('pledge_id', '=', pledge.id).where('kind', '=', 'capture').execute();
  expect(captures).toEqual([{ kind: 'capture', amount: pledge.amount }]);
});

test('a hold whose recorded capture_before has passed is not asked to be captured: the saved card is charged straight away', async () => {
  const { campaign, pledge, customerId } = await heldPledge(5);
  const placed = await askStripe(testDb.database, testStripe.stripe, campaign, pledge, customerId);
  // Our clock says the hold has lapsed (the stand-in's has not caught up): no capture is tried.
  await db().updateTable('pledges').set({ hold_expires_at: new Date(Date.now() - 1000) }).where('id', '=', pledge.id).execute();
  await testStripe.clearRequests();

  const result = await createPledgeSettlementActivities(deps).capturePledge({ pledgeId: pledge.id, attempt: 1 });

  expect(result.method).toBe('off_session');
  expect(await madeOnStripe(new RegExp(`^/v1/payment_intents/${placed.pledge.payment_intent_id}/capture$`))).toHaveLength(0);
  expect(await madeOnStripe(/^\/v1\/payment_intents$/)).toHaveLength(1);
});
