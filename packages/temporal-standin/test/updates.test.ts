/**
 * Conformance for workflow updates through the real SDK client and worker: the lifecycle stages a caller waits
 * for (accepted, completed), validators and rejections, handlers that await activities, idempotent update ids,
 * updates across a worker restart and continue-as-new, update-with-start, and the history events the SDK replays.
 */
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import { type temporal } from '@temporalio/proto';
import { Conformance } from './harness';
import { addAfterActivityUpdate, addUpdate, finishUpdate, updatableWorkflow, updateCount } from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const updateEvents = (events: HistoryEvent[]) =>
  events.filter((event) => event.workflowExecutionUpdateAcceptedEventAttributes || event.workflowExecutionUpdateCompletedEventAttributes);

async function startUpdatable(prefix: string, args: [number?, number?] = []) {
  return t.record(await t.client.workflow.start(updatableWorkflow, { taskQueue: t.taskQueue, workflowId: t.id(prefix), args }));
}

test('executeUpdate returns the handler result; history holds the accepted and completed events', async () => {
  const handle = await startUpdatable('update-basic');
  const [first, second, total] = await t.withWorker(async () => [
    await handle.executeUpdate(addUpdate, { args: [2], updateId: 'first' }),
    await handle.executeUpdate(addUpdate, { args: [3] }),
    await handle.executeUpdate(finishUpdate).then(() => handle.result()),
  ]);
  expect([first, second, total]).toEqual([2, 5, 5]);
  const events = updateEvents((await handle.fetchHistory()).events!);
  expect(events).toHaveLength(6);
  const accepted = events[0]!.workflowExecutionUpdateAcceptedEventAttributes!;
  expect(accepted.protocolInstanceId).toBe('first');
  expect(accepted.acceptedRequestMessageId).toBe('first/request');
  expect(accepted.acceptedRequest?.input?.name).toBe('add');
  const completed = events[1]!.workflowExecutionUpdateCompletedEventAttributes!;
  expect(completed.meta?.updateId).toBe('first');
  expect(Number(completed.acceptedEventId)).toBe(Number(events[0]!.eventId));
  expect(completed.outcome?.success?.payloads).toHaveLength(1);
});

test('startUpdate returns once the update is accepted; result() polls for the outcome', async () => {
  const handle = await startUpdatable('update-async');
  await t.withWorker(async () => {
    const update = await handle.startUpdate(addAfterActivityUpdate, { args: [7], waitForStage: WorkflowUpdateStage.ACCEPTED });
    expect(update.workflowRunId).toBe(handle.firstExecutionRunId);
    expect(await update.result()).toBe(7);
    // A handle made from the ids alone polls the same update.
    expect(await handle.getUpdateHandle<number>(update.updateId).result()).toBe(7);
    await handle.executeUpdate(finishUpdate);
    expect(await handle.result()).toBe(7);
  });
});

test('a validator rejection fails the caller and leaves no update events; the workflow carries on', async () => {
  const handle = await startUpdatable('update-rejected');
  await t.withWorker(async () => {
    const rejected = handle.executeUpdate(addUpdate, { args: [-1], updateId: 'negative' });
    await expect(rejected).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    await expect(rejected).rejects.toMatchObject({ cause: { message: 'negative value -1' } });
    expect(updateEvents((await handle.fetchHistory()).events!)).toEqual([]);
    expect(await handle.executeUpdate(addUpdate, { args: [4] })).toBe(4);
    await handle.executeUpdate(finishUpdate);
    expect(await handle.result()).toBe(4);
  });
  const events = updateEvents((await handle.fetchHistory()).events!);
  expect(events.map((event) => event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name).filter(Boolean)).toEqual(['add', 'finish']);
});

test('an update whose handler awaits an activity completes after the activity does', async () => {
  const handle = await startUpdatable('update-activity');
  const total = await t.withWorker(async () => {
    expect(await handle.executeUpdate(addAfterActivityUpdate, { args: [5] })).toBe(5);
    await handle.executeUpdate(finishUpdate);
    return handle.result();
  });
  expect(total).toBe(5);
  const events = (await handle.fetchHistory()).events!;
  const accepted = events.findIndex((event) => event.workflowExecutionUpdateAcceptedEventAttributes);
  const activityDone = events.findIndex((event) => event.activityTaskCompletedEventAttributes);
  const completed = events.findIndex((event) => event.workflowExecutionUpdateCompletedEventAttributes);
  expect(accepted).toBeGreaterThan(0);
  expect(activityDone).toBeGreaterThan(accepted);
  expect(completed).toBeGreaterThan(activityDone);
});

