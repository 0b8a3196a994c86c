/**
 * Refunds that fail after Stripe made them (issue #16): `pm_card_refundFail` refunds are accepted and fail later,
 * with `refund.updated` / `refund.failed`. The webhook puts the money back in the books (the refund row failed, a
 * `refund_failed` ledger entry, the pledge's refunded amount back down), pays the creator again the share a
 * transfer reversal took back after the payout (with the commission the platform's again), tells the backer and
 * support, and reconciliation balances to the minor unit; the same event twice changes nothing.
 *
 * Amounts by hand (as in test/workflows/refund-failures.test.ts): a 100.00 USD pledge costs 320 in card fees; the
 * platform keeps 6% (600); the creator is paid 9,080. A 40.00 refund after the payout gives up 240 of commission
 * and reverses 3,760 from the creator; when it fails, the creator is paid those 3,760 again and the commission is
 * 600 again.
 */
import type Stripe from 'stripe';
import request from 'supertest';
import { createRefundActivities } from '../../activities/refunds';
import { createApp } from '../../src/api/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { requestRefund } from '../../src/refunds/request-refund';
import { TEST_DATABASE_URL } from '../helpers/db';
import { createRefundWorld, type RefundWorld } from '../helpers/refund-fixtures';

const SECRET = 'whsec_refund_failures';
const PLEDGE = 10_000;
const PAYOUT = 10_000 - 600 - 320;
const REFUND = 4_000;
const COMMISSION_GIVEN_UP = 240;
const REVERSAL = REFUND - COMMISSION_GIVEN_UP;
const DAY = 86_400;

let w: RefundWorld;
let refunds: ReturnType<typeof createRefundActivities>;
let app: ReturnType<typeof createApp>;
let supportId: string;
beforeAll(async () => {
  w = await createRefundWorld();
  refunds = createRefundActivities(w.deps);
  supportId = (await w.user('support')).id;
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error', STRIPE_WEBHOOK_SECRET: SECRET });
  app = createApp({ config, database: w.testDb.database, logger: createLogger('silent'), stripe: w.deps.stripe });
});
afterAll(() => w.close());

const db = () => w.testDb.database.db;
const stripe = () => w.deps.stripe;
const refundRow = (id: string) => db().selectFrom('refunds').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const pledgeRow = (id: string) => db().selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** A pm_card_refundFail pledge collected, its funds available, and (when `paidOut`) the creator paid. */
async function refundFailPledge(options: { paidOut: boolean }) {
  const collected = await w.collectedPledge(PLEDGE, { paymentMethod: 'pm_card_refundFail' });
  // This card's funds become available two days after the charge, like most cards.
  await w.testStripe.advanceClock(3 * DAY);
  const transferId = options.paidOut ? await w.payOut(collected.campaignId) : null;
  return { ...collected, transferId };
}

async function refundOf(pledgeId: string, amount: number) {
  const { refund } = await requestRefund(w.testDb.database, { pledgeId, amount, reason: 'damaged in transit', requestedBy: supportId });
  const result = await refunds.executeRefund({ refundId: refund.id });
  expect(result.status).toBe('succeeded');
  return refundRow(refund.id);
}

/** Stripe's event of `type` about `objectId`, as Stripe delivers it: signed, on the raw body. */
async function stripeEvent(type: string, objectId: string): Promise<Stripe.Event> {
  const events = await stripe().events.list({ type, limit: 100 });
  const event = events.data.find((e) => (e.data.object as { id: string }).id === objectId);
  if (!event) throw new Error(`no ${type} event for ${objectId}`);
  return event;
}
function deliver(event: Stripe.Event) {
  const payload = JSON.stringify(event);
  const signature = stripe().webhooks.generateTestHeaderString({ payload, secret: SECRET });
  return request(app).post('/api/webhooks/stripe').set('Stripe-Signature', signature).set('Content-Type', 'application/json').send(payload);
}

