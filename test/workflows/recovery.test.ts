/**
 * The campaign workflow when things go wrong: cards that fail off-session (fixed in time, dropped, needing
 * authentication), support refunds before and after the payout, ops retries, a worker restarted mid-settlement,
 * and a creator who has not finished payout onboarding. Each scenario ends reconciled to the minor unit.
 */
import request from 'supertest';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { campaignStateQuery, pledgeSettlementStateQuery, pledgeSettlementWorkflowId } from '../../workflows/messages';
import { completeOnboarding, createCampaign, createUser, days, placePledge, pledgeRow, publishCampaign, type TestUser } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';
import { expectHistoriesReplay } from './replay-histories';

let p: TestPlatform;
let support: TestUser;
let ops: TestUser;
beforeAll(async () => {
  // One settlement child at a time and pages of 4 (a batch of 4 per page and run): a restart lands mid-settlement.
  p = await createTestPlatform({ SETTLEMENT_WINDOW_SIZE: '1', SETTLEMENT_PAGE_SIZE: '4' });
  support = await createUser(p, { role: 'support' });
  ops = await createUser(p, { role: 'ops' });
});
afterAll(() => p.close());


async function expectBalanced(campaignId: string) {
  const report = await reconcileCampaign(p.testDb.database.db, campaignId, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  return report;
}

test('a declined off-session charge: the backer is told, saves a new card within the grace window, and is charged', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(30) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge, backer } = await placePledge(p, campaign, { amount: 2_000, style: 'saved_card', card: 'pm_card_chargeCustomerFail' });
    await p.env.sleep(days(31));
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'settling', pledges: { errored: 1 } });
    const errored = await pledgeRow(p, pledge.id);
    expect(errored).toMatchObject({ status: 'errored', failure_code: 'generic_decline' });
    await p.deliverMail();
    const mail = p.mail.find((message) => message.to === backer.email && message.subject.includes('payment'));
    expect(mail?.text).toContain(`/pledges/${pledge.id}/payment-method`);

    await request(p.app).post(`/api/pledges/${pledge.id}/payment-method`).set(backer.auth).send({ paymentMethodId: 'not-a-card' }).expect(400);
    await request(p.app).post(`/api/pledges/${pledge.id}/payment-method`).set(support.auth).send({ paymentMethodId: 'pm_card_visa' }).expect(403);
    await request(p.app).post(`/api/pledges/${pledge.id}/payment-method`).set(backer.auth).send({ paymentMethodId: 'pm_card_visa' }).expect(202);
    await p.env.sleep(days(1));
    expect((await pledgeRow(p, pledge.id)).status).toBe('captured');
    const child = p.env.client.workflow.getHandle(pledgeSettlementWorkflowId(campaign.id, pledge.id));
    expect(await child.query(pledgeSettlementStateQuery)).toMatchObject({ status: 'captured', attempt: 2 });
    expect(await handle.result()).toMatchObject({ pledges: { captured: 1, errored: 0 }, payout: { state: 'paid' } });
  });
  await expectBalanced(campaign.id);
});

test('a failed charge not fixed within the grace window is dropped and its reward unit released', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(30) });
  const reward = await p.testDb.database.db
    .insertInto('rewards')
    .values({ campaign_id: campaign.id, title: 'Print', min_pledge: 1_000, limit_qty: 5 })
    .returningAll()
    .executeTakeFirstOrThrow();
  const state = await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    await placePledge(p, campaign, { amount: 1_500, style: 'saved_card', rewardId: reward.id });
    const { pledge } = await placePledge(p, campaign, { amount: 1_500, style: 'saved_card', card: 'pm_card_chargeCustomerFail', rewardId: reward.id });
    await p.env.sleep(days(38));
    expect(await pledgeRow(p, pledge.id)).toMatchObject({ status: 'dropped', failure_code: 'generic_decline' });
    return handle.result();
  });
  expect(state).toMatchObject({ outcome: 'funded', pledges: { captured: 1, dropped: 1 }, payout: { state: 'paid' } });
  const after = await p.testDb.database.db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
  expect(after.claimed_qty).toBe(1);
  await expectBalanced(campaign.id);
});

test('a card that needs authentication fails off-session once its hold lapsed, and waits as errored', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(10) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const backer = await createUser(p);
    const customer = await p.stripe.customers.create({});
    await p.testDb.database.db.updateTable('users').set({ stripe_customer_id: customer.id }).where('id', '=', backer.id).execute();
    const intent = await p.stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', customer: customer.id, payment_method: 'pm_card_authenticationRequired', confirm: true, capture_method: 'manual', setup_future_usage: 'off_session' });
    await p.testStripe.authenticate('payment_intents', intent.id);
    const pledge = await p.testDb.database.db
      .insertInto('pledges')
      .values({ campaign_id: campaign.id, backer_id: backer.id, amount: 2_000, currency: 'USD', status: 'authorized', payment_intent_id: intent.id, payment_method_id: intent.payment_method as string })
      .returningAll()
      .executeTakeFirstOrThrow();
    await p.env.sleep(days(11));
    expect(await pledgeRow(p, pledge.id)).toMatchObject({ status: 'errored', failure_code: 'authentication_required' });
    expect(await handle.query(campaignStateQuery)).toMatchObject({ pledges: { errored: 1 } });
    await handle.terminate('scenario done');
  });
  const report = await expectBalanced(campaign.id);
  expect(report.breakdown.netCollected).toBe(0);
});

