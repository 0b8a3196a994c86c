/**
 * The campaign workflow end to end on the Temporal stand-in (time skipping through real durations), with the real
 * activities against Postgres and the Stripe stand-in: each financing model's outcome, cancellation, and a hold
 * that lapsed before the deadline. Every scenario ends with the ledger reconciled to the minor unit.
 */
import request from 'supertest';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { campaignStateQuery } from '../../workflows/messages';
import { campaignRow, createCampaign, createUser, days, placePledge, pledgeRow, publishCampaign } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';
import { expectHistoriesReplay } from './replay-histories';

let p: TestPlatform;
beforeAll(async () => {
  p = await createTestPlatform();
});
afterAll(() => p.close());


async function expectBalanced(campaignId: string) {
  const report = await reconcileCampaign(p.testDb.database.db, campaignId, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.balanced).toBe(true);
  return report;
}

/** Every Stripe capture and charge was requested once per pledge (retries replay the same idempotency key). */
async function expectNoDoubleCharges() {
  const log = await p.testStripe.requests();
  const captures = log.filter((r) => /\/capture$/.test(r.path) && r.status === 200 && !r.replayed).map((r) => r.path);
  expect(new Set(captures).size).toBe(captures.length);
  const charges = log.filter((r) => r.path === '/v1/payment_intents' && r.idempotencyKey?.includes('-charge-') && r.status === 200 && !r.replayed).map((r) => r.idempotencyKey);
  expect(new Set(charges).size).toBe(charges.length);
}

test('all-or-nothing, funded: holds are captured at the deadline and the creator is paid the net after the payout delay', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 10_000, durationMs: days(5) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const pledges = await Promise.all([4_000, 5_000, 3_000].map((amount) => placePledge(p, campaign, { amount, style: 'hold' })));
    await p.env.sleep(days(6));
    const settled = await handle.query(campaignStateQuery);
    expect(settled).toMatchObject({ phase: 'paying_out', outcome: 'funded', totals: { pledged: 12_000, backers: 3, captured: 12_000 } });
    expect(settled.pledges).toMatchObject({ captured: 3, inFlight: 0, errored: 0 });
    for (const { pledge } of pledges) expect((await pledgeRow(p, pledge.id)).status).toBe('captured');
    expect((await campaignRow(p, campaign.id)).status).toBe('funded');

    await p.env.sleep(days(15));
    const paid = await handle.query(campaignStateQuery);
    expect(paid.payout).toMatchObject({ state: 'paid' });
    // Stripe's 2.9% + 30 on each charge (116 + 145 + 87 + 3 x 30 = 438); the commission is 6% of 12,000 = 720.
    const fees = 438;
    const expectedTransfer = 12_000 - 720 - fees;
    expect(paid.payout?.amount).toBe(expectedTransfer);
    const transfer = await p.stripe.transfers.retrieve(paid.payout!.transferId!);
    expect(transfer).toMatchObject({ amount: expectedTransfer, destination: creator.accountId, transfer_group: campaign.id });

    const description = await handle.describe();
    expect(description.searchAttributes).toMatchObject({ CampaignStatus: ['paid_out'], CampaignId: [campaign.id], CampaignModel: ['aon'] });
    const report = await expectBalanced(campaign.id);
    expect(report.breakdown).toMatchObject({ netCollected: 12_000, transferred: expectedTransfer, commission: 720, processingFees: fees, held: 0 });
  });
  await expectNoDoubleCharges();
});

test('all-or-nothing, failed: the goal is missed, every hold is released and nobody pays', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(3) });
  const result = await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge } = await placePledge(p, campaign, { amount: 2_500, style: 'hold' });
    const state = await handle.result();
    const row = await pledgeRow(p, pledge.id);
    expect(row.status).toBe('released');
    expect((await p.stripe.paymentIntents.retrieve(row.payment_intent_id!)).status).toBe('canceled');
    return state;
  });
  expect(result).toMatchObject({ phase: 'done', outcome: 'failed', payout: null, pledges: { released: 1, captured: 0 } });
  expect((await campaignRow(p, campaign.id)).status).toBe('failed');
  const report = await expectBalanced(campaign.id);
  expect(report.breakdown.netCollected).toBe(0);
  await p.deliverMail();
  expect(p.mail.some((message) => message.subject.includes('did not reach its goal'))).toBe(true);
});

test('keep-it-all: pledges charged at pledge time are kept whatever the total, and paid out', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'kia', goal: 1_000_000, durationMs: days(10) });
  const state = await p.runWorkers(async () => {
    await publishCampaign(p, campaign.id, creator);
    await placePledge(p, campaign, { amount: 1_999, style: 'charge' });
    await placePledge(p, campaign, { amount: 10_001, style: 'charge' });
    return p.env.client.workflow.getHandle(`campaign-${campaign.id}`).result();
  });
  expect(state).toMatchObject({ outcome: 'funded', phase: 'done', payout: { state: 'paid' } });
  // Stripe's 2.9% + 30 on each charge: 58 (57.971) + 30 and 290 (290.029) + 30; 6% of 12,000 is 720.
  const fees = 58 + 30 + 290 + 30;
  expect(state.payout?.amount).toBe(12_000 - 720 - fees);
  await expectBalanced(campaign.id);
});

