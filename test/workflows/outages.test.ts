/**
 * Stripe down for longer than an activity's retry budget (an hour): no campaign workflow fails. The payout and the
 * settlement children wait as `stuck`, with the reason where ops look (query, details, `CampaignStatus`), try again
 * by themselves after the stuck interval, and at once when ops ask.
 */
import request from 'supertest';
import { ApplicationFailure } from '@temporalio/common';
import { type Worker } from '@temporalio/worker';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { createStripeClient } from '../../src/payments/stripe-client';
import { createWorkers } from '../../src/worker/workers';
import { campaignStateQuery, pledgeSettlementStateQuery, pledgeSettlementWorkflowId } from '../../workflows/messages';
import { createCampaign, createUser, days, placePledge, pledgeRow, publishCampaign, type TestUser } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform, workflowBundle } from '../helpers/platform';
import { expectHistoriesReplay } from './replay-histories';
import { TEST_STRIPE_KEY } from '../helpers/stripe';

const HOUR = 60 * 60 * 1000;
/** Long enough that a test can tell ops' retry (at once) from the retry by itself (after this). */
const STUCK_RETRY_INTERVAL = 6 * HOUR;

let p: TestPlatform;
let ops: TestUser;
beforeAll(async () => {
  p = await createTestPlatform({ STUCK_RETRY_INTERVAL: '6h' });
  ops = await createUser(p, { role: 'ops' });
});
afterAll(() => p.close());

/**
 * Beyond the retry budget at the first failure: the stand-in (like Temporal's test server) holds its virtual clock
 * while an activity is pending, so an hour of retries would take an hour of real time. A failed attempt asks for
 * its next try after the budget instead, and Temporal gives the activity up at once, exactly as after an hour.
 */
const OUTAGE_OUTLASTS_BUDGET = '61 minutes';

/**
 * The platform's workers, with a Stripe client that does not retry by itself (its back-off is real seconds) and
 * Stripe failures outlasting the activity's retry budget.
 */
async function runWorkers<T>(work: () => Promise<T>): Promise<T> {
  const stripe = createStripeClient({ secretKey: TEST_STRIPE_KEY, apiBase: p.testStripe.url, maxNetworkRetries: 0 });
  const workers: Worker[] = await createWorkers({
    connection: p.env.nativeConnection,
    namespace: p.config.temporal.namespace,
    taskQueue: p.config.temporal.taskQueue,
    stripeTaskQueue: p.config.temporal.stripeTaskQueue,
    stripeActivitiesPerSecond: p.config.temporal.stripeActivitiesPerSecond,
    deps: { database: p.testDb.database, stripe, config: p.config, mailer: { send: async () => undefined, close: () => undefined } },
    workflows: { workflowBundle: await workflowBundle() },
    overrides: {
      // The Stripe stand-in's clock follows the workflow clock, as in the platform's own workers.
      interceptors: {
        activity: [
          () => ({
            inbound: {
              async execute(input, next) {
                await p.syncStripeClock();
                try {
                  return await next(input);
                } catch (error) {
                  if (error instanceof ApplicationFailure && error.nonRetryable) throw error;
                  const message = error instanceof Error ? error.message : String(error);
                  throw ApplicationFailure.create({ message, type: 'StripeOutage', nextRetryDelay: OUTAGE_OUTLASTS_BUDGET, cause: error as Error });
                }
              },
            },
          }),
        ],
      },
      shutdownGraceTime: '1 second',
    },
  });
  const done = work();
  await Promise.all(workers.map((worker) => worker.runUntil(done.catch(() => undefined))));
  return done;
}

async function expectBalanced(campaignId: string) {
  const report = await reconcileCampaign(p.testDb.database.db, campaignId, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
}

async function statusOf(handle: { describe(): Promise<{ status: { name: string }; searchAttributes: Record<string, unknown> }> }) {
  const execution = await handle.describe();
  return { status: execution.status.name, campaignStatus: (execution.searchAttributes.CampaignStatus as string[] | undefined)?.[0] };
}

/** A funded campaign whose payout is due after `days(3 + 14)`: one hold of 5,000 captured at its deadline. */
async function fundedCampaign() {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(3) });
  return { creator, campaign };
}

const transfersDown = () => p.testStripe.injectFault({ kind: '500', method: 'POST', path: '^/v1/transfers$' });

