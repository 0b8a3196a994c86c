/**
 * The payout activities against the Stripe stand-in and Postgres, driven directly (the campaign workflow calls them
 * the same way): a payout is worked out again after Stripe refuses it, so a refund made while it waited is taken
 * off; and a campaign is paid only from its own funds once Stripe has made them available, never from the
 * platform's pooled balance. Pledges are placed and captured by the production code; expected amounts are worked
 * out here from the stand-in's pricing rule (2.9% + 30) and the platform's commission (6%).
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { type ActivityDeps } from '../../activities/deps';
import { createPayoutActivities } from '../../activities/payouts';
import { createPledgeSettlementActivities } from '../../activities/pledge-settlement';
import { createRefundActivities } from '../../activities/refunds';
import { type FinancingModel } from '../../db/schema';
import { loadConfig } from '../../src/config';
import { recordLedgerEntries } from '../../src/ledger/ledger';
import { PAYOUT_NOT_READY } from '../../src/payments/failure-types';
import { stripeKeys } from '../../src/payments/idempotency-keys';
import { placePledge } from '../../src/pledges/place-pledge';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { requestRefund } from '../../src/refunds/request-refund';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../helpers/db';
import { startTestStripe, TEST_STRIPE_KEY, type TestStripe } from '../helpers/stripe';

const DAY_S = 24 * 60 * 60;
/** Stripe's fee on one charge under the stand-in's rule: 2.9% + 30 minor units. */
const stripeFee = (amount: number) => Math.round((amount * 290) / 10_000) + 30;
/** The platform's commission: 6% of what was collected net of refunds, half up. */
const commission = (net: number) => Math.round((net * 600) / 10_000);

let testDb: TestDatabase;
let testStripe: TestStripe;
let deps: ActivityDeps;
/** How far the stand-in's clock has been moved ahead of real time. */
let stripeAheadMs = 0;

beforeAll(async () => {
  testDb = await createTestDatabase();
  // No automatic network retries: a lost answer reaches the activity, as it does once the client's retries run out.
  testStripe = await startTestStripe({ maxNetworkRetries: 0 });
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error', STRIPE_SECRET_KEY: TEST_STRIPE_KEY, STRIPE_API_BASE: testStripe.url });
  deps = { database: testDb.database, stripe: testStripe.stripe, config, mailer: { send: async () => undefined, close: () => undefined } };
});
afterAll(async () => {
  await testDb?.drop();
  await testStripe?.close();
});

const db = () => testDb.database.db;
const payouts = () => createPayoutActivities(deps);
/** Stripe's clock, which says which funds are available. */
const stripeNowMs = () => Date.now() + stripeAheadMs;
async function advanceStripe(seconds: number) {
  await testStripe.advanceClock(seconds);
  stripeAheadMs += seconds * 1000;
}

async function createUser(options: { role?: 'user' | 'support'; onboarded?: boolean } = {}) {
  const email = `${randomUUID()}@example.com`;
  const user = await db().insertInto('users').values({ email, name: 'Test User', password_hash: 'not-used', role: options.role ?? 'user' }).returningAll().executeTakeFirstOrThrow();
  if (!options.onboarded) return user;
  const account = await testStripe.stripe.accounts.create({ type: 'express', country: 'US', email });
  const link = await testStripe.stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://app/r', return_url: 'http://app/ok' });
  await fetch(link.url);
  return db().updateTable('users').set({ stripe_account_id: account.id, charges_enabled: true, payouts_enabled: true, details_submitted: true }).where('id', '=', user.id).returningAll().executeTakeFirstOrThrow();
}

