/**
 * The pending-pledge sweep runs as a Temporal Schedule that the worker creates at start-up: once however often
 * workers start, every 5 minutes on the server's clock, each run one sweep; ops can pause it like any schedule.
 */
import { startHousekeepingWorkflows } from '../../src/worker/housekeeping';
import { PENDING_PLEDGE_SWEEP_SCHEDULE_ID } from '../../workflows/pending-pledge-sweep';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';

let p: TestPlatform;
beforeAll(async () => {
  p = await createTestPlatform();
});
afterAll(() => p.close());

test('created once at worker start, it sweeps every 5 minutes and can be paused', async () => {
  const { taskQueue, stripeTaskQueue } = p.config.temporal;
  await startHousekeepingWorkflows(p.env.client, taskQueue, stripeTaskQueue);
  // A second worker process starting changes nothing.
  await startHousekeepingWorkflows(p.env.client, taskQueue, stripeTaskQueue);
  // The other housekeeping workflows started with it are not part of this test: their loops would only slow the
  // skipped half-hour below.
  for (const id of ['notification-outbox', 'data-retention']) await p.env.client.workflow.getHandle(id).terminate('not under test').catch(() => undefined);
  const schedule = p.env.client.schedule.getHandle(PENDING_PLEDGE_SWEEP_SCHEDULE_ID);
  const described = await schedule.describe();
  expect(described.spec.intervals).toMatchObject([{ every: 5 * 60_000 }]);
  expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'sweepPendingPledgesWorkflow' });
  expect(described.policies.overlap).toBe('SKIP');

  await p.runWorkers(async () => {
    await p.env.sleep(16 * 60_000);
    const swept = await schedule.describe();
    expect(swept.info.numActionsTaken).toBeGreaterThanOrEqual(3);
    for (const action of swept.info.recentActions) {
      const run = p.env.client.workflow.getHandle(action.action.workflow.workflowId, action.action.workflow.firstExecutionRunId);
      expect(await run.result()).toBe(0); // nothing was pending
    }
    await schedule.pause('ops: looking into a Stripe incident');
    const paused = (await schedule.describe()).info.numActionsTaken;
    await p.env.sleep(16 * 60_000);
    expect((await schedule.describe()).info.numActionsTaken).toBe(paused);
  });
  await schedule.delete();
}, 180_000);