test('a payout that meets a Stripe outage longer than an hour waits as stuck and pays by itself once Stripe is back', async () => {
  const { creator, campaign } = await fundedCampaign();
  await runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    await placePledge(p, campaign, { amount: 5_000, style: 'hold' });
    await transfersDown();
    // Deadline (3 days), payout delay (14 days), then two hours of outage: past the activity's one-hour budget.
    await p.env.sleep(days(17) + 2 * HOUR);
    expect(await statusOf(handle)).toEqual({ status: 'RUNNING', campaignStatus: 'payout_stuck' });
    const stuck = await handle.query(campaignStateQuery);
    expect(stuck).toMatchObject({ phase: 'paying_out', payout: { state: 'stuck', transferId: null } });
    expect(stuck.payout?.reason).toEqual(expect.stringContaining('sendPayout'));
    expect((await p.testDb.database.db.selectFrom('ledger_entries').select('kind').where('campaign_id', '=', campaign.id).where('kind', '=', 'transfer').execute())).toEqual([]);

    await p.testStripe.clearFaults();
    await p.env.sleep(STUCK_RETRY_INTERVAL + HOUR);
    const paid = await handle.query(campaignStateQuery);
    expect(paid).toMatchObject({ phase: 'refund_window', payout: { state: 'paid', transferId: expect.any(String) } });
    expect(await statusOf(handle)).toEqual({ status: 'RUNNING', campaignStatus: 'paid_out' });
    await handle.terminate('scenario done');
  });
  await expectBalanced(campaign.id);
}, 120_000);

test('a stuck payout tries again at once when ops retry', async () => {
  const { creator, campaign } = await fundedCampaign();
  await runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    await placePledge(p, campaign, { amount: 5_000, style: 'hold' });
    await transfersDown();
    await p.env.sleep(days(17) + 2 * HOUR);
    expect(await handle.query(campaignStateQuery)).toMatchObject({ payout: { state: 'stuck' } });

    await p.testStripe.clearFaults();
    await request(p.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(ops.auth).expect(202);
    await p.env.sleep(60_000);
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'refund_window', payout: { state: 'paid' } });
    await handle.terminate('scenario done');
  });
  await expectBalanced(campaign.id);
}, 120_000);

test('a release that meets an outage reports stuck, is retried by ops, and the failed campaign completes', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000_000, durationMs: days(3) });
  const state = await runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge } = await placePledge(p, campaign, { amount: 5_000, style: 'hold' });
    await p.testStripe.injectFault({ kind: '500', method: 'POST', path: '^/v1/payment_intents/[^/]+/cancel$' });
    await p.env.sleep(days(3) + 2 * HOUR);
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'settling', outcome: 'failed', pledges: { stuck: 1, inFlight: 0 } });
    const child = p.env.client.workflow.getHandle(pledgeSettlementWorkflowId(campaign.id, pledge.id));
    expect(await child.query(pledgeSettlementStateQuery)).toMatchObject({ status: 'stuck', lastError: expect.stringContaining('releasePledge') });

    await p.testStripe.clearFaults();
    await request(p.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(ops.auth).expect(202);
    await p.env.sleep(60_000);
    expect((await pledgeRow(p, pledge.id)).status).toBe('released');
    return handle.result();
  });
  expect(state).toMatchObject({ outcome: 'failed', phase: 'done', pledges: { released: 1, stuck: 0, inFlight: 0 } });
  await expectBalanced(campaign.id);
}, 120_000);

test('a cancellation refund that meets an outage reports stuck and retries by itself after the stuck interval', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'kia', goal: 1_000, durationMs: days(3) });
  const state = await runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge } = await placePledge(p, campaign, { amount: 4_000, style: 'charge' });
    await p.testStripe.injectFault({ kind: '500', method: 'POST', path: '^/v1/refunds$' });
    await request(p.app).post(`/api/campaigns/${campaign.id}/cancel`).set(creator.auth).send({ reason: 'supplier went bust' }).expect(202);
    await p.env.sleep(2 * HOUR);
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'settling', outcome: 'cancelled', pledges: { stuck: 1 } });

    await p.testStripe.clearFaults();
    await p.env.sleep(STUCK_RETRY_INTERVAL + HOUR);
    expect((await pledgeRow(p, pledge.id)).status).toBe('refunded');
    return handle.result();
  });
  expect(state).toMatchObject({ outcome: 'cancelled', phase: 'done', pledges: { refunded: 1, stuck: 0 }, totals: { refunded: 4_000 } });
  await expectBalanced(campaign.id);
}, 120_000);