test('support refunds before the payout (smaller payout) and after it (the creator’s share is reversed)', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(5) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const first = await placePledge(p, campaign, { amount: 10_000, style: 'hold' });
    const second = await placePledge(p, campaign, { amount: 20_000, style: 'hold' });
    await p.env.sleep(days(6));

    await request(p.app).post(`/api/support/pledges/${first.pledge.id}/refunds`).set(first.backer.auth).send({ reason: 'not support' }).expect(403);
    await request(p.app).post(`/api/support/pledges/${first.pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'first-too-much').send({ amount: '1000.00', reason: 'too much' }).expect(422);
    await request(p.app).post(`/api/support/pledges/${first.pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'first-bad-amount').send({ amount: '12.345', reason: 'bad amount' }).expect(400);
    const before = await request(p.app).post(`/api/support/pledges/${first.pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'first-damaged').send({ amount: '25.00', reason: 'item damaged' }).expect(202);
    expect(before.body).toMatchObject({ status: 'requested', refundId: expect.any(String) });
    await p.env.sleep(days(15));
    const paid = await handle.query(campaignStateQuery);
    expect(paid.payout).toMatchObject({ state: 'paid' });
    expect(paid.totals.refunded).toBe(2_500);
    const refund = await p.testDb.database.db.selectFrom('refunds').selectAll().where('id', '=', before.body.refundId as string).executeTakeFirstOrThrow();
    expect(refund).toMatchObject({ status: 'succeeded', transfer_reversal_amount: 0 });

    const after = await request(p.app).post(`/api/support/pledges/${second.pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'second-changed-mind').send({ reason: 'changed mind' }).expect(202);
    await p.env.sleep(days(1));
    const reversed = await p.testDb.database.db.selectFrom('refunds').selectAll().where('id', '=', after.body.refundId as string).executeTakeFirstOrThrow();
    expect(reversed).toMatchObject({ status: 'succeeded', amount: 20_000 });
    // 20,000 refunded: commission falls by 6% of it (1,200), the creator returns the rest (18,800).
    expect(reversed.transfer_reversal_amount).toBe(18_800);
    const transfer = await p.stripe.transfers.retrieve(paid.payout!.transferId!);
    expect(transfer.amount_reversed).toBe(18_800);
    expect((await pledgeRow(p, second.pledge.id)).status).toBe('refunded');
    await request(p.app).post(`/api/support/pledges/${second.pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'second-again').send({ reason: 'again' }).expect(409);
    // A refund signalled again (ops re-sending it by hand) is carried out once and counted once.
    await p.workflows.refund(campaign.id, after.body.refundId as string);
    await p.env.sleep(60_000);
    expect((await handle.query(campaignStateQuery)).totals.refunded).toBe(22_500);
    expect((await p.stripe.refunds.list({ payment_intent: (await pledgeRow(p, second.pledge.id)).payment_intent_id! })).data).toHaveLength(1);

    // The refund window closes 90 days after settlement, and the workflow with it: nothing would carry out a refund.
    await p.env.sleep(days(91));
    await handle.result();
    const late = await request(p.app).post(`/api/support/pledges/${first.pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'first-too-late').send({ reason: 'too late' }).expect(409);
    expect(late.body.error.code).toBe('refund_window_closed');
    const refunds = await p.testDb.database.db.selectFrom('refunds').select(['reason', 'status']).where('pledge_id', '=', first.pledge.id).orderBy('created_at').execute();
    expect(refunds).toEqual([
      { reason: 'item damaged', status: 'succeeded' },
      { reason: 'too late', status: 'failed' },
    ]);
  });
  const report = await expectBalanced(campaign.id);
  expect(report.breakdown.held).toBe(0);
  await p.deliverMail();
  expect(p.mail.filter((message) => message.subject.startsWith('Refund for your pledge')).length).toBeGreaterThanOrEqual(2);
});

