/**
 * Kill drill: the product's worker runs as its own OS process (`node dist/src/worker/main.js`) and is killed with
 * SIGKILL at random points while a campaign settles, then started again, three times. Nothing of the dead process
 * survives: not its Stripe requests in flight (Stripe applies them anyway), not its activities (Temporal times them
 * out, a settlement batch after its heartbeat timeout and any other after its start-to-close timeout, and retries
 * them), not its cached workflows. Every pledge must still be settled exactly once, the creator paid once, and the
 * campaign reconcile to the minor unit.
 *
 * Temporal is the time-skipping stand-in and Stripe the stand-in, both in this process, so they outlive the
 * worker. Time skips to the deadline and over the payout delay, but not while settlement runs: a pending activity
 * holds the test server's clock (as in Temporal's own test server), so an activity lost with its worker costs its
 * real timeout (a batch's 30 s heartbeat timeout, another activity's one-minute start-to-close timeout), and a
 * workflow task left on the dead worker's sticky queue its real 10 s. Settlement is paced (the worker's Stripe rate
 * limits, Stripe's answer time) so that the kills all come in the first half-minute or so and their timeouts
 * overlap: the drill takes about 100 s.
 */
import { type WorkflowExecutionInfo } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { type LoggedRequest } from '@crowdfund/stripe-standin';
import { NOTIFICATION_OUTBOX_WORKFLOW_ID } from '../../workflows/notification-outbox';
import { PENDING_PLEDGE_SWEEP_SCHEDULE_ID } from '../../workflows/pending-pledge-sweep';
import { DATA_RETENTION_WORKFLOW_ID } from '../../workflows/data-retention';
import { createCampaign, createUser, days, placeMany, publishCampaign } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';
import { TEST_STRIPE_KEY } from '../helpers/stripe';
import { createDedicatedDatabase } from '../helpers/db';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';
import { expectSettledOnce } from './expect-settled-once';

const KILLS = 3;
/**
 * The worker's Stripe rate limits, of its task queue and of its requests: they pace settlement, so that a kill finds
 * only a few pledges in flight and the restarted worker has work left that the dead one never took (an activity lost
 * with its worker holds its pledges' places in the settlement window until its timeout).
 */
const STRIPE_ACTIVITIES_PER_SECOND = 6;
const STRIPE_REQUESTS_PER_SECOND = 6;
/** Stripe takes this long to answer a money movement, so that a kill often lands while one is in flight. */
const STRIPE_LATENCY_MS = 250;
const DAY_SECONDS = 24 * 60 * 60;

let p: TestPlatform;
let worker: WorkerProcess | undefined;
let workerEnv: Record<string, string>;
beforeAll(async () => {
  const database = await createDedicatedDatabase();
  try {
    // Small pages, so that some kills land around a continue-as-new.
    p = await createTestPlatform(
      { SETTLEMENT_WINDOW_SIZE: '10', SETTLEMENT_PAGE_SIZE: '8', TEMPORAL_TASK_QUEUE: `campaigns-${database.name}`, TEMPORAL_STRIPE_TASK_QUEUE: `stripe-${database.name}` },
      { database },
    );
  } catch (error) {
    await database.drop();
    throw error;
  }
  workerEnv = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: '5',
    TEMPORAL_ADDRESS: p.env.address,
    TEMPORAL_NAMESPACE: p.config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: p.config.temporal.taskQueue,
    TEMPORAL_STRIPE_TASK_QUEUE: p.config.temporal.stripeTaskQueue,
    STRIPE_ACTIVITIES_PER_SECOND: String(STRIPE_ACTIVITIES_PER_SECOND),
    STRIPE_REQUESTS_PER_SECOND: String(STRIPE_REQUESTS_PER_SECOND),
    STRIPE_SECRET_KEY: TEST_STRIPE_KEY,
    STRIPE_API_BASE: p.testStripe.url,
  };
});
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await p?.close();
});

