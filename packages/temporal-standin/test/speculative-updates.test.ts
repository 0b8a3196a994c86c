/**
 * Speculative workflow tasks, as the server runs them for updates, through the real SDK client and worker: an update
 * that arrives while no workflow task is pending gets a task whose WorkflowTaskScheduled/Started events are shown to
 * the worker (and to SDK clients reading history) but not written; if the validator rejects the update, the task is
 * discarded and history stays exactly as it was; if it accepts, the task's events and the update's are written.
 * Histories are replayed at the end.
 */
import { WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Conformance } from './harness';
import { addAfterActivityUpdate, addSignal, addUpdate, finishUpdate, updatableWorkflow, updateCount } from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const typesOf = (events: HistoryEvent[]) => events.map((event) => temporal.api.enums.v1.EventType[event.eventType!]);
const STAGE_ADMITTED = 1;

async function startUpdatable(prefix: string) {
  return t.record(await t.client.workflow.start(updatableWorkflow, { taskQueue: t.taskQueue, workflowId: t.id(prefix) }));
}

async function events(handle: { fetchHistory(): Promise<temporal.api.history.v1.IHistory> }): Promise<HistoryEvent[]> {
  return (await handle.fetchHistory()).events ?? [];
}

/** Sends an `add` update and returns once the server admitted it (no worker needs to be running). */
async function admitAdd(workflowId: string, updateId: string, value: number): Promise<void> {
  await t.client.workflowService.updateWorkflowExecution({
    namespace: 'default',
    workflowExecution: { workflowId },
    request: { meta: { updateId, identity: 'test' }, input: { name: addUpdate.name, args: { payloads: [defaultPayloadConverter.toPayload(value)] } } },
    waitPolicy: { lifecycleStage: STAGE_ADMITTED },
  });
}

test('a rejected update leaves history exactly as it was; an accepted one writes its task and update events', async () => {
  const handle = await startUpdatable('speculative-basic');
  await t.withWorker(async () => {
    // Once the first task completed nothing is pending: the updates below get speculative tasks.
    expect(await handle.query(updateCount)).toBe(0);
    const before = await events(handle);
    expect(typesOf(before).at(-1)).toBe('EVENT_TYPE_WORKFLOW_TASK_COMPLETED');

    for (const value of [-1, -2]) {
      await expect(handle.executeUpdate(addUpdate, { args: [value] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      expect(await events(handle)).toEqual(before);
    }

    expect(await handle.executeUpdate(addUpdate, { args: [5], updateId: 'accepted' })).toBe(5);
    const after = await events(handle);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(typesOf(after.slice(before.length))).toEqual([
      'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
      'EVENT_TYPE_WORKFLOW_TASK_STARTED',
      'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
      'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
      'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED',
    ]);
    // Event ids stay contiguous: the discarded tasks used none.
    expect(after.map((event) => Number(event.eventId))).toEqual(after.map((_, index) => index + 1));
    expect(after[before.length + 3]!.workflowExecutionUpdateAcceptedEventAttributes?.protocolInstanceId).toBe('accepted');

    await handle.executeUpdate(finishUpdate);
    expect(await handle.result()).toBe(5);
  });
});

test('while a speculative task is pending, SDK clients see its scheduled event; rejected, it is gone', async () => {
  const handle = await startUpdatable('speculative-pending');
  await t.withWorker(() => handle.query(updateCount));
  const before = await events(handle);

  // Created now, polling only later (well within the server's 5 s for a speculative task to be taken).
  const worker = await t.worker();
  // No worker polls: the update is admitted and its speculative task waits.
  await admitAdd(handle.workflowId, 'pending-rejected', -3);
  const pending = await events(handle);
  expect(pending.slice(0, before.length)).toEqual(before);
  expect(typesOf(pending.slice(before.length))).toEqual(['EVENT_TYPE_WORKFLOW_TASK_SCHEDULED']);
  expect(Number(pending.at(-1)!.eventId)).toBe(before.length + 1);
  expect((await handle.describe()).historyLength).toBe(before.length);

  await worker.runUntil(async () => {
    await expect(handle.getUpdateHandle('pending-rejected').result()).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
  });
  expect(await events(handle)).toEqual(before);
  await handle.terminate('test done');
});

test('a rejection is discarded even after events the last task wrote (an activity still pending)', async () => {
  const handle = await startUpdatable('speculative-after-events');
  // A worker without activities: the update's activity stays scheduled, after the task that scheduled it.
  await t.withWorker(
    async () => {
      await handle.startUpdate(addAfterActivityUpdate, { args: [1], waitForStage: WorkflowUpdateStage.ACCEPTED });
      const before = await events(handle);
      expect(typesOf(before).slice(-3)).toEqual(['EVENT_TYPE_WORKFLOW_TASK_COMPLETED', 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED', 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED']);
      await expect(handle.executeUpdate(addUpdate, { args: [-1] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      expect(await events(handle)).toEqual(before);
    },
    { activities: {} },
  );
  await handle.terminate('test done');
});

test('a signal arriving while a speculative task is pending makes the task an ordinary one, written before the signal', async () => {
  const handle = await startUpdatable('speculative-signal');
  await t.withWorker(() => handle.query(updateCount));
  const before = await events(handle);

  await admitAdd(handle.workflowId, 'rejected-after-signal', -4);
  await handle.signal(addSignal, 1);
  const written = await events(handle);
  expect(typesOf(written.slice(before.length))).toEqual(['EVENT_TYPE_WORKFLOW_TASK_SCHEDULED', 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED']);

  await t.withWorker(async () => {
    await expect(handle.getUpdateHandle('rejected-after-signal').result()).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    // The task that carried the rejection was written (it saw the signal): started and completed follow.
    const after = await events(handle);
    expect(typesOf(after.slice(before.length, before.length + 4))).toEqual([
      'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
      'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
      'EVENT_TYPE_WORKFLOW_TASK_STARTED',
      'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
    ]);
    expect(await handle.executeUpdate(addUpdate, { args: [2] })).toBe(2);
    await handle.executeUpdate(finishUpdate);
    expect(await handle.result()).toBe(2);
  });
});

test('a speculative task no worker takes within five seconds is written, timed out (schedule-to-start) and replaced', async () => {
  const handle = await startUpdatable('speculative-timeout');
  await t.withWorker(() => handle.query(updateCount));
  const before = await events(handle);

  // No worker: the server gives a speculative task on a normal queue 5 s (real time here, the task holds the clock).
  await admitAdd(handle.workflowId, 'waited', 6);
  let after = await events(handle);
  for (const started = Date.now(); after.length < before.length + 3 && Date.now() - started < 10_000; after = await events(handle)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(typesOf(after.slice(before.length))).toEqual(['EVENT_TYPE_WORKFLOW_TASK_SCHEDULED', 'EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT', 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED']);
  expect(after[before.length + 1]!.workflowTaskTimedOutEventAttributes?.timeoutType).toBe(temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START);

  await t.withWorker(async () => {
    expect(await handle.getUpdateHandle<number>('waited').result()).toBe(6);
    await handle.executeUpdate(finishUpdate);
    expect(await handle.result()).toBe(6);
  });
});

test('these histories replay deterministically', async () => {
  expect(t.recordedCount).toBe(5);
  expect(await t.replayAll()).toEqual([]);
});
