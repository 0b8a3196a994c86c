/**
 * Conformance of the Temporal stand-in, driven through the real SDK worker (Rust core) and client. Each test asserts
 * what a real server does; at the end every history the file produced is replayed for determinism.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { Conformance } from './harness';
import {
  abandonedChildParentWorkflow,
  addSignal,
  cancellableWorkflow,
  cancelOtherWorkflow,
  childFailureWorkflow,
  continueAsNewWorkflow,
  counterWorkflow,
  finishSignal,
  heartbeatCancelWorkflow,
  heartbeatDetailsWorkflow,
  helloWorkflow,
  nonRetryableWorkflow,
  parentWorkflow,
  patchedWorkflow,
  retryWorkflow,
  signalMissingWorkflow,
  signalOtherWorkflow,
  sleepyWorkflow,
  timeoutWorkflow,
  timerCancelWorkflow,
  totalQuery,
} from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

const DAY = 24 * 60 * 60 * 1000;

describe('activities', () => {
  test('an activity runs and its result reaches the workflow', async () => {
    const handle = t.record(await t.client.workflow.start(helloWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('hello'), args: ['world'] }));
    expect(await t.withWorker(() => handle.result())).toBe('Hello, world!');
  });

  test('failed attempts are retried with back-off until one succeeds', async () => {
    const handle = t.record(await t.client.workflow.start(retryWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('retry'), args: [2] }));
    expect(await t.withWorker(() => handle.result())).toBe(3);
  });

  test('a non-retryable failure is not retried and carries its type', async () => {
    const handle = t.record(await t.client.workflow.start(nonRetryableWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('non-retryable') }));
    expect(await t.withWorker(() => handle.result())).toBe('NotRetryable');
  });

  test('start-to-close timeouts are retried, then reported as a timeout', async () => {
    const handle = t.record(await t.client.workflow.start(timeoutWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('timeout') }));
    // TimeoutType.START_TO_CLOSE = 1
    expect(await t.withWorker(() => handle.result())).toBe('ActivityFailure:START_TO_CLOSE');
  });

  test('heartbeats carry details, and a cancelled activity learns it through its heartbeat', async () => {
    const cancelled = t.record(await t.client.workflow.start(heartbeatCancelWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('heartbeat-cancel') }));
    const details = t.record(await t.client.workflow.start(heartbeatDetailsWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('heartbeat') }));
    const [cancelResult, detailsResult] = await t.withWorker(() => Promise.all([cancelled.result(), details.result()]));
    expect(cancelResult).toBe('cancelled');
    expect(detailsResult).toBe(3);
  });
});

describe('timers', () => {
  test('a 30-day timer completes in seconds on the virtual clock, and workflow time moves by 30 days', async () => {
    const handle = t.record(await t.client.workflow.start(sleepyWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('sleepy'), args: [30 * DAY] }));
    const started = Date.now();
    const slept = await t.withWorker(() => handle.result());
    expect(slept).toBeGreaterThanOrEqual(30 * DAY);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  test('a cancelled timer does not fire', async () => {
    const handle = t.record(await t.client.workflow.start(timerCancelWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('timer-cancel') }));
    expect(await t.withWorker(() => handle.result())).toBe('cancelled');
  });

  test('env.sleep advances the clock the workflows see', async () => {
    const before = await t.env.currentTimeMs();
    await t.env.sleep(5 * DAY);
    expect(await t.env.currentTimeMs()).toBeGreaterThanOrEqual(before + 5 * DAY);
  });
});

describe('signals and queries', () => {
  test('signals are delivered in order, queries answer from the running workflow and after it closed', async () => {
    const result = await t.withWorker(async () => {
      const handle = t.record(await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('counter') }));
      await handle.signal(addSignal, 2);
      await handle.signal(addSignal, 5);
      expect(await handle.query(totalQuery)).toBe(7);
      await handle.signal(finishSignal);
      const total = await handle.result();
      expect(await handle.query(totalQuery)).toBe(7);
      return total;
    });
    expect(result).toBe(7);
  });

  test('signal-with-start starts a workflow with its first signal, then signals the running one', async () => {
    const workflowId = t.id('signal-with-start');
    const total = await t.withWorker(async () => {
      const first = t.record(await t.client.workflow.signalWithStart(counterWorkflow, { taskQueue: t.taskQueue, workflowId, signal: addSignal, signalArgs: [10] }));
      const second = await t.client.workflow.signalWithStart(counterWorkflow, { taskQueue: t.taskQueue, workflowId, signal: addSignal, signalArgs: [1] });
      expect(second.signaledRunId).toBe(first.signaledRunId);
      await first.signal(finishSignal);
      return first.result();
    });
    expect(total).toBe(11);
  });

  test('a signal to a workflow that does not exist is NOT_FOUND', async () => {
    await expect(t.client.workflow.getHandle('no-such-workflow').signal(addSignal, 1)).rejects.toMatchObject({ name: 'WorkflowNotFoundError' });
  });

  test('a query for an unknown query type is rejected', async () => {
    await t.withWorker(async () => {
      const handle = t.record(await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('unknown-query') }));
      await expect(handle.query('nope')).rejects.toThrow();
      await handle.signal(finishSignal);
      await handle.result();
    });
  });
});

describe('child and external workflows', () => {
  test('children run in parallel and return their results to the parent', async () => {
    const handle = t.record(await t.client.workflow.start(parentWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('parent'), args: [[1, 2, 3]] }));
    expect(await t.withWorker(() => handle.result())).toEqual([2, 4, 6]);
  });

  test('a failing child surfaces its failure type to the parent', async () => {
    const handle = t.record(await t.client.workflow.start(childFailureWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('child-failure') }));
    expect(await t.withWorker(() => handle.result())).toBe('NegativeValue');
  });

  test('an abandoned child keeps running after its parent completes', async () => {
    await t.withWorker(async () => {
      const parent = t.record(await t.client.workflow.start(abandonedChildParentWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('abandoning') }));
      const childId = await parent.result();
      const child = t.client.workflow.getHandle(childId);
      expect((await child.describe()).status.name).toBe('RUNNING');
      await child.signal(addSignal, 4);
      await child.signal(finishSignal);
      expect(await child.result()).toBe(4);
    });
  });

  test('a workflow signals another by id, and learns when the target does not exist', async () => {
    await t.withWorker(async () => {
      const target = t.record(await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('target') }));
      const sender = t.record(await t.client.workflow.start(signalOtherWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('sender'), args: [target.workflowId, 9] }));
      await sender.result();
      await target.signal(finishSignal);
      expect(await target.result()).toBe(9);
      const missing = t.record(await t.client.workflow.start(signalMissingWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('missing') }));
      expect(await missing.result()).toBe('Unable to signal external workflow because it was not found');
    });
  });

  test('a workflow cancels another, which sees the cancellation', async () => {
    await t.withWorker(async () => {
      const target = t.record(await t.client.workflow.start(cancellableWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('to-cancel') }));
      const canceller = t.record(await t.client.workflow.start(cancelOtherWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('canceller'), args: [target.workflowId] }));
      await canceller.result();
      expect(await target.result()).toBe('cancelled');
    });
  });
});

describe('lifecycle', () => {
  test('cancel from the client reaches the workflow', async () => {
    await t.withWorker(async () => {
      const handle = t.record(await t.client.workflow.start(cancellableWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('client-cancel') }));
      await handle.cancel();
      expect(await handle.result()).toBe('cancelled');
    });
  });

  test('terminate closes a run at once', async () => {
    const handle = t.record(await t.client.workflow.start(cancellableWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('terminate') }));
    await handle.terminate('enough');
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await handle.describe()).status.name).toBe('TERMINATED');
  });

  test('continue-as-new starts a fresh run; result() follows the chain to the last run', async () => {
    const handle = t.record(await t.client.workflow.start(continueAsNewWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('can'), args: [0, 3] }));
    expect(await t.withWorker(() => handle.result())).toBe(3);
    const latest = await t.client.workflow.getHandle(handle.workflowId).describe();
    expect(latest.runId).not.toBe(handle.firstExecutionRunId);
    expect(latest.status.name).toBe('COMPLETED');
  });

  test('patches and local activities record markers that replay deterministically', async () => {
    const handle = t.record(await t.client.workflow.start(patchedWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('patched') }));
    expect(await t.withWorker(() => handle.result())).toBe('patched Hello, local!');
    const history = await handle.fetchHistory();
    const markers = history.events!.filter((event) => event.markerRecordedEventAttributes).map((event) => event.markerRecordedEventAttributes!.markerName);
    expect(markers).toEqual(expect.arrayContaining(['core_patch', 'core_local_activity']));
  });

  test('workers without a workflow cache (no sticky queue) run the same workflows', async () => {
    const handle = t.record(await t.client.workflow.start(parentWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('no-cache'), args: [[5]] }));
    expect(await t.withWorker(() => handle.result(), { maxCachedWorkflows: 0 })).toEqual([10]);
  });
});

test('every history this file produced replays deterministically', async () => {
  expect(t.recordedCount).toBeGreaterThan(15);
  expect(await t.replayAll()).toEqual([]);
});
