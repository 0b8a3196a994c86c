/**
 * A reserve against chargebacks (PAYOUT_RESERVE_PERCENT, PAYOUT_RESERVE_DAYS) on the whole platform (Temporal and
 * Stripe stand-ins, the real workers and API): the payout holds part of what the creator is owed back, a dispute lost
 * while it is held draws on it first (a transfer reversal only for what it does not cover), and the campaign workflow
 * pays what is left by a second transfer when the reserve period ends. Every campaign is reconciled against the
 * ledger, its rows and Stripe, and every history replays.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { campaignStateQuery } from '../../workflows/messages';
import { createCampaign, createUser, days, placePledge, publishCampaign } from '../helpers/campaign-fixtures';
import { deliverAllStandinEvents } from '../helpers/api';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';
import { disputeOfPayment } from '../helpers/stripe';
import { expectHistoriesReplay } from './replay-histories';

const SECRET = 'whsec_test_platform_reserve';
const stripeFee = (amount: number) => Math.round((amount * 290) / 10_000) + 30;
const commission = (net: number) => Math.round((net * 600) / 10_000);
const DISPUTE_FEE = 1_500;
/** Two pledges, 200.00 and 100.00 USD: what the creator is owed before any reserve. */
const OWED = 30_000 - commission(30_000) - stripeFee(20_000) - stripeFee(10_000);
/** A dispute of the 100.00 pledge lost after the payout: the creator's share (no commission on it, plus the fee). */
const DISPUTE_SHARE = 10_000 - (commission(30_000) - commission(20_000)) + DISPUTE_FEE;
/** Shorter than Stripe's seven days for evidence: a dispute opened at pledge time is still open after the payout. */
const PAYOUT_DELAY = days(3);

let p: TestPlatform;
beforeAll(async () => {
  p = await createTestPlatform({ STRIPE_WEBHOOK_SECRET: SECRET, PAYOUT_RESERVE_PERCENT: '10', PAYOUT_RESERVE_DAYS: '30' });
  // The platform's own money, available at once: it fronts open disputes' withdrawals, as a platform's balance does.
  await p.stripe.paymentIntents.create({ amount: 10_000_000, currency: 'usd', payment_method: 'pm_card_bypassPending', confirm: true });
  p.config.campaigns.payoutDelayMs = PAYOUT_DELAY;
});
afterAll(() => p.close());

const db = () => p.testDb.database.db;

/** The rules the next campaign is published under (each campaign keeps the settings it was published with). */
function reserveFor(next: { bps: number; periodDays: number }) {
  p.config.campaigns.payoutReserveBps = next.bps;
  p.config.campaigns.payoutReservePeriodMs = days(next.periodDays);
}

const deliver = (type: string, objectId: string) => deliverAllStandinEvents(p, p.stripe, SECRET, type, objectId);

const disputeOf = (paymentIntentId: string) => disputeOfPayment(p.stripe, paymentIntentId);

const payoutRow = (campaignId: string) => db().selectFrom('payouts').selectAll().where('campaign_id', '=', campaignId).executeTakeFirstOrThrow();
const ledgerKinds = async (campaignId: string, kinds: string[]) =>
  (await db().selectFrom('ledger_entries').select(['kind', 'settlement_amount', 'stripe_object_id']).where('campaign_id', '=', campaignId).orderBy('id').execute()).filter((entry) =>
    kinds.includes(entry.kind),
  );

async function expectReconciled(campaignId: string) {
  const report = await reconcileCampaign(db(), campaignId, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.balanced).toBe(true);
  return report;
}

/**
 * A keep-it-all campaign of two charged pledges, 200.00 and (when `disputed`) 100.00 USD from a card Stripe disputes
 * a minute later, run until its payout is paid. Returns the workflow handle and the disputed pledge's dispute.
 */
async function paidOutCampaign(options: { disputed: boolean }) {
  // Stripe's clock catches up with the workflows' first, so a dispute opened now is not already past its deadline.
  await p.syncStripeClock();
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'kia', goal: 1_000, durationMs: days(1) });
  const handle = await publishCampaign(p, campaign.id, creator);
  await placePledge(p, campaign, { amount: 20_000, style: 'charge' });
  const { pledge } = await placePledge(p, campaign, { amount: 10_000, style: 'charge', ...(options.disputed ? { card: 'pm_card_createDispute' } : {}) });
  let dispute: { id: string } | null = null;
  if (options.disputed) {
    const intentId = (await db().selectFrom('pledges').select('payment_intent_id').where('id', '=', pledge.id).executeTakeFirstOrThrow()).payment_intent_id!;
    dispute = await disputeOf(intentId);
    // Open: Stripe has withdrawn the amount, and the platform fronts it; the payout is not held back by it.
    await deliver('charge.dispute.created', dispute.id);
  }
  await p.env.sleep(days(1) + 60_000);
  await p.env.sleep(PAYOUT_DELAY + days(1));
  const state = await handle.query(campaignStateQuery);
  expect(state.payout).toMatchObject({ state: 'paid' });
  return { campaign, creator, handle, dispute, paidAt: await p.env.currentTimeMs() };
}

