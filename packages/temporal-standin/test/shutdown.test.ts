/**
 * Conformance for the two behaviours Temporal's features suite checks around workers: an activity no worker picks
 * up times out the way the server reports it, and a worker shutting down gets its outstanding polls completed
 * (the `worker_poll_complete_on_shutdown` namespace capability), so no task it was about to receive is lost.
 */
import { Connection } from '@temporalio/client';
import { type WorkflowHandle } from '@temporalio/client';
import { Conformance } from './harness';
import { busyLoopWorkflow, unpickedActivityWorkflow } from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

test('an activity with only a schedule-to-close timeout that no worker picks up times out as SCHEDULE_TO_START', async () => {
  const handle = t.record(await t.client.workflow.start(unpickedActivityWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('unpicked') }));
  // Activities registered, but this worker never polls for them (features: eager_activity/non_remote_activities_worker).
  expect(await t.withWorker(() => handle.result(), { enableNonLocalActivities: false })).toBe('ActivityFailure:SCHEDULE_TO_START');
  const timedOut = (await handle.fetchHistory()).events!.find((event) => event.activityTaskTimedOutEventAttributes);
  expect(timedOut?.activityTaskTimedOutEventAttributes?.retryState).toBe(2); // RETRY_STATE_NON_RETRYABLE_FAILURE
});

test('the namespace advertises completing polls on worker shutdown', async () => {
  const connection = await Connection.connect({ address: t.env.connection.options.address });
  try {
    const { namespaceInfo } = await connection.workflowService.describeNamespace({ namespace: 'default' });
    expect(namespaceInfo?.capabilities?.workerPollCompleteOnShutdown).toBe(true);
  } finally {
    await connection.close();
  }
});

describe('worker shutdown with polls outstanding (features: worker_shutdown/poll_complete_on_shutdown)', () => {
  for (const round of [1, 2, 3]) {
    test(`round ${round}: shutdown returns promptly and no workflow task fails or times out`, async () => {
      const worker = await t.worker({ shutdownGraceTime: '10s' });
      const running = worker.run();
      const handles: WorkflowHandle[] = [];
      try {
        for (let i = 0; i < 5; i++) {
          handles.push(await t.client.workflow.start(busyLoopWorkflow, { taskQueue: t.taskQueue, workflowId: t.id(`busy-${round}-${i}`) }));
        }
        for (const handle of handles) {
          for (let i = 0; ; i++) {
            const events = (await handle.fetchHistory()).events!;
            if (events.some((event) => event.activityTaskScheduledEventAttributes)) break;
            if (i > 200) throw new Error(`no activity scheduled in ${handle.workflowId}`);
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        }
        const started = Date.now();
        worker.shutdown();
        await running;
        expect(Date.now() - started).toBeLessThanOrEqual(5_000);
        for (const handle of handles) {
          const problem = (await handle.fetchHistory()).events!.find((event) => event.workflowTaskFailedEventAttributes || event.workflowTaskTimedOutEventAttributes);
          expect({ workflowId: handle.workflowId, problem }).toEqual({ workflowId: handle.workflowId, problem: undefined });
        }
      } finally {
        await Promise.all(handles.map((handle) => handle.terminate('test cleanup').catch(() => undefined)));
      }
    });
  }
});

test('these histories replay deterministically', async () => {
  expect(await t.replayAll()).toEqual([]);
});