/** Everything a delivery could change, to compare before and after a repeat. */
async function books(campaignId: string, refundId: string) {
  return {
    ledger: await db().selectFrom('ledger_entries').select(['kind', 'amount', 'stripe_object_id']).where('campaign_id', '=', campaignId).orderBy('id').execute(),
    refund: await refundRow(refundId),
    notifications: await db().selectFrom('notifications').select(['template', 'dedupe_key']).orderBy('id').execute(),
    transfers: (await stripe().transfers.list({ transfer_group: campaignId, limit: 100 })).data.map((t) => [t.id, t.amount, t.amount_reversed]),
  };
}

async function expectBalanced(campaignId: string) {
  const report = await reconcileCampaign(db(), campaignId, stripe());
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  return report;
}

test('a refund after the payout that fails later: row failed, ledger and pledge back, the creator paid the reversed share again, reconciled; the same event twice changes nothing', async () => {
  const { campaignId, pledgeId, transferId } = await refundFailPledge({ paidOut: true });
  expect((await stripe().transfers.retrieve(transferId!)).amount).toBe(PAYOUT);
  const made = await refundOf(pledgeId, REFUND);
  expect(made).toMatchObject({ status: 'succeeded', stripe_status: 'succeeded', reversal_status: 'succeeded', transfer_reversal_amount: REVERSAL });
  await expectBalanced(campaignId);

  // The bank returns the refund: Stripe puts the money back and says so.
  await w.testStripe.advanceClock(DAY);
  const stripeRefund = await stripe().refunds.retrieve(made.stripe_refund_id!);
  expect(stripeRefund).toMatchObject({ status: 'failed', failure_reason: expect.any(String) });
  const failed = await stripeEvent('refund.failed', stripeRefund.id);
  expect((await deliver(failed)).status).toBe(200);

  expect(await refundRow(made.id)).toMatchObject({
    status: 'failed',
    stripe_status: 'failed',
    failure_reason: stripeRefund.failure_reason,
    failed_at: expect.any(Date),
    restore_amount: REVERSAL,
    restore_status: 'succeeded',
    restore_transfer_id: expect.stringMatching(/^tr_/),
  });
  const restored = await refundRow(made.id);
  expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'captured', amount_captured: PLEDGE, amount_refunded: 0 });
  const ledger = await db().selectFrom('ledger_entries').select(['kind', 'amount', 'stripe_object_id']).where('pledge_id', '=', pledgeId).where('kind', 'in', ['refund_failed', 'platform_fee', 'transfer']).execute();
  expect(ledger).toEqual(
    expect.arrayContaining([
      { kind: 'refund_failed', amount: REFUND, stripe_object_id: stripeRefund.id },
      { kind: 'platform_fee', amount: COMMISSION_GIVEN_UP, stripe_object_id: stripeRefund.id },
      { kind: 'transfer', amount: REVERSAL, stripe_object_id: restored.restore_transfer_id },
    ]),
  );
  expect(ledger).toHaveLength(3);
  const restoreTransfer = await stripe().transfers.retrieve(restored.restore_transfer_id!);
  const payoutTransfer = await stripe().transfers.retrieve(transferId!);
  expect(restoreTransfer).toMatchObject({ amount: REVERSAL, destination: payoutTransfer.destination, transfer_group: campaignId });

  const told = await db().selectFrom('notifications').select(['recipient_id', 'template']).where('dedupe_key', 'like', `refund-${made.id}-failed%`).execute();
  const backer = await db().selectFrom('pledges').select('backer_id').where('id', '=', pledgeId).executeTakeFirstOrThrow();
  expect(told).toEqual(
    expect.arrayContaining([
      { recipient_id: backer.backer_id, template: 'refund_failed' },
      { recipient_id: supportId, template: 'refund_failed_support' },
    ]),
  );
  expect(told).toHaveLength(2);

  const report = await expectBalanced(campaignId);
  // The creator holds the whole payout again, and the platform its whole commission.
  expect(report.breakdown).toMatchObject({ netCollected: PLEDGE, transferred: PAYOUT, commission: 600, held: 0 });

  // The same event again, and the other events of the same failure: nothing changes.
  const before = await books(campaignId, made.id);
  const again = await deliver(failed);
  expect(again.status).toBe(200);
  expect(again.body).toEqual({ received: true, duplicate: true });
  expect((await deliver(await stripeEvent('refund.updated', stripeRefund.id))).status).toBe(200);
  expect(await books(campaignId, made.id)).toEqual(before);
  await expectBalanced(campaignId);
});

