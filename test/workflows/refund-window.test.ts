/**
 * A campaign's refund window takes refunds for 90 days, each one a signal and an activity in the campaign
 * workflow's history: the workflow continues as new from the payout and refund-window phases, so no run grows
 * without bound, and every refund queued across those runs is carried out exactly once.
 */
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { requestRefund } from '../../src/refunds/request-refund';
import { campaignStateQuery, campaignWorkflowId } from '../../workflows/messages';
import { createCampaign, createUser, days, placePledge, publishCampaign } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';

/** Temporal's own advice: keep a run well under ~10k events (the server suggests continuing as new before then). */
const EVENTS_PER_RUN_LIMIT = 10_000;
const REFUNDS = 3_000;
const REFUND_AMOUNT = 100;
const PLEDGE_AMOUNT = 400_000;
const PLEDGES = 3;

let p: TestPlatform;
beforeAll(async () => {
  p = await createTestPlatform();
});
afterAll(() => p.close());

/** Requests `count` refunds of REFUND_AMOUNT through support's code path and signals each, a few at a time. */
async function refundMany(campaignId: string, pledgeIds: string[], count: number, supportId: string): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const sender = async (lane: number) => {
    while (next < count) {
      next++;
      const { refund } = await requestRefund(p.testDb.database, { pledgeId: pledgeIds[lane % pledgeIds.length]!, amount: REFUND_AMOUNT, reason: 'partial', requestedBy: supportId });
      await p.workflows.refund(campaignId, refund.id);
      ids.push(refund.id);
    }
  };
  await Promise.all(Array.from({ length: pledgeIds.length * 3 }, (_, lane) => sender(lane)));
  return ids;
}

async function refundsDone(ids: string[]): Promise<void> {
  const db = p.testDb.database.db;
  for (;;) {
    const pending = await db.selectFrom('refunds').select(db.fn.countAll<string>().as('n')).where('id', 'in', ids).where('status', '=', 'requested').executeTakeFirstOrThrow();
    if (Number(pending.n) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('3,000 refunds in one campaign’s refund window: every run under 10,000 events, each refund carried out once', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const support = await createUser(p, { role: 'support' });
  const campaign = await createCampaign(p, creator, { model: 'kia', goal: 1_000, durationMs: days(1) });
  const pledges: string[] = [];

  const { state, beforePayout, afterPayout } = await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    for (let i = 0; i < PLEDGES; i++) pledges.push((await placePledge(p, campaign, { amount: PLEDGE_AMOUNT, style: 'charge' })).pledge.id);
    await p.env.sleep(days(1) + 60_000);
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'paying_out', payout: null });
    // Half while the payout waits for its delay, half after the creator was paid (each reverses part of the transfer).
    const beforePayout = await refundMany(campaign.id, pledges, REFUNDS / 2, support.id);
    await refundsDone(beforePayout);
    await p.env.sleep(days(15));
    expect(await handle.query(campaignStateQuery)).toMatchObject({ phase: 'refund_window', payout: { state: 'paid' } });
    const afterPayout = await refundMany(campaign.id, pledges, REFUNDS / 2, support.id);
    await refundsDone(afterPayout);
    return { state: await handle.result(), beforePayout, afterPayout };
  });

  expect(state).toMatchObject({ phase: 'done', totals: { refunded: REFUNDS * REFUND_AMOUNT }, failedRefunds: [] });
  const db = p.testDb.database.db;
  const refunds = await db.selectFrom('refunds').select(['id', 'status', 'stripe_refund_id', 'transfer_reversal_amount']).where('pledge_id', 'in', pledges).execute();
  expect(refunds).toHaveLength(REFUNDS);
  expect(refunds.filter((refund) => refund.status !== 'succeeded')).toEqual([]);
  expect(new Set(refunds.map((refund) => refund.stripe_refund_id)).size).toBe(REFUNDS);
  const reversed = new Set(refunds.filter((refund) => refund.transfer_reversal_amount > 0).map((refund) => refund.id));
  expect(beforePayout.filter((id) => reversed.has(id))).toEqual([]);
  expect(afterPayout.filter((id) => reversed.has(id))).toHaveLength(REFUNDS / 2);

  // Stripe made each refund once: one applied request per refund, whatever was retried.
  const applied = p.testStripe.standin.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds' && r.status === 200 && !r.replayed);
  expect(applied).toHaveLength(REFUNDS);
  expect(new Set(applied.map((r) => r.idempotencyKey)).size).toBe(REFUNDS);
  for (const pledgeId of pledges) {
    const intent = [...p.testStripe.standin.state.paymentIntents.values()].find((pi) => pi.metadata?.pledge_id === pledgeId)!;
    const charge = p.testStripe.standin.state.charges.get(intent.latest_charge as string)!;
    const row = await db.selectFrom('pledges').select('amount_refunded').where('id', '=', pledgeId).executeTakeFirstOrThrow();
    expect(charge.amount_refunded).toBe(row.amount_refunded);
  }
  expect(pledges.length * PLEDGE_AMOUNT - REFUNDS * REFUND_AMOUNT).toBe(
    Number((await db.selectFrom('pledges').select((eb) => eb.fn.sum<string>(eb('amount_captured', '-', eb.ref('amount_refunded'))).as('left')).where('id', 'in', pledges).executeTakeFirstOrThrow()).left),
  );

  const runs = [];
  for await (const execution of p.env.client.workflow.list()) {
    if (execution.workflowId === campaignWorkflowId(campaign.id)) runs.push({ runId: execution.runId, events: execution.historyLength, status: execution.status.name });
  }
  console.log(`refund window: ${REFUNDS} refunds over ${runs.length} runs, the longest ${Math.max(...runs.map((run) => run.events))} events`);
  // Continued as new in the payout phase and in the refund window, each run well under the limit.
  expect(runs.length).toBeGreaterThanOrEqual(4);
  expect(runs.filter((run) => run.events >= EVENTS_PER_RUN_LIMIT)).toEqual([]);
  expect(runs.filter((run) => run.status === 'COMPLETED')).toHaveLength(1);

  const report = await reconcileCampaign(db, campaign.id, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
}, 600_000);