/** Support accepts the dispute (Stripe closes it as lost); the loss is decided on the spot. */
async function loseDispute(stripeDisputeId: string) {
  const support = await createUser(p, { role: 'support' });
  const row = await db().selectFrom('disputes').select('id').where('stripe_dispute_id', '=', stripeDisputeId).executeTakeFirstOrThrow();
  const accepted = await request(p.app).post(`/api/support/disputes/${row.id}/accept`).set(support.auth).set('Idempotency-Key', randomUUID());
  expect(accepted.status).toBe(200);
  await deliver('charge.dispute.closed', stripeDisputeId);
  return db().selectFrom('disputes').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
}

test('the payout holds the reserve back and a second transfer releases it when the period ends, after the refund window', async () => {
  // A reserve period longer than the refund window: the campaign stays open until both are over.
  reserveFor({ bps: 2_000, periodDays: 120 });
  const reserve = Math.floor((OWED * 2_000) / 10_000);
  const { campaign, handle, held, stillHeld, result } = await p.runWorkers(async () => {
    const { campaign, handle } = await paidOutCampaign({ disputed: false });
    const held = await payoutRow(campaign.id);
    // Refund window (90 days from settlement) over, reserve period (120 days from the payout) not.
    await p.env.sleep(days(90));
    const stillHeld = { state: await handle.query(campaignStateQuery), payout: await payoutRow(campaign.id) };
    await p.env.sleep(days(31));
    return { campaign, handle, held, stillHeld, result: await handle.result() };
  });

  expect(held).toMatchObject({ status: 'paid', amount: OWED - reserve, reserve_amount: reserve, reserve_status: 'held' });
  expect(stillHeld.state).toMatchObject({ phase: 'refund_window', reserve: { state: 'held', released: null } });
  expect(stillHeld.payout).toMatchObject({ reserve_status: 'held', reserve_release_transfer_id: null });

  expect(result).toMatchObject({ phase: 'done', payout: { state: 'paid', amount: OWED - reserve, reserve }, reserve: { state: 'released', released: reserve } });
  const released = await payoutRow(campaign.id);
  expect(released).toMatchObject({ reserve_status: 'released', reserve_release_amount: reserve });
  const transfer = await p.stripe.transfers.retrieve(released.reserve_release_transfer_id!);
  expect(transfer).toMatchObject({ amount: reserve, destination: released.destination_account_id, transfer_group: campaign.id });
  expect(await ledgerKinds(campaign.id, ['transfer', 'reserve_held', 'reserve_released'])).toEqual([
    { kind: 'transfer', settlement_amount: OWED - reserve, stripe_object_id: released.stripe_transfer_id },
    { kind: 'reserve_held', settlement_amount: reserve, stripe_object_id: released.stripe_transfer_id },
    { kind: 'transfer', settlement_amount: reserve, stripe_object_id: transfer.id },
    { kind: 'reserve_released', settlement_amount: reserve, stripe_object_id: transfer.id },
  ]);
  const report = await expectReconciled(campaign.id);
  expect(report.reserve).toEqual({ held: 0, drawn: 0, released: reserve });
  expect(handle.workflowId).toContain(campaign.id);
}, 180_000);

test('a dispute lost within the period is drawn from the reserve, with no reversal; the rest is released', async () => {
  reserveFor({ bps: 5_000, periodDays: 30 });
  const reserve = Math.floor((OWED * 5_000) / 10_000);
  expect(reserve).toBeGreaterThan(DISPUTE_SHARE);
  const { campaign, lost, drawnReport, result } = await p.runWorkers(async () => {
    const { campaign, handle, dispute } = await paidOutCampaign({ disputed: true });
    const lost = await loseDispute(dispute!.id);
    const drawnReport = await expectReconciled(campaign.id);
    await p.env.sleep(days(31));
    await p.env.sleep(days(60));
    return { campaign, lost, drawnReport, result: await handle.result() };
  });

  expect(lost).toMatchObject({ status: 'lost', recovery: 'reserve', reserve_drawn: DISPUTE_SHARE, recovery_amount: 0, recovery_reversal_id: null });
  expect(drawnReport.reserve).toEqual({ held: reserve - DISPUTE_SHARE, drawn: DISPUTE_SHARE, released: 0 });
  const payout = await payoutRow(campaign.id);
  expect(payout).toMatchObject({ amount: OWED - reserve, reserve_amount: reserve, reserve_status: 'released', reserve_release_amount: reserve - DISPUTE_SHARE });
  expect(result).toMatchObject({ reserve: { state: 'released', released: reserve - DISPUTE_SHARE } });
  // Nothing was taken back from the creator's account: the payout's transfer has no reversal.
  const transfer = await p.stripe.transfers.retrieve(payout.stripe_transfer_id!);
  expect(transfer.amount_reversed).toBe(0);
  expect(await ledgerKinds(campaign.id, ['transfer_reversal'])).toEqual([]);
  expect(await ledgerKinds(campaign.id, ['reserve_drawn'])).toEqual([{ kind: 'reserve_drawn', settlement_amount: DISPUTE_SHARE, stripe_object_id: lost.stripe_dispute_id }]);
  const release = await p.stripe.transfers.retrieve(payout.reserve_release_transfer_id!);
  expect(release.amount).toBe(reserve - DISPUTE_SHARE);
  expect((await expectReconciled(campaign.id)).reserve).toEqual({ held: 0, drawn: DISPUTE_SHARE, released: reserve - DISPUTE_SHARE });
}, 180_000);

