/**
 * Conformance for the stand-in's timeouts and close-state plumbing: heartbeat and schedule-to-close activity
 * timeouts, next_retry_delay, parent close policies, and children that are terminated or time out.
 */
import { Conformance } from './harness';
import {
  childTerminatedWorkflow,
  childTimeoutWorkflow,
  heartbeatTimeoutWorkflow,
  nextRetryDelayWorkflow,
  scheduleToCloseWorkflow,
  terminatingParentWorkflow,
} from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

test('an activity that stops heartbeating times out with HEARTBEAT', async () => {
  const handle = t.record(await t.client.workflow.start(heartbeatTimeoutWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('heartbeat-timeout') }));
  expect(await t.withWorker(() => handle.result())).toBe('ActivityFailure:HEARTBEAT');
});

test('retries stop at the schedule-to-close timeout', async () => {
  const handle = t.record(await t.client.workflow.start(scheduleToCloseWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('schedule-to-close') }));
  const started = Date.now();
  expect(await t.withWorker(() => handle.result())).toBe('ActivityFailure:TIMEOUT:still failing');
  expect(Date.now() - started).toBeLessThan(5_000);
});

test('an activity failure asking for a retry delay is retried after that delay, not the policy back-off', async () => {
  const handle = t.record(await t.client.workflow.start(nextRetryDelayWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('next-retry-delay') }));
  const elapsed = await t.withWorker(() => handle.result());
  expect(elapsed).toBeGreaterThanOrEqual(2_000);
});

test('a child with the default parent close policy is terminated when its parent completes', async () => {
  const parent = t.record(await t.client.workflow.start(terminatingParentWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('terminating-parent') }));
  const childId = await t.withWorker(() => parent.result());
  const child = await t.client.workflow.getHandle(childId).describe();
  expect(child.status.name).toBe('TERMINATED');
});

test('a parent learns that its child was terminated', async () => {
  const parent = t.record(await t.client.workflow.start(childTerminatedWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('child-terminated') }));
  const result = await t.withWorker(async () => {
    const childHandle = t.client.workflow.getHandle(`${parent.workflowId}/victim`);
    for (let i = 0; i < 100; i++) {
      const started = await childHandle.describe().then(() => true, () => false);
      if (started) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await childHandle.terminate('by the test');
    return parent.result();
  });
  expect(result).toBe('ChildWorkflowFailure:TerminatedFailure');
});

test('a parent learns that its child timed out (run timeout on the virtual clock)', async () => {
  const parent = t.record(await t.client.workflow.start(childTimeoutWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('child-timeout') }));
  expect(await t.withWorker(() => parent.result())).toBe('ChildWorkflowFailure:TimeoutFailure');
});

test('these histories replay deterministically', async () => {
  expect(await t.replayAll()).toEqual([]);
});
