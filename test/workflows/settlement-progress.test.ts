/**
 * Settlement's live progress where ops read it: the campaign query (`campaignState.settlement`), Temporal UI's
 * details (the workflow's current details, read through the `__temporal_workflow_metadata` query Temporal UI sends)
 * and GET /api/ops/campaigns/:id, while a campaign settles in batches across pages (continued as new) and after.
 */
import request from 'supertest';
import { campaignStateQuery, type CampaignState } from '../../workflows/messages';
import { createCampaign, createUser, days, placeMany, publishCampaign, type TestUser } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';
import { expectHistoriesReplay } from './replay-histories';

let p: TestPlatform;
let ops: TestUser;
beforeAll(async () => {
  // Pages of 4, so batches of 4 and a run per page: the twelve pledges take three runs.
  p = await createTestPlatform({ SETTLEMENT_WINDOW_SIZE: '8', SETTLEMENT_PAGE_SIZE: '4' });
  ops = await createUser(p, { role: 'ops' });
});
afterAll(() => p.close());

let nextAmount = 1_000;
const nextPledgeAmount = () => (nextAmount += 100);
/** The Stripe client's tries of one request (its `maxNetworkRetries: 3` and the first). */
const CLIENT_TRIES = 4;

test('while a campaign settles, its query, its Temporal UI details and the ops API show done / total, the pace and the time left', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 1_000, durationMs: days(5) });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const pledges = await placeMany(p, campaign, 'hold', 12, nextPledgeAmount);
    // The last pledge's capture fails on every try of its batch and of its own settlement's first attempt, so its
    // batch reports seconds after the other two, and it is settled later still, by its own child: moments at which
    // settlement is visibly under way.
    const slow = pledges.at(-1)!;
    await p.testStripe.injectFault({ kind: '500', idempotencyKey: `^pledge-${slow.id}-capture$`, count: 2 * CLIENT_TRIES });
    const clock = p.env.sleep(days(6));

    let state: CampaignState | undefined;
    for (let i = 0; i < 2_000; i++) {
      state = await handle.query(campaignStateQuery);
      if (state.phase === 'settling' && (state.settlement?.done ?? 0) >= 8) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(state?.phase).toBe('settling');
    const progress = state!.settlement!;
    expect(progress).toMatchObject({ total: 12, waiting: 0 });
    expect([8, 11]).toContain(progress.done);
    // The pace is settled pledges per second of workflow time since the oldest sample; the ETA follows from it.
    if (progress.ratePerSecond === null) expect(progress.etaSeconds).toBeNull();
    else {
      expect(progress.ratePerSecond).toBeGreaterThan(0);
      expect(progress.etaSeconds).toBe(Math.ceil((12 - progress.done) / progress.ratePerSecond));
    }

    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toMatch(/^\*\*settling\*\* · .* · settled (8|11) of 12 pledges/);

    const view = await request(p.app).get(`/api/ops/campaigns/${campaign.id}`).set(ops.auth).expect(200);
    expect(view.body.state.settlement).toMatchObject({ total: 12, waiting: 0 });
    expect(view.body.state.settlement.done).toBeGreaterThanOrEqual(progress.done);

    await clock;
    const settled = await handle.query(campaignStateQuery);
    expect(settled).toMatchObject({ phase: 'paying_out', pledges: { captured: 12, inFlight: 0 } });
    expect(settled.settlement).toMatchObject({ done: 12, total: 12, waiting: 0, etaSeconds: 0 });
    // Three pages, three runs: the progress crossed continue-as-new.
    expect((await p.env.client.workflow.count(`WorkflowId = 'campaign-${campaign.id}'`)).count).toBeGreaterThanOrEqual(3);
    const after = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(after.currentDetails).toMatch(/^\*\*funded\*\* · .* · captured 12, released 0/);
    await handle.terminate('scenario done');
  });
});

test('every history of settlement in batches replays deterministically (and is stored as a fixture on request)', async () => {
  // The campaign's runs, its batches, and the child a batch handed its failing pledge to (reporting to the campaign).
  const histories = await expectHistoriesReplay(p);
  expect(histories.filter((h) => h.name.startsWith('settlePledgeBatchWorkflow')).length).toBe(3);
  expect(histories.some((h) => h.name.startsWith('settlePledgeWorkflow'))).toBe(true);
});