test('a full refund before the payout that fails later: the pledge is captured again and the payout pays the whole amount', async () => {
  const { campaignId, pledgeId } = await refundFailPledge({ paidOut: false });
  const made = await refundOf(pledgeId, PLEDGE);
  expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'refunded', amount_refunded: PLEDGE });

  await w.testStripe.advanceClock(DAY);
  expect((await deliver(await stripeEvent('refund.failed', made.stripe_refund_id!))).status).toBe(200);

  expect(await refundRow(made.id)).toMatchObject({ status: 'failed', restore_amount: 0, restore_status: null });
  expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'captured', amount_refunded: 0 });
  await expectBalanced(campaignId);

  // The money is the campaign's again: the payout pays the creator all of it.
  const transferId = await w.payOut(campaignId);
  expect((await stripe().transfers.retrieve(transferId)).amount).toBe(PAYOUT);
  await expectBalanced(campaignId);
});

test('a failure that arrives before the refund activity recorded its refund is delivered again later, and then booked once', async () => {
  const { campaignId, pledgeId } = await refundFailPledge({ paidOut: false });
  const { refund } = await requestRefund(w.testDb.database, { pledgeId, amount: REFUND, reason: 'damaged in transit', requestedBy: supportId });
  // The activity's request reached Stripe, and its answer was lost: Stripe made the refund, our row is still requested.
  const stripeRefund = await stripe().refunds.create(
    { payment_intent: (await pledgeRow(pledgeId)).payment_intent_id!, amount: REFUND, reason: 'requested_by_customer', metadata: { refund_id: refund.id, pledge_id: pledgeId, campaign_id: campaignId } },
    { idempotencyKey: `${refund.idempotency_key}-lost` },
  );
  await db().updateTable('refunds').set({ attempts: 1 }).where('id', '=', refund.id).execute();
  await w.testStripe.advanceClock(DAY);
  const failed = await stripeEvent('refund.failed', stripeRefund.id);

  const early = await deliver(failed);
  expect(early.status).toBe(503);
  expect(await refundRow(refund.id)).toMatchObject({ status: 'requested' });

  // The activity's retry finds the refund Stripe made, already failed: nothing was booked, nothing to undo.
  const result = await refunds.executeRefund({ refundId: refund.id });
  expect(result.status).toBe('failed');
  expect((await deliver(failed)).status).toBe(200);
  expect(await pledgeRow(pledgeId)).toMatchObject({ status: 'captured', amount_refunded: 0 });
  expect(await db().selectFrom('ledger_entries').select('kind').where('pledge_id', '=', pledgeId).where('kind', 'in', ['refund', 'refund_failed']).execute()).toEqual([]);
  await expectBalanced(campaignId);
});

test('a refund made before the payout that fails after it: the creator is paid the share the payout left out', async () => {
  const { campaignId, pledgeId } = await refundFailPledge({ paidOut: false });
  const made = await refundOf(pledgeId, REFUND);
  // The payout came out smaller: 6,000 collected net, 6% commission (360), 320 in fees.
  const transferId = await w.payOut(campaignId);
  expect((await stripe().transfers.retrieve(transferId)).amount).toBe(6_000 - 360 - 320);

  await w.testStripe.advanceClock(DAY);
  expect((await deliver(await stripeEvent('refund.failed', made.stripe_refund_id!))).status).toBe(200);

  const row = await refundRow(made.id);
  expect(row).toMatchObject({ status: 'failed', restore_status: 'succeeded', restore_amount: PAYOUT - (6_000 - 360 - 320) });
  expect((await stripe().transfers.retrieve(row.restore_transfer_id!)).amount).toBe(PAYOUT - (6_000 - 360 - 320));
  const report = await expectBalanced(campaignId);
  expect(report.breakdown).toMatchObject({ netCollected: PLEDGE, transferred: PAYOUT, commission: 600, held: 0 });
});