test('hybrid beyond the hold window: saved cards are charged off-session at the deadline', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'hybrid', goal: 5_000, durationMs: days(30) });
  await p.testDb.database.db.insertInto('stretch_goals').values({ campaign_id: campaign.id, title: 'Colour edition', target_amount: 8_000 }).execute();
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const pledges = await Promise.all([3_000, 3_500].map((amount) => placePledge(p, campaign, { amount, style: 'saved_card' })));
    await p.env.sleep(days(31));
    const state = await handle.query(campaignStateQuery);
    expect(state).toMatchObject({ outcome: 'funded', totals: { captured: 6_500 }, pledges: { captured: 2 } });
    for (const { pledge } of pledges) {
      const row = await pledgeRow(p, pledge.id);
      expect(row.status).toBe('captured');
      const intent = await p.stripe.paymentIntents.retrieve(row.payment_intent_id!);
      expect(intent.metadata).toMatchObject({ pledge_id: pledge.id, attempt: '1' });
    }
    await handle.result();
  });
  await expectBalanced(campaign.id);
});

test('a hold that would lapse before the deadline is released at placement, and the saved card is charged at the deadline', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(10) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    // Asked as a hold (a hold window longer than Stripe's 7 days), but its capture_before falls before the deadline.
    const { pledge } = await placePledge(p, campaign, { amount: 2_000, style: 'hold' });
    expect(pledge).toMatchObject({ status: 'authorized', payment_intent_id: null, hold_expires_at: null });
    const holds = [...p.testStripe.standin.state.paymentIntents.values()].filter((intent) => intent.metadata.pledge_id === pledge.id);
    expect(holds.map((intent) => [intent.capture_method, intent.status, intent.cancellation_reason])).toEqual([['manual', 'canceled', 'abandoned']]);
    await p.env.sleep(days(11));
    const row = await pledgeRow(p, pledge.id);
    expect(row.status).toBe('captured');
    expect((await p.stripe.paymentIntents.retrieve(row.payment_intent_id!)).status).toBe('succeeded');
    await handle.result();
  });
  await expectBalanced(campaign.id);
});

test('cancelled: holds are released and keep-it-all charges refunded in full, with the backers told', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  // Within the 7 days Stripe keeps a hold, so the all-or-nothing pledge is a real hold that cancellation releases.
  const aon = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(5) });
  const kia = await createCampaign(p, creator, { model: 'kia', goal: 1_000, durationMs: days(20) });
  await p.runWorkers(async () => {
    const aonHandle = await publishCampaign(p, aon.id, creator);
    const kiaHandle = await publishCampaign(p, kia.id, creator);
    const held = await placePledge(p, aon, { amount: 3_000, style: 'hold' });
    const charged = await placePledge(p, kia, { amount: 4_000, style: 'charge' });
    await p.env.sleep(days(1));
    for (const campaign of [aon, kia]) {
      await request(p.app).post(`/api/campaigns/${campaign.id}/cancel`).set(creator.auth).send({ reason: 'Supplier went bankrupt' }).expect(202);
    }
    expect(await aonHandle.result()).toMatchObject({ outcome: 'cancelled', cancelReason: 'Supplier went bankrupt', pledges: { released: 1 } });
    expect(await kiaHandle.result()).toMatchObject({ outcome: 'cancelled', pledges: { refunded: 1 }, totals: { refunded: 4_000 } });
    expect((await pledgeRow(p, held.pledge.id)).status).toBe('released');
    expect((await p.stripe.paymentIntents.retrieve(held.pledge.payment_intent_id!)).status).toBe('canceled');
    const refunded = await pledgeRow(p, charged.pledge.id);
    expect(refunded).toMatchObject({ status: 'refunded', amount_refunded: 4_000 });
  });
  expect((await campaignRow(p, aon.id)).status).toBe('cancelled');
  await expectBalanced(aon.id);
  await expectBalanced(kia.id);
  await p.deliverMail();
  expect(p.mail.filter((message) => message.subject.includes('was cancelled')).length).toBeGreaterThanOrEqual(2);
  expect(p.mail.some((message) => message.subject.includes('Refund for your pledge'))).toBe(true);
});

test('a hold that lapsed before the deadline falls back to an off-session charge of the saved card', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(5) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge } = await placePledge(p, campaign, { amount: 2_000, style: 'hold' });
    // Its capture_before (7 days) outlasted the deadline, but Stripe let it lapse before settlement came to it.
    // Stripe's clock then stays ahead of the workflow's for good (it never goes back): this test runs last.
    expect(pledge.payment_intent_id).toMatch(/^pi_/);
    await p.testStripe.advanceClock(8 * 86_400);
    await p.env.sleep(days(6));
    const row = await pledgeRow(p, pledge.id);
    expect(row.status).toBe('captured');
    expect(row.payment_intent_id).not.toBe(pledge.payment_intent_id);
    expect(await p.stripe.paymentIntents.retrieve(pledge.payment_intent_id!)).toMatchObject({ status: 'canceled', cancellation_reason: 'automatic' });
    expect((await p.stripe.paymentIntents.retrieve(row.payment_intent_id!)).status).toBe('succeeded');
    await handle.result();
  });
  await expectBalanced(campaign.id);
});

test('every history these scenarios produced replays deterministically (and is stored as a fixture on request)', async () => {
  // Every campaign run of these scenarios, and a few settlement children: small, and each shape pinned.
  const histories = await expectHistoriesReplay(p, { maxChildren: 3 });
  expect(histories.filter((h) => h.name.startsWith('campaignWorkflow')).length).toBeGreaterThanOrEqual(7);
  expect(histories.some((h) => h.name.startsWith('settlePledgeWorkflow'))).toBe(true);
});