test('a duplicate update id returns the first result without running the handler again, even after the run closed', async () => {
  const handle = await startUpdatable('update-dedup');
  await t.withWorker(async () => {
    expect(await handle.executeUpdate(addUpdate, { args: [3], updateId: 'once' })).toBe(3);
    expect(await handle.executeUpdate(addUpdate, { args: [3], updateId: 'once' })).toBe(3);
    expect(await handle.query(updateCount)).toBe(1);
    expect(await handle.executeUpdate(finishUpdate, { updateId: 'finish' })).toBe(3);
    expect(await handle.result()).toBe(3);
  });
  expect(await handle.executeUpdate(finishUpdate, { updateId: 'finish' })).toBe(3);
  await expect(handle.executeUpdate(addUpdate, { args: [1], updateId: 'after-close' })).rejects.toThrow();
});

test('an update sent while no worker runs is delivered to the next worker, after the previous one shut down', async () => {
  const handle = await startUpdatable('update-restart');
  expect(await t.withWorker(() => handle.executeUpdate(addUpdate, { args: [1] }))).toBe(1);
  // The first worker is gone (its sticky queue with it); the update waits, admitted, for the next one.
  const pending = handle.executeUpdate(addUpdate, { args: [10] });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const total = await t.withWorker(async () => {
    expect(await pending).toBe(11);
    await handle.executeUpdate(finishUpdate);
    return handle.result();
  });
  expect(total).toBe(11);
});

test('updates reach the run a workflow continued as new into, and the total carries over', async () => {
  const handle = await startUpdatable('update-can', [0, 2]);
  const total = await t.withWorker(async () => {
    expect(await handle.executeUpdate(addUpdate, { args: [1] })).toBe(1);
    expect(await handle.executeUpdate(addUpdate, { args: [2] })).toBe(3);
    // The second update made the first run continue as new; this one goes to the new run.
    const update = await handle.startUpdate(addUpdate, { args: [4], waitForStage: WorkflowUpdateStage.ACCEPTED });
    expect(update.workflowRunId).not.toBe(handle.firstExecutionRunId);
    expect(await update.result()).toBe(7);
    await handle.executeUpdate(finishUpdate);
    return handle.result();
  });
  expect(total).toBe(7);
  t.record(t.client.workflow.getHandle(handle.workflowId));
});

test('update-with-start starts the workflow with the update in its first task, then updates the running one', async () => {
  const workflowId = t.id('update-with-start');
  const startOperation = () =>
    new WithStartWorkflowOperation(updatableWorkflow, { workflowId, taskQueue: t.taskQueue, args: [100], workflowIdConflictPolicy: 'USE_EXISTING' });
  await t.withWorker(async () => {
    const first = startOperation();
    expect(await t.client.workflow.executeUpdateWithStart(addUpdate, { args: [1], startWorkflowOperation: first })).toBe(101);
    const handle = t.record(await first.workflowHandle());
    const firstRunId = (await handle.describe()).runId;
    const second = startOperation();
    expect(await t.client.workflow.executeUpdateWithStart(addUpdate, { args: [2], startWorkflowOperation: second })).toBe(103);
    expect((await (await second.workflowHandle()).describe()).runId).toBe(firstRunId);
    await handle.executeUpdate(finishUpdate);
    expect(await handle.result()).toBe(103);
    const events = (await handle.fetchHistory()).events!;
    // The first workflow task both started the workflow and accepted the update.
    const firstCompleted = events.findIndex((event) => event.workflowTaskCompletedEventAttributes);
    expect(events[firstCompleted + 1]?.workflowExecutionUpdateAcceptedEventAttributes).toBeTruthy();
  });
});

test('update-with-start with the FAIL conflict policy on a running workflow fails as already started', async () => {
  const workflowId = t.id('update-with-start-fail');
  const handle = t.record(await t.client.workflow.start(updatableWorkflow, { workflowId, taskQueue: t.taskQueue }));
  const operation = new WithStartWorkflowOperation(updatableWorkflow, { workflowId, taskQueue: t.taskQueue, workflowIdConflictPolicy: 'FAIL' });
  await expect(t.client.workflow.executeUpdateWithStart(addUpdate, { args: [1], startWorkflowOperation: operation })).rejects.toMatchObject({
    name: 'WorkflowExecutionAlreadyStartedError',
  });
  await handle.terminate('test cleanup');
});

test('these histories replay deterministically', async () => {
  expect(t.recordedCount).toBeGreaterThanOrEqual(8);
  expect(await t.replayAll()).toEqual([]);
});