/**
 * Starts the worker process. Its main also starts the housekeeping workflows (outbox every 2 s, pending-pledge
 * sweep every 5 min, data retention hourly); on a time-skipping server they would run once per interval of every
 * week skipped, so they are stopped here: this drill is about settlement, and mail is not delivered in workflow
 * tests anyway.
 */
async function startWorker(): Promise<WorkerProcess> {
  const started = await startWorkerProcess(workerEnv);
  for (const workflowId of [NOTIFICATION_OUTBOX_WORKFLOW_ID, DATA_RETENTION_WORKFLOW_ID]) {
    await p.env.client.workflow.getHandle(workflowId).terminate('not run by the kill drill');
  }
  await p.env.client.schedule.getHandle(PENDING_PLEDGE_SWEEP_SCHEDULE_ID).delete();
  return started;
}


let nextAmount = 2_000;
const nextPledgeAmount = () => (nextAmount += 211);

/** The pledge a capture or off-session charge request is for, from its idempotency key. */
const moneyPledge = (r: LoggedRequest) => (r.method === 'POST' ? /^pledge-(.+)-(capture|charge-\d+)$/.exec(r.idempotencyKey ?? '')?.[1] : undefined);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

async function until(what: string, done: () => Promise<boolean>, timeoutMs: number, everyMs: number, progress: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${await progress()}`);
    await pause(everyMs);
  }
}

test('the worker process killed at random points of settlement and restarted: each pledge settled exactly once, the ledger balanced', async () => {
  const db = p.testDb.database.db;
  worker = await startWorker();
  const creator = await createUser(p, { connect: 'onboarded' });
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 10_000, durationMs: days(10) });
  const handle = await publishCampaign(p, campaign.id, creator);
  // Held 10 days before the deadline: lapsed by then (the saved card is charged off-session).
  const lapsing = await placeMany(p, campaign, 'hold', 8, nextPledgeAmount);
  const saved = await placeMany(p, campaign, 'saved_card', 4, nextPledgeAmount);
  await p.env.sleep(days(8));
  // The worker process does not move the Stripe stand-in's clock with the workflow clock (the in-process test
  // workers do): the test does, where it matters.
  await p.testStripe.advanceClock(8 * DAY_SECONDS);
  const holds = await placeMany(p, campaign, 'hold', 18, nextPledgeAmount);
  const pledges = [...lapsing, ...saved, ...holds];
  await p.testStripe.clearRequests();
  await p.testStripe.injectFault({ kind: 'latency', latencyMs: STRIPE_LATENCY_MS, method: 'POST', path: '^/v1/payment_intents(/[^/]+/capture)?$' });

  // To a second before the deadline: the last second passes in real time, with the kills already watching.
  await p.env.sleep(campaign.ends_at.getTime() - (await p.env.currentTimeMs()) - 1_000);
  const startedAt = Date.now();
  // Settlement runs from the deadline in real time. Kill after the k-th pledge's money movement reached Stripe,
  // then a random part of Stripe's answer time later: k (distinct for each kill) and the pause are drawn at random.
  const candidates = Array.from({ length: pledges.length - 2 }, (_, index) => index + 1);
  const points = Array.from({ length: KILLS }, () => candidates.splice(randomInt(0, candidates.length - 1), 1)[0]!).sort((a, b) => a - b);
  const kills: Array<{ afterPledges: number; pauseMs: number; inFlight: LoggedRequest[]; captured: number }> = [];
  const reached = () => new Set(p.testStripe.standin.requests.map(moneyPledge).filter(Boolean)).size;
  const capturedCount = async () => (await db.selectFrom('pledges').select('id').where('campaign_id', '=', campaign.id).where('status', '=', 'captured').execute()).length;
  const progress = async () => `${reached()} pledges reached Stripe, ${await capturedCount()} of ${pledges.length} captured, kills so far ${JSON.stringify(kills.map((kill) => kill.afterPledges))}`;
  for (const point of points) {
    await until(`pledge ${point} at Stripe`, async () => reached() >= point, 120_000, 2, progress);
    const pauseMs = randomInt(0, STRIPE_LATENCY_MS - 1);
    await pause(pauseMs);
    await worker.kill('SIGKILL');
    const inFlight = p.testStripe.standin.requests.filter((r) => moneyPledge(r) && r.status === 0);
    kills.push({ afterPledges: reached(), pauseMs, inFlight, captured: await capturedCount() });
    worker = await startWorker();
  }
  await until('every pledge captured', async () => (await capturedCount()) === pledges.length, 150_000, 250, progress);
  const settledInMs = Date.now() - startedAt;
  await p.testStripe.clearFaults();
  // Every capture recorded, so no retry can reach Stripe any more: its clock may move past the idempotency keys'
  // 24 hours to when the captured funds are available for the payout.
  await p.testStripe.advanceClock(3 * DAY_SECONDS);
  const state = await handle.result();
  await worker.kill('SIGKILL');

  const retried = await activitiesRetriedAfterTimeout();
  console.log(
    `worker kill drill: ${pledges.length} pledges settled in ${settledInMs} ms; kills ${JSON.stringify(kills.map(({ afterPledges, pauseMs, inFlight, captured }) => ({ afterPledges, pauseMs, captured, stripeRequestsInFlight: inFlight.length })))}; ${retried.length} activities run again after a timeout (${retried.filter((r) => r.timeout === 'heartbeat').length} of them settlement batches after their heartbeat timeout)`,
  );
  expect(kills).toHaveLength(KILLS);
  // Killed mid-settlement each time, with pledges still to capture.
  for (const kill of kills) expect(kill.captured).toBeLessThan(pledges.length);
  // The kills cost in-flight work: Stripe requests applied after their worker died, and activities that Temporal
  // gave up on at their timeout and ran again on the restarted worker.
  expect(kills.reduce((sum, kill) => sum + kill.inFlight.length, 0)).toBeGreaterThan(0);
  expect(retried.length).toBeGreaterThan(0);

  // The requests in flight at a kill were carried out by Stripe all the same (a capture of a lapsed hold is
  // refused with a 400), and the pledges settled exactly once from there.
  for (const request of kills.flatMap((kill) => kill.inFlight)) expect([200, 400]).toContain(request.status);
  await expectSettledOnce(p, campaign.id, state, { held: holds, charged: [...lapsing, ...saved] });
}, 200_000);

/** Activities whose final attempt followed a start-to-close or heartbeat timeout: work a killed worker took with it. */
async function activitiesRetriedAfterTimeout(): Promise<Array<{ workflowId: string; attempt: number; timeout: 'start_to_close' | 'heartbeat' }>> {
  const executions: WorkflowExecutionInfo[] = [];
  for await (const execution of p.env.client.workflow.list()) executions.push(execution);
  const retried: Array<{ workflowId: string; attempt: number; timeout: 'start_to_close' | 'heartbeat' }> = [];
  const { TIMEOUT_TYPE_START_TO_CLOSE, TIMEOUT_TYPE_HEARTBEAT } = temporal.api.enums.v1.TimeoutType;
  for (const execution of executions) {
    const history = await p.env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    for (const event of history.events ?? []) {
      const started = event.activityTaskStartedEventAttributes;
      if (event.eventType !== temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED || !started) continue;
      const timeout = started.lastFailure?.timeoutFailureInfo?.timeoutType;
      if (timeout === TIMEOUT_TYPE_START_TO_CLOSE || timeout === TIMEOUT_TYPE_HEARTBEAT) {
        retried.push({ workflowId: execution.workflowId, attempt: started.attempt ?? 0, timeout: timeout === TIMEOUT_TYPE_HEARTBEAT ? 'heartbeat' : 'start_to_close' });
      }
    }
  }
  return retried;
}