test('a support refund that meets an outage in the refund window stays queued as stuck and is carried out once Stripe is back', async () => {
  const { creator, campaign } = await fundedCampaign();
  const support = await createUser(p, { role: 'support' });
  await runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge } = await placePledge(p, campaign, { amount: 5_000, style: 'hold' });
    await p.env.sleep(days(17) + HOUR);
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'refund_window', payout: { state: 'paid' } });

    await p.testStripe.injectFault({ kind: '500', method: 'POST', path: '^/v1/refunds$' });
    const first = await request(p.app).post(`/api/support/pledges/${pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'outage-refund-1').send({ amount: '10.00', reason: 'damaged' }).expect(202);
    const second = await request(p.app).post(`/api/support/pledges/${pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'outage-refund-2').send({ amount: '5.00', reason: 'late' }).expect(202);
    await p.env.sleep(2 * HOUR);
    const stuck = await handle.query(campaignStateQuery);
    // The outage holds up the whole queue: the first gave up, the second waits behind it.
    expect(stuck.refunds).toEqual({ queued: 2, stuck: { [first.body.refundId]: expect.stringContaining('executeRefund') } });
    expect(await statusOf(handle)).toEqual({ status: 'RUNNING', campaignStatus: 'refund_stuck' });

    await p.testStripe.clearFaults();
    await p.env.sleep(STUCK_RETRY_INTERVAL + HOUR);
    const done = await handle.query(campaignStateQuery);
    expect(done).toMatchObject({ refunds: { queued: 0, stuck: {} }, totals: { refunded: 1_500 }, failedRefunds: [] });
    expect(await statusOf(handle)).toEqual({ status: 'RUNNING', campaignStatus: 'paid_out' });
    const rows = await p.testDb.database.db.selectFrom('refunds').select(['id', 'status']).where('pledge_id', '=', pledge.id).execute();
    expect(rows.map((row) => row.status)).toEqual(['succeeded', 'succeeded']);
    expect(new Set(rows.map((row) => row.id))).toEqual(new Set([first.body.refundId, second.body.refundId]));
    await handle.terminate('scenario done');
  });
  await expectBalanced(campaign.id);
}, 120_000);

test('a pledge that can no longer be captured (cancelled while its capture was stuck) ends its settlement as released', async () => {
  const { creator, campaign } = await fundedCampaign();
  const { state, pledge } = await runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge } = await placePledge(p, campaign, { amount: 3_000, style: 'hold' });
    await placePledge(p, campaign, { amount: 5_000, style: 'hold' });
    await p.testStripe.injectFault({ kind: '500', method: 'POST', path: '/capture$', idempotencyKey: `^pledge-${pledge.id}-capture$` });
    await p.env.sleep(days(3) + 2 * HOUR);
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'settling', pledges: { captured: 1, stuck: 1 } });

    // However the pledge came to be cancelled (the backer won the race), there is nothing left to collect.
    await p.stripe.paymentIntents.cancel(pledge.payment_intent_id!);
    await p.testDb.database.db.updateTable('pledges').set({ status: 'cancelled' }).where('id', '=', pledge.id).execute();
    await p.testStripe.clearFaults();
    await request(p.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(ops.auth).expect(202);
    await p.env.sleep(60_000);
    const child = p.env.client.workflow.getHandle(pledgeSettlementWorkflowId(campaign.id, pledge.id));
    expect(await child.query(pledgeSettlementStateQuery)).toMatchObject({ status: 'released', lastError: expect.stringContaining('pledge is cancelled') });
    expect(await child.describe()).toMatchObject({ status: { name: 'COMPLETED' } });
    const settled = await handle.query(campaignStateQuery);
    await handle.terminate('scenario done');
    return { state: settled, pledge };
  });
  expect(state).toMatchObject({ outcome: 'funded', phase: 'paying_out', pledges: { captured: 1, released: 1, stuck: 0, inFlight: 0 }, totals: { captured: 5_000 } });
  expect((await pledgeRow(p, pledge.id)).status).toBe('cancelled');
}, 120_000);

test('every history of these outages replays deterministically (and is stored as a fixture on request)', async () => {
  // The stuck paths: payout stuck then paid (by itself, by ops), release stuck then retried, refunds stuck.
  await expectHistoriesReplay(p);
});
