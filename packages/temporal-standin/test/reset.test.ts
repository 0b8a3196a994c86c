/**
 * Conformance of ResetWorkflowExecution (the UI's "Reset", ops' "retry from here"), through the real SDK client's
 * raw WorkflowService call and a real worker that replays the kept history. Expected behaviour is the server's
 * (temporalio/temporal service/history/ndc/workflow_resetter.go and api/resetworkflow): the current run is terminated
 * by "history-resetter", the new run keeps the history before the reset point, fails the pending workflow task with
 * RESET_WORKFLOW, reapplies later signals and updates (unless excluded), and carries on from there. Every history is
 * replayed by the SDK at the end, so the worker's core validates each shape the reset writes.
 */
import { randomUUID } from 'node:crypto';
import { type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createTestWorkflowEnvironment } from '../src/testing';
import * as activities from './reset-activities';
import {
  activityAndSignalsWorkflow,
  addSignal,
  addUpdate,
  collectorWorkflow,
  finishSignal,
  itemsQuery,
  parentOfWaitingChildWorkflow,
  sleeperWorkflow,
} from './reset-workflows';

const EventType = temporal.api.enums.v1.EventType;
const { RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL } = temporal.api.enums.v1.ResetReapplyExcludeType;
const { RESET_REAPPLY_TYPE_NONE } = temporal.api.enums.v1.ResetReapplyType;
type Event = temporal.api.history.v1.IHistoryEvent;

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `reset-${randomUUID()}`;
const replayed: WorkflowHandle[] = [];