test('ops retry re-runs an errored settlement at once, and ops can read the workflow state', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(30) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const { pledge } = await placePledge(p, campaign, { amount: 3_000, style: 'saved_card', card: 'pm_card_chargeCustomerFail' });
    await p.env.sleep(days(31));
    expect((await pledgeRow(p, pledge.id)).status).toBe('errored');
    // The backer fixed the card with their bank; ops retry without waiting for the backer.
    const card = await p.stripe.paymentMethods.attach('pm_card_visa', { customer: (await p.testDb.database.db.selectFrom('users').select('stripe_customer_id').where('id', '=', pledge.backer_id).executeTakeFirstOrThrow()).stripe_customer_id! });
    await p.testDb.database.db.updateTable('pledges').set({ payment_method_id: card.id }).where('id', '=', pledge.id).execute();
    await request(p.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(creator.auth).expect(403);
    await request(p.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(ops.auth).expect(202);
    await p.env.sleep(60_000);
    expect((await pledgeRow(p, pledge.id)).status).toBe('captured');
    const view = await request(p.app).get(`/api/ops/campaigns/${campaign.id}`).set(ops.auth).expect(200);
    expect(view.body.state).toMatchObject({ outcome: 'funded', pledges: { captured: 1, errored: 0 } });
    expect(view.body.workflow).toMatchObject({ workflowId: `campaign-${campaign.id}`, status: 'RUNNING', searchAttributes: { CampaignId: campaign.id, CampaignStatus: 'funded' } });
    await request(p.app).get(`/api/ops/campaigns/${campaign.id}`).set(support.auth).expect(403);
    await handle.terminate('scenario done');
  });
  await expectBalanced(campaign.id);
});

test('a worker restarted in the middle of settlement: every pledge captured exactly once, pages continued as new', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(5) });
  const handle = await p.runWorkers(() => publishCampaign(p, campaign.id, creator));
  const pledges = [];
  for (let i = 0; i < 12; i++) pledges.push((await placePledge(p, campaign, { amount: 1_000 + i, style: 'hold' })).pledge);
  await p.testStripe.injectFault({ kind: 'latency', path: '/capture$', latencyMs: 150 });
  const db = p.testDb.database.db;
  const captured = async () => Number((await db.selectFrom('pledges').select((eb) => eb.fn.countAll<number>().as('n')).where('campaign_id', '=', campaign.id).where('status', '=', 'captured').executeTakeFirstOrThrow()).n);

  const first = await p.newWorkers();
  const running = Promise.all(first.map((worker) => worker.run()));
  const clock = p.env.sleep(days(6));
  for (let i = 0; i < 1200 && (await captured()) < 3; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  for (const worker of first) worker.shutdown();
  await running;
  const midway = await captured();
  expect(midway).toBeGreaterThanOrEqual(3);
  expect(midway).toBeLessThan(12);

  await p.testStripe.clearFaults();
  await p.runWorkers(async () => {
    await clock;
    await p.env.sleep(days(1));
    expect(await captured()).toBe(12);
    const state = await handle.query(campaignStateQuery);
    expect(state.pledges).toMatchObject({ captured: 12, inFlight: 0 });
    const runs = await p.env.client.workflow.count(`WorkflowId = 'campaign-${campaign.id}'`);
    expect(runs.count).toBeGreaterThanOrEqual(3); // 12 pledges in pages of 4
    await handle.terminate('scenario done');
  });
  const log = await p.testStripe.requests();
  for (const pledge of pledges) {
    const captures = log.filter((r) => r.path === `/v1/payment_intents/${pledge.payment_intent_id}/capture` && r.status === 200 && !r.replayed);
    expect(captures).toHaveLength(1);
  }
  await expectBalanced(campaign.id);
}, 120_000);

test('the payout waits for a creator who has not finished onboarding, reminds them, and pays once they have', async () => {
  const creator = await createUser(p, { connect: 'pending' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(5) });
  await p.testDb.database.db.updateTable('campaigns').set({ status: 'scheduled' }).where('id', '=', campaign.id).execute();
  await p.runWorkers(async () => {
    // Published while the account could still receive transfers; Stripe restricted it since.
    await p.workflows.start({ id: campaign.id, title: campaign.title, creatorId: creator.id, model: campaign.model, endsAt: campaign.ends_at });
    const handle = p.env.client.workflow.getHandle(`campaign-${campaign.id}`);
    await placePledge(p, campaign, { amount: 5_000, style: 'hold' });
    await p.env.sleep(days(20));
    expect((await handle.query(campaignStateQuery)).payout).toMatchObject({ state: 'account_not_ready' });
    await p.deliverMail();
    expect(p.mail.some((message) => message.subject.startsWith('Finish your payout setup'))).toBe(true);
    await completeOnboarding(p, creator.id);
    await p.workflows.connectAccountUpdated(campaign.id);
    await p.env.sleep(60_000);
    expect((await handle.query(campaignStateQuery)).payout).toMatchObject({ state: 'paid' });
    await handle.terminate('scenario done');
  });
  await expectBalanced(campaign.id);
});

test('every history of these failure paths replays deterministically (and is stored as a fixture on request)', async () => {
  // Errored then fixed, dropped, refunds before and after the payout, ops retries, a payout waiting for onboarding.
  await expectHistoriesReplay(p, { maxChildren: 6 });
});