/** An active campaign whose deadline is a day away (so all-or-nothing pledges are holds). */
async function createCampaign(model: FinancingModel) {
  const creator = await createUser({ onboarded: true });
  const startsAt = new Date(Date.now() - 60_000);
  return db()
    .insertInto('campaigns')
    .values({
      creator_id: creator.id,
      title: `Campaign ${randomUUID().slice(0, 8)}`,
      slug: `campaign-${randomUUID()}`,
      goal_amount: 1_000,
      currency: 'USD',
      model,
      status: 'active',
      starts_at: startsAt,
      ends_at: new Date(startsAt.getTime() + DAY_S * 1000),
      refund_terms: model === 'kia' ? 'Full refund if the campaign is cancelled' : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A pledge placed through the production placement code: charged now (keep-it-all) or held (all-or-nothing). */
async function pledge(campaign: { id: string }, amount: number, card = 'pm_card_visa') {
  const backer = await createUser();
  const placed = await placePledge(deps, { campaignId: campaign.id, backer, amount: (amount / 100).toFixed(2), paymentMethodId: card });
  return placed.pledge;
}

async function expectRefusedForNow(call: Promise<unknown>) {
  await expect(call).rejects.toBeInstanceOf(ApplicationFailure);
  await expect(call).rejects.toMatchObject({ type: PAYOUT_NOT_READY, nonRetryable: true });
}

async function transferRequests() {
  return (await testStripe.requests()).filter((logged) => logged.method === 'POST' && logged.path === '/v1/transfers');
}

async function expectBalanced(campaignId: string) {
  const report = await reconcileCampaign(db(), campaignId, testStripe.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  return report;
}

test('a payout refused while funds are pending is worked out again: a refund made meanwhile is taken off (new version, new key)', async () => {
  const campaign = await createCampaign('kia');
  await pledge(campaign, 10_000);
  const second = await pledge(campaign, 20_000);
  const fees = stripeFee(10_000) + stripeFee(20_000);

  // The funds are pending for two days: Stripe refuses the transfer (balance_insufficient).
  await expectRefusedForNow(payouts().sendPayout({ campaignId: campaign.id }));
  const refused = await db().selectFrom('payouts').selectAll().where('campaign_id', '=', campaign.id).executeTakeFirstOrThrow();
  expect(refused).toMatchObject({ status: 'pending', amount: 30_000 - commission(30_000) - fees });

  // Support refunds part of a pledge while the payout waits; it succeeds on Stripe (refunds may use pending funds).
  const support = await createUser({ role: 'support' });
  const { refund } = await requestRefund(testDb.database, { pledgeId: second.id, amount: 5_000, reason: 'item damaged', requestedBy: support.id });
  await expect(createRefundActivities(deps).executeRefund({ refundId: refund.id })).resolves.toMatchObject({ status: 'succeeded', transferReversal: 0 });

  // Meanwhile other campaigns' money makes the platform's pooled balance large: it must not pay the stale amount.
  const other = await createCampaign('kia');
  await pledge(other, 50_000, 'pm_card_bypassPending');
  await advanceStripe(2 * DAY_S + 3600);

  const owed = 25_000 - commission(25_000) - fees;
  await expect(payouts().payoutReadiness({ campaignId: campaign.id, asOfMs: stripeNowMs() })).resolves.toEqual({ state: 'ready', transfer: owed, currency: 'USD' });
  const sent = await payouts().sendPayout({ campaignId: campaign.id });
  expect(sent?.amount).toBe(owed);
  const transfer = await testStripe.stripe.transfers.retrieve(sent!.transferId);
  expect(transfer.amount).toBe(owed);

  // Version 1 (the stale amount) was refused by Stripe and is never sent again; version 2 went through, once.
  const attempts = await db()
    .selectFrom('payout_attempts')
    .innerJoin('payouts', 'payouts.id', 'payout_attempts.payout_id')
    .select(['payout_attempts.version', 'payout_attempts.amount', 'payout_attempts.status', 'payout_attempts.idempotency_key', 'payout_attempts.failure_code'])
    .where('payouts.campaign_id', '=', campaign.id)
    .orderBy('payout_attempts.version')
    .execute();
  expect(attempts).toEqual([
    { version: 1, amount: 30_000 - commission(30_000) - fees, status: 'refused', idempotency_key: stripeKeys.payout(campaign.id, 1), failure_code: 'balance_insufficient' },
    { version: 2, amount: owed, status: 'paid', idempotency_key: stripeKeys.payout(campaign.id, 2), failure_code: null },
  ]);
  const sentToStripe = (await transferRequests()).filter((logged) => logged.idempotencyKey?.startsWith(`payout-${campaign.id}`));
  expect(sentToStripe.map((logged) => [logged.idempotencyKey, logged.status])).toEqual([
    [stripeKeys.payout(campaign.id, 1), 400],
    [stripeKeys.payout(campaign.id, 2), 200],
  ]);

  // A repeated call is answered from the paid row; nothing more reaches Stripe.
  await expect(payouts().sendPayout({ campaignId: campaign.id })).resolves.toEqual(sent);
  expect((await transferRequests()).filter((logged) => logged.idempotencyKey?.startsWith(`payout-${campaign.id}`))).toHaveLength(2);
  const report = await expectBalanced(campaign.id);
  expect(report.breakdown).toMatchObject({ netCollected: 25_000, transferred: owed, commission: commission(25_000), processingFees: fees, held: 0 });
});

test('a payout whose answer was lost is sent again as the same version, never as a new one', async () => {
  const campaign = await createCampaign('kia');
  await pledge(campaign, 8_000, 'pm_card_bypassPending');
  const owed = 8_000 - commission(8_000) - stripeFee(8_000);
  await expect(payouts().payoutReadiness({ campaignId: campaign.id, asOfMs: stripeNowMs() })).resolves.toMatchObject({ state: 'ready', transfer: owed });

  // Stripe makes the transfer but the answer never arrives: the outcome is unknown, the error retryable.
  // Twice: the SDK itself retries a closed connection once.
  await testStripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/transfers$', count: 2 });
  const lost = payouts().sendPayout({ campaignId: campaign.id });
  await expect(lost).rejects.toThrow();
  await expect(lost).rejects.not.toBeInstanceOf(ApplicationFailure);
  await testStripe.clearFaults();

  const sent = await payouts().sendPayout({ campaignId: campaign.id });
  expect(sent?.amount).toBe(owed);
  const keys = (await transferRequests()).filter((logged) => logged.idempotencyKey?.startsWith(`payout-${campaign.id}`));
  expect(new Set(keys.map((logged) => logged.idempotencyKey))).toEqual(new Set([stripeKeys.payout(campaign.id, 1)]));
  expect(keys.filter((logged) => !logged.replayed)).toHaveLength(1);
  expect(keys.at(-1)).toMatchObject({ status: 200, replayed: true });
  await expectBalanced(campaign.id);
});

test('a campaign whose funds are still pending is not paid from another campaign’s available funds; each is paid once its own are available', async () => {
  // Campaign A's money is available at once; campaign B's hold is captured now and its funds are pending for 2 days.
  const a = await createCampaign('kia');
  await pledge(a, 40_000, 'pm_card_bypassPending');
  const b = await createCampaign('aon');
  const held = await pledge(b, 10_000);
  expect(held.status).toBe('authorized');
  await createPledgeSettlementActivities(deps).capturePledge({ pledgeId: held.id, attempt: 1 });
  const owedA = 40_000 - commission(40_000) - stripeFee(40_000);
  const owedB = 10_000 - commission(10_000) - stripeFee(10_000);

  // The pooled balance (A's money) would cover B's transfer; B's own funds do not, so B waits.
  const pooled = await testStripe.stripe.balance.retrieve();
  expect(pooled.available.find((funds) => funds.currency === 'usd')!.amount).toBeGreaterThan(owedB);
  const pendingB = await payouts().payoutReadiness({ campaignId: b.id, asOfMs: stripeNowMs() });
  expect(pendingB).toMatchObject({ state: 'funds_pending', transfer: owedB, available: 0 });
  // The capture recorded when its funds become available, from its balance transaction (no lookup needed).
  const captureB = await db().selectFrom('ledger_entries').selectAll().where('campaign_id', '=', b.id).where('kind', '=', 'capture').executeTakeFirstOrThrow();
  expect(captureB.available_on!.getTime()).toBeGreaterThan(stripeNowMs() + DAY_S * 1000);
  expect(pendingB).toMatchObject({ nextAvailableAtMs: captureB.available_on!.getTime() });

  await expect(payouts().payoutReadiness({ campaignId: a.id, asOfMs: stripeNowMs() })).resolves.toEqual({ state: 'ready', transfer: owedA, currency: 'USD' });
  await expect(payouts().sendPayout({ campaignId: a.id })).resolves.toMatchObject({ amount: owedA });

  // Two days on, B's own funds are available: B is paid from them.
  await advanceStripe(2 * DAY_S + 60);
  await expect(payouts().payoutReadiness({ campaignId: b.id, asOfMs: stripeNowMs() })).resolves.toEqual({ state: 'ready', transfer: owedB, currency: 'USD' });
  await expect(payouts().sendPayout({ campaignId: b.id })).resolves.toMatchObject({ amount: owedB });
  await expectBalanced(a.id);
  await expectBalanced(b.id);
});

test('Stripe, not the workflow clock, says when funds are available: a Stripe clock ahead of ours does not hold the payout up', async () => {
  const campaign = await createCampaign('kia');
  await pledge(campaign, 20_000);
  const owed = 20_000 - commission(20_000) - stripeFee(20_000);
  // By our clock the charge's funds are pending for two more days...
  await expect(payouts().payoutReadiness({ campaignId: campaign.id, asOfMs: stripeNowMs() })).resolves.toMatchObject({ state: 'funds_pending', available: 0 });
  // ...but Stripe's clock has moved on past its available_on, and Stripe's word is what counts.
  await advanceStripe(2 * DAY_S + 60);
  await expect(payouts().payoutReadiness({ campaignId: campaign.id, asOfMs: Date.now() })).resolves.toEqual({ state: 'ready', transfer: owed, currency: 'USD' });
  await expect(payouts().sendPayout({ campaignId: campaign.id })).resolves.toMatchObject({ amount: owed });
  await expectBalanced(campaign.id);
});

test('a capture recorded without its availability date is looked up on Stripe once, and the ledger stays append-only otherwise', async () => {
  const campaign = await createCampaign('kia');
  const backer = await createUser();
  const customer = await testStripe.stripe.customers.create({ email: 'legacy@example.com' });
  await db().updateTable('users').set({ stripe_customer_id: customer.id }).where('id', '=', backer.id).execute();
  const row = await db().insertInto('pledges').values({ campaign_id: campaign.id, backer_id: backer.id, amount: 6_000, currency: 'USD' }).returningAll().executeTakeFirstOrThrow();
  const intent = await testStripe.stripe.paymentIntents.create(
    { amount: 6_000, currency: 'usd', customer: customer.id, payment_method: 'pm_card_visa', confirm: true, metadata: { pledge_id: row.id }, expand: ['latest_charge.balance_transaction'] },
    { idempotencyKey: stripeKeys.pledgeAuthorize(row.id) },
  );
  const charge = intent.latest_charge as { id: string; balance_transaction: { id: string; fee: number; available_on: number } };
  // Recorded as captures were before `available_on` was kept.
  await testDb.database.transaction(async (trx) => {
    await trx.updateTable('pledges').set({ status: 'captured', payment_intent_id: intent.id, amount_captured: 6_000, processing_fee: charge.balance_transaction.fee }).where('id', '=', row.id).execute();
    await recordLedgerEntries(trx, [
      { campaignId: campaign.id, pledgeId: row.id, kind: 'capture', amount: 6_000, currency: 'USD', stripeObjectId: charge.id },
      { campaignId: campaign.id, pledgeId: row.id, kind: 'processing_fee', amount: charge.balance_transaction.fee, currency: 'USD', stripeObjectId: charge.balance_transaction.id },
    ]);
  });

  await testStripe.clearRequests();
  await expect(payouts().payoutReadiness({ campaignId: campaign.id, asOfMs: stripeNowMs() })).resolves.toMatchObject({ state: 'funds_pending' });
  const entries = await db().selectFrom('ledger_entries').select(['kind', 'available_on']).where('campaign_id', '=', campaign.id).orderBy('kind').execute();
  expect(entries).toEqual([
    { kind: 'capture', available_on: new Date(charge.balance_transaction.available_on * 1000) },
    { kind: 'processing_fee', available_on: new Date(charge.balance_transaction.available_on * 1000) },
  ]);
  await payouts().payoutReadiness({ campaignId: campaign.id, asOfMs: stripeNowMs() });
  expect((await testStripe.requests()).filter((logged) => logged.path.startsWith('/v1/charges/'))).toHaveLength(1);

  // Filled in once; no other change to a ledger entry is allowed.
  await expect(db().updateTable('ledger_entries').set({ available_on: new Date() }).where('campaign_id', '=', campaign.id).execute()).rejects.toThrow(/append-only/);
  await expect(db().updateTable('ledger_entries').set({ amount: 1 }).where('campaign_id', '=', campaign.id).execute()).rejects.toThrow(/append-only/);
  await expect(db().deleteFrom('ledger_entries').where('campaign_id', '=', campaign.id).execute()).rejects.toThrow(/append-only/);
});