test('a dispute the reserve does not cover takes the rest back by a reversal; nothing is left to release', async () => {
  reserveFor({ bps: 1_000, periodDays: 30 });
  const reserve = Math.floor((OWED * 1_000) / 10_000);
  expect(reserve).toBeLessThan(DISPUTE_SHARE);
  const { campaign, lost, result } = await p.runWorkers(async () => {
    const { campaign, handle, dispute } = await paidOutCampaign({ disputed: true });
    const lost = await loseDispute(dispute!.id);
    await expectReconciled(campaign.id);
    await p.env.sleep(days(91));
    return { campaign, lost, result: await handle.result() };
  });

  expect(lost).toMatchObject({ status: 'lost', recovery: 'reversed', reserve_drawn: reserve, recovery_amount: DISPUTE_SHARE - reserve });
  const payout = await payoutRow(campaign.id);
  expect(payout).toMatchObject({ amount: OWED - reserve, reserve_status: 'released', reserve_release_amount: 0, reserve_release_transfer_id: null });
  expect(result).toMatchObject({ reserve: { state: 'released', released: 0, transferId: null } });
  expect((await p.stripe.transfers.retrieve(payout.stripe_transfer_id!)).amount_reversed).toBe(DISPUTE_SHARE - reserve);
  expect((await p.stripe.transfers.list({ transfer_group: campaign.id })).data).toHaveLength(1);
  expect((await expectReconciled(campaign.id)).reserve).toEqual({ held: 0, drawn: reserve, released: 0 });
}, 180_000);

test('PAYOUT_RESERVE_PERCENT=0 changes nothing: the whole amount is paid, no reserve in the books or the workflow', async () => {
  reserveFor({ bps: 0, periodDays: 30 });
  const { campaign, lost, result, settings } = await p.runWorkers(async () => {
    const { campaign, handle, dispute } = await paidOutCampaign({ disputed: true });
    const lost = await loseDispute(dispute!.id);
    const description = await handle.fetchHistory();
    const started = description.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    const settings = JSON.parse(Buffer.from(started!).toString()).settings as Record<string, unknown>;
    await p.env.sleep(days(91));
    return { campaign, lost, result: await handle.result(), settings };
  });

  expect(settings).not.toHaveProperty('payoutReserve');
  expect(lost).toMatchObject({ recovery: 'reversed', reserve_drawn: 0, recovery_amount: DISPUTE_SHARE });
  expect(await payoutRow(campaign.id)).toMatchObject({ amount: OWED, reserve_amount: 0, reserve_status: null });
  expect(result).not.toHaveProperty('reserve');
  expect(await ledgerKinds(campaign.id, ['reserve_held', 'reserve_drawn', 'reserve_released'])).toEqual([]);
  expect((await expectReconciled(campaign.id)).reserve).toEqual({ held: 0, drawn: 0, released: 0 });
}, 180_000);

test('a release whose answer Stripe lost is asked again under its key and pays once', async () => {
  reserveFor({ bps: 1_000, periodDays: 30 });
  const reserve = Math.floor((OWED * 1_000) / 10_000);
  const { campaign, released } = await p.runWorkers(async () => {
    const { campaign, handle } = await paidOutCampaign({ disputed: false });
    // Stripe makes the transfer but the answer never arrives: the retry is the same request, under the same key.
    await p.testStripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/transfers$', idempotencyKey: `^reserve-${campaign.id}-release$`, count: 1 });
    await p.env.sleep(days(31));
    const released = await handle.query(campaignStateQuery);
    await p.testStripe.clearFaults();
    await handle.terminate('scenario done');
    return { campaign, released };
  });

  expect(released).toMatchObject({ reserve: { state: 'released', released: reserve, transferId: expect.any(String) } });
  const transfers = (await p.stripe.transfers.list({ transfer_group: campaign.id })).data;
  expect(transfers.map((transfer) => transfer.amount).sort((a, b) => a - b)).toEqual([reserve, OWED - reserve].sort((a, b) => a - b));
  await expectReconciled(campaign.id);
}, 180_000);

test('every history replays', async () => {
  await expectHistoriesReplay(p, { maxChildren: 0 });
}, 120_000);