beforeAll(async () => {
  env = await createTestWorkflowEnvironment();
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./reset-workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

const start = <T extends () => Promise<unknown>>(workflow: T, prefix: string) => env.client.workflow.start(workflow, { taskQueue, workflowId: `${prefix}-${randomUUID()}` } as never);
/** The run each reset made, by the handle that names it. */
const resetRuns = new WeakMap<WorkflowHandle, string>();
/** The run a handle names: the one it started, or the one a reset made. */
const runIdOf = (handle: WorkflowHandle) => resetRuns.get(handle) ?? (handle as { firstExecutionRunId?: string }).firstExecutionRunId!;
/** A handle on exactly the run `handle` started (a started handle follows the workflow's latest run). */
const pinned = (handle: WorkflowHandle) => env.client.workflow.getHandle(handle.workflowId, runIdOf(handle));
const events = async (handle: WorkflowHandle): Promise<Event[]> => (await handle.fetchHistory()).events ?? [];
const lastOfType = (history: Event[], type: number) => Number([...history].reverse().find((event) => event.eventType === type)!.eventId);
const typesOf = (history: Event[]) => history.map((event) => EventType[event.eventType!]);

/** Waits (real time, bounded) until the workflow exists and its `items` query answers `expected`. */
async function itemsReach(handle: WorkflowHandle, expected: string[]): Promise<void> {
  let items: string[] | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    items = await handle.query(itemsQuery).catch(() => undefined);
    if (JSON.stringify(items) === JSON.stringify(expected)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  expect(items).toEqual(expected);
}

type ResetRequest = temporal.api.workflowservice.v1.IResetWorkflowExecutionRequest;
/** protobufjs takes plain numbers for int64 fields; the generated types only name Long. */
const int64 = (value: number) => value as unknown as NonNullable<ResetRequest['workflowTaskFinishEventId']>;

async function resetRunId(request: ResetRequest): Promise<string> {
  const response: temporal.api.workflowservice.v1.IResetWorkflowExecutionResponse = await env.client.workflowService.resetWorkflowExecution(request);
  return response.runId!;
}

async function reset(handle: WorkflowHandle, eventId: number, extra: Partial<ResetRequest> = {}): Promise<WorkflowHandle> {
  const runId = await resetRunId({
    namespace: 'default',
    workflowExecution: { workflowId: handle.workflowId, runId: runIdOf(handle) },
    reason: 'retry from here',
    workflowTaskFinishEventId: int64(eventId),
    requestId: randomUUID(),
    ...extra,
  });
  const fresh = env.client.workflow.getHandle(handle.workflowId, runId);
  resetRuns.set(fresh, runId);
  replayed.push(fresh);
  return fresh;
}

test('a reset terminates the current run and replays the kept history in a new run, reapplying later signals', async () => {
  const handle = await start(collectorWorkflow, 'signals');
  await handle.signal(addSignal, 'a');
  await itemsReach(handle, ['a']);
  // The reset point the UI offers: the completion of the workflow task that handled 'a'.
  const resetPoint = lastOfType(await events(handle), EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  await handle.signal(addSignal, 'b');
  await handle.signal(addSignal, 'c');
  await itemsReach(handle, ['a', 'b', 'c']);
  const before = await events(handle);

  const requestId = randomUUID();
  const fresh = await reset(handle, resetPoint, { requestId });
  expect(runIdOf(fresh)).not.toBe(runIdOf(handle));
  // The same request again answers the same run, and does nothing else.
  const again = await resetRunId({
    namespace: 'default',
    workflowExecution: { workflowId: handle.workflowId, runId: runIdOf(handle) },
    reason: 'retry from here',
    workflowTaskFinishEventId: int64(resetPoint),
    requestId,
  });
  expect(again).toBe(runIdOf(fresh));

  const old = await pinned(handle).describe();
  expect(old.status.name).toBe('TERMINATED');
  expect(old.raw.workflowExtendedInfo?.resetRunId).toBe(runIdOf(fresh));
  const oldClose = (await events(pinned(handle))).at(-1)!;
  expect(oldClose.workflowExecutionTerminatedEventAttributes).toMatchObject({ reason: 'retry from here', identity: 'history-resetter' });

  await itemsReach(fresh, ['a', 'b', 'c']);
  await fresh.signal(finishSignal);
  expect(await fresh.result()).toEqual(['a', 'b', 'c']);

  const history = await events(fresh);
  // The history before the reset point is the old run's, event for event.
  expect(history.slice(0, resetPoint - 1).map((event) => [event.eventId?.toString(), event.eventType])).toEqual(before.slice(0, resetPoint - 1).map((event) => [event.eventId?.toString(), event.eventType]));
  const failed = history[resetPoint - 1]!;
  expect(failed.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED);
  expect(failed.workflowTaskFailedEventAttributes).toMatchObject({
    cause: temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
    baseRunId: runIdOf(handle),
    newRunId: runIdOf(fresh),
    identity: 'history-service',
    failure: { message: 'retry from here' },
  });
  const reapplied = history.slice(resetPoint).filter((event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  expect(reapplied.map((event) => event.workflowExecutionSignaledEventAttributes?.signalName)).toEqual(['add', 'add', 'finish']);
  // The started event is the old run's: the original run id stays the first run's.
  expect(history[0]!.workflowExecutionStartedEventAttributes?.originalExecutionRunId).toBe(runIdOf(handle));

  const described = await fresh.describe();
  expect(described.status.name).toBe('COMPLETED');
  expect(described.raw.workflowExtendedInfo?.lastResetTime).toBeTruthy();
  expect(described.raw.workflowExtendedInfo?.originalStartTime).toEqual(history[0]!.eventTime);
  // One auto-reset point for the worker's build, at its first completed workflow task, in this run.
  const [point] = described.raw.workflowExecutionInfo?.autoResetPoints?.points ?? [];
  expect(point).toMatchObject({ runId: runIdOf(fresh), resettable: true });
  expect(point?.binaryChecksum).toBeTruthy();
});

test('excluded signals are not reapplied (exclude types, and the older reapply type NONE)', async () => {
  for (const extra of [{ resetReapplyExcludeTypes: [RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL] }, { resetReapplyType: RESET_REAPPLY_TYPE_NONE }]) {
    const handle = await start(collectorWorkflow, 'exclude');
    await handle.signal(addSignal, 'a');
    await itemsReach(handle, ['a']);
    const resetPoint = lastOfType(await events(handle), EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    await handle.signal(addSignal, 'b');
    await itemsReach(handle, ['a', 'b']);
    const fresh = await reset(handle, resetPoint, extra);
    await fresh.signal(finishSignal);
    expect(await fresh.result()).toEqual(['a']);
  }
});

test('updates after the reset point are reapplied as admitted updates, and run again', async () => {
  const handle = await start(collectorWorkflow, 'updates');
  await handle.signal(addSignal, 'a');
  await itemsReach(handle, ['a']);
  const resetPoint = lastOfType(await events(handle), EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  expect(await handle.executeUpdate(addUpdate, { args: ['u'] })).toEqual(['a', 'update u']);
  const fresh = await reset(handle, resetPoint);
  await itemsReach(fresh, ['a', 'update u']);
  const history = await events(fresh);
  const admitted = history.find((event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED)!;
  expect(admitted.workflowExecutionUpdateAdmittedEventAttributes?.origin).toBe(temporal.api.enums.v1.UpdateAdmittedEventOrigin.UPDATE_ADMITTED_EVENT_ORIGIN_REAPPLY);
  expect(history.some((event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED && Number(event.eventId) > resetPoint)).toBe(true);
  await fresh.signal(finishSignal);
  expect(await fresh.result()).toEqual(['a', 'update u']);
});

test('a closed run can be reset: the new run replays to the same result', async () => {
  const handle = await start(collectorWorkflow, 'closed');
  await handle.signal(addSignal, 'a');
  await handle.signal(addSignal, 'b');
  await handle.signal(finishSignal);
  expect(await handle.result()).toEqual(['a', 'b']);
  // Reset to the first workflow task's start (event 3): the task was only scheduled before it, so the reset starts
  // it itself (identity history-service) and fails it.
  const fresh = await reset(handle, 3);
  expect(await fresh.result()).toEqual(['a', 'b']);
  expect((await pinned(handle).describe()).status.name).toBe('COMPLETED');
  const history = await events(fresh);
  expect(typesOf(history.slice(0, 5))).toEqual([
    'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
    'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED',
    'EVENT_TYPE_WORKFLOW_TASK_STARTED',
    'EVENT_TYPE_WORKFLOW_TASK_FAILED',
    'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
  ]);
  expect(history[2]!.workflowTaskStartedEventAttributes?.identity).toBe('history-service');
});

test('reset points the server refuses answer INVALID_ARGUMENT', async () => {
  const handle = await start(collectorWorkflow, 'invalid');
  await handle.signal(addSignal, 'a');
  await itemsReach(handle, ['a']);
  const history = await events(handle);
  const invalid = async (eventId: number, extra: object = {}) =>
    expect(reset(handle, eventId, extra)).rejects.toMatchObject({ code: 3 /* INVALID_ARGUMENT */ });
  await invalid(1);
  await invalid(history.length + 1);
  // Event 2 (the first task's Scheduled) leaves no task pending before it.
  await expect(reset(handle, 2)).rejects.toThrow(/Can only reset workflow to event ID in range \[WorkflowTaskScheduled \+1, WorkflowTaskStarted \+ 1\]: 2/);
  await invalid(4, { requestId: '' });
  // Nothing happened to the run.
  expect((await handle.describe()).status.name).toBe('RUNNING');
  await handle.terminate('done');
});

test('an activity pending at the reset point is dispatched again to a worker in the new run', async () => {
  const gate = activities.closeGate();
  const startedBefore = activities.gatedRuns.started;
  const handle = await start(activityAndSignalsWorkflow, 'activity');
  await handle.signal(addSignal, 'a');
  await itemsReach(handle, ['a']);
  // The activity is still running (the gate is closed): the task that handled 'a' completed meanwhile.
  expect(activities.gatedRuns.started).toBe(startedBefore + 1);
  const resetPoint = lastOfType(await events(handle), EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  const fresh = await reset(handle, resetPoint);
  // The new run schedules nothing new: the kept ActivityTaskScheduled goes to a worker again.
  for (let attempt = 0; attempt < 200 && activities.gatedRuns.started < startedBefore + 2; attempt++) await new Promise((resolve) => setTimeout(resolve, 25));
  expect(activities.gatedRuns.started).toBe(startedBefore + 2);
  gate.open();
  await fresh.signal(addSignal, 'b');
  expect(await fresh.result()).toBe('gated first after a,b');
  const history = await events(fresh);
  expect(history.filter((event) => event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)).toHaveLength(1);
  expect(history.filter((event) => event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)).toHaveLength(1);
});

test('a timer pending at the reset point keeps its fire time', async () => {
  const handle = await start(sleeperWorkflow, 'timer');
  await handle.signal(addSignal, 'a');
  await itemsReach(handle, ['a']);
  const resetPoint = lastOfType(await events(handle), EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  await env.sleep('10 minutes');
  const fresh = await reset(handle, resetPoint);
  // The workflow started the timer an hour from its start; the reset did not restart it.
  expect(await fresh.result()).toBe('a slept 60 min');
});

test('a child started before the reset point survives the reset and reports to the new run', async () => {
  const handle = await start(parentOfWaitingChildWorkflow, 'parent');
  const child = env.client.workflow.getHandle(`${handle.workflowId}/child`);
  await itemsReach(child, []);
  await handle.signal(addSignal, 'p');
  await itemsReach(handle, ['p']);
  const resetPoint = lastOfType(await events(handle), EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  const fresh = await reset(handle, resetPoint);
  expect((await pinned(handle).describe()).status.name).toBe('TERMINATED');
  // The server leaves a reset run's children alone (no parent-close policy): they reconnect to the new run.
  expect((await child.describe()).status.name).toBe('RUNNING');
  await child.signal(addSignal, 'c');
  await child.signal(finishSignal);
  expect(await fresh.result()).toBe('child c; own p');
  expect((await fresh.describe()).raw.pendingChildren ?? []).toHaveLength(0);
});

test('every history a reset wrote replays deterministically', async () => {
  const histories = await Promise.all(replayed.map(async (handle) => ({ workflowId: handle.workflowId, history: await handle.fetchHistory() })));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
  expect(failures).toEqual([]);
  expect(histories.length).toBeGreaterThanOrEqual(7);
});
