/**
 * Conformance for schedules and `cron_schedule`, through the SDK's ScheduleClient and a worker, on the virtual
 * clock: schedules fire as time skips, pause and unpause, trigger, overlap policies, limited actions,
 * pause-on-failure, update, delete, list, matching times; a cron workflow's runs follow its cron string.
 */
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleHandle, type ScheduleOptionsStartWorkflowAction, type ScheduleSpec, type Workflow } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { type temporal } from '@temporalio/proto';
import { Conformance } from './harness';
import { cronCountingWorkflow, failingWorkflow, helloWorkflow, sleepyWorkflow } from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

const HOUR = 3_600_000;
const created: ScheduleHandle[] = [];

// A schedule left behind would keep firing in later tests' sleeps, and its runs hold the clock while no worker runs.
afterEach(async () => {
  for (const handle of created.splice(0)) {
    const description = await handle.describe().catch(() => undefined);
    await handle.delete().catch(() => undefined);
    for (const action of description?.info.runningActions ?? []) {
      await t.client.workflow.getHandle(action.workflow.workflowId, action.workflow.firstExecutionRunId).terminate('test cleanup').catch(() => undefined);
    }
  }
});

async function createSchedule<W extends Workflow>(
  prefix: string,
  spec: ScheduleSpec,
  action: Omit<ScheduleOptionsStartWorkflowAction<W>, 'type' | 'taskQueue' | 'workflowId'>,
  options: { overlap?: ScheduleOverlapPolicy; paused?: boolean; remainingActions?: number; pauseOnFailure?: boolean } = {},
): Promise<ScheduleHandle> {
  const scheduleId = t.id(prefix);
  const handle = await t.client.schedule.create({
    scheduleId,
    spec,
    action: { type: 'startWorkflow', taskQueue: t.taskQueue, workflowId: `${scheduleId}-wf`, ...action } as ScheduleOptionsStartWorkflowAction<W>,
    policies: { overlap: options.overlap, pauseOnFailure: options.pauseOnFailure },
    state: { paused: options.paused, remainingActions: options.remainingActions },
  });
  created.push(handle);
  return handle;
}

/** Records the runs a schedule started, so their histories are replayed at the end. */
async function recordRuns(handle: ScheduleHandle): Promise<string[]> {
  const { info } = await handle.describe();
  return info.recentActions.map((action) => t.record(t.client.workflow.getHandle(action.action.workflow.workflowId)).workflowId);
}

test('an interval schedule starts its workflow once per interval as virtual time passes, named and tagged as the server does', async () => {
  const handle = await createSchedule('interval', { intervals: [{ every: '1h' }] }, { workflowType: helloWorkflow, args: ['schedule'] });
  await t.withWorker(() => t.env.sleep(3 * HOUR));
  const { info } = await handle.describe();
  expect(info.numActionsTaken).toBe(3);
  expect(info.recentActions).toHaveLength(3);
  for (const action of info.recentActions) {
    expect(action.scheduledAt.getTime() % HOUR).toBe(0);
    expect(action.action.workflow.workflowId).toBe(`${handle.scheduleId}-wf-${action.scheduledAt.toISOString().replace('.000Z', 'Z')}`);
  }
  const first = t.client.workflow.getHandle(info.recentActions[0]!.action.workflow.workflowId);
  expect(await first.result()).toBe('Hello, schedule!');
  const described = await first.describe();
  expect(described.searchAttributes.TemporalScheduledById).toEqual([handle.scheduleId]);
  expect((described.searchAttributes.TemporalScheduledStartTime as Date[])[0]!.getTime()).toBe(info.recentActions[0]!.scheduledAt.getTime());
  expect(info.nextActionTimes[0]!.getTime() - info.recentActions[2]!.scheduledAt.getTime()).toBe(HOUR);
  await recordRuns(handle);
});

test('a paused schedule takes no actions until it is unpaused', async () => {
  const handle = await createSchedule('paused', { intervals: [{ every: '1h' }] }, { workflowType: helloWorkflow, args: ['paused'] }, { paused: true });
  await t.withWorker(() => t.env.sleep(2 * HOUR));
  let description = await handle.describe();
  expect(description.state.paused).toBe(true);
  expect(description.info.numActionsTaken).toBe(0);

  await handle.unpause('back on');
  await t.withWorker(() => t.env.sleep(2 * HOUR));
  description = await handle.describe();
  expect(description.state.paused).toBe(false);
  expect(description.state.note).toBe('back on');
  expect(description.info.numActionsTaken).toBe(2);

  await handle.pause('off again');
  description = await handle.describe();
  expect(description.state).toMatchObject({ paused: true, note: 'off again' });
  await recordRuns(handle);
});

test('trigger starts the action now, whatever the spec', async () => {
  const handle = await createSchedule('trigger', { calendars: [{ month: 'JANUARY', dayOfMonth: 1 }] }, { workflowType: helloWorkflow, args: ['trigger'] });
  await handle.trigger();
  const { info } = await handle.describe();
  expect(info.numActionsTaken).toBe(1);
  const started = t.client.workflow.getHandle(info.recentActions[0]!.action.workflow.workflowId);
  expect(await t.withWorker(() => started.result())).toBe('Hello, trigger!');
  await recordRuns(handle);
});

test('overlap SKIP skips actions while the previous run is open; ALLOW_ALL starts them all', async () => {
  // Each run sleeps 90 minutes, the schedule fires every hour: three fire times in three hours.
  const skip = await createSchedule('skip', { intervals: [{ every: '1h' }] }, { workflowType: sleepyWorkflow, args: [90 * 60_000] });
  const allowAll = await createSchedule('allow-all', { intervals: [{ every: '1h' }] }, { workflowType: sleepyWorkflow, args: [90 * 60_000] }, { overlap: ScheduleOverlapPolicy.ALLOW_ALL });
  await t.withWorker(() => t.env.sleep(3 * HOUR));
  const skipped = await skip.describe();
  expect(skipped.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
  expect(skipped.info.numActionsTaken).toBe(2);
  expect(skipped.info.numActionsSkippedOverlap).toBe(1);
  const allowed = await allowAll.describe();
  expect(allowed.info.numActionsTaken).toBe(3);
  expect(allowed.info.numActionsSkippedOverlap).toBe(0);
  expect(allowed.info.runningActions.length).toBeGreaterThanOrEqual(1);
});

test('overlap BUFFER_ONE starts the next action when the running one closes', async () => {
  const handle = await createSchedule('buffer-one', { intervals: [{ every: '1h' }] }, { workflowType: sleepyWorkflow, args: [90 * 60_000] }, { overlap: ScheduleOverlapPolicy.BUFFER_ONE });
  // Fire times T1 (within the first hour), T1+1h (buffered until T1+90m), T1+2h (buffered: the second run is open).
  await t.withWorker(() => t.env.sleep(3 * HOUR));
  const { info } = await handle.describe();
  expect(info.numActionsTaken).toBe(2);
  expect(info.numActionsSkippedOverlap).toBe(0);
  // The second fire time's run starts when the first closes (90 minutes after it), not on the hour.
  const [first, second] = info.recentActions;
  expect(second!.takenAt.getTime() - first!.takenAt.getTime()).toBeGreaterThanOrEqual(90 * 60_000);
  expect(second!.scheduledAt.getTime() - first!.scheduledAt.getTime()).toBe(HOUR);
});

test('overlap TERMINATE_OTHER terminates the running workflow and starts the next', async () => {
  const handle = await createSchedule('terminate-other', { intervals: [{ every: '1h' }] }, { workflowType: sleepyWorkflow, args: [90 * 60_000] }, { overlap: ScheduleOverlapPolicy.TERMINATE_OTHER });
  await t.withWorker(() => t.env.sleep(2 * HOUR));
  const { info } = await handle.describe();
  expect(info.numActionsTaken).toBe(2);
  const first = await t.client.workflow.getHandle(info.recentActions[0]!.action.workflow.workflowId).describe();
  expect(first.status.name).toBe('TERMINATED');
});

test('overlap CANCEL_OTHER cancels the running workflow and starts the next once it closes', async () => {
  const handle = await createSchedule('cancel-other', { intervals: [{ every: '1h' }] }, { workflowType: sleepyWorkflow, args: [90 * 60_000] }, { overlap: ScheduleOverlapPolicy.CANCEL_OTHER });
  await t.withWorker(() => t.env.sleep(2 * HOUR));
  const { info } = await handle.describe();
  expect(info.numActionsTaken).toBe(2);
  const first = await t.client.workflow.getHandle(info.recentActions[0]!.action.workflow.workflowId).describe();
  expect(first.status.name).toBe('CANCELLED');
});

test('backfill takes the actions of a past period', async () => {
  const handle = await createSchedule('backfill', { intervals: [{ every: '1h' }] }, { workflowType: helloWorkflow, args: ['backfill'] }, { paused: true });
  const now = await t.env.currentTimeMs();
  const end = Math.floor(now / HOUR) * HOUR;
  await handle.backfill({ start: new Date(end - 3 * HOUR + 1), end: new Date(end), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
  const { info } = await handle.describe();
  expect(info.recentActions.map((action) => action.scheduledAt.getTime())).toEqual([end - 2 * HOUR, end - HOUR, end]);
  await t.withWorker(() => Promise.all(info.recentActions.map((action) => t.client.workflow.getHandle(action.action.workflow.workflowId).result())));
  await recordRuns(handle);
});

test('jitter delays each action by less than the jitter, and matching times show the delayed times', async () => {
  const handle = await createSchedule('jitter', { cronExpressions: ['0 * * * *'], jitter: '10m' }, { workflowType: helloWorkflow, args: ['jitter'] });
  // Three hours and the jitter: the three fire times inside the first three hours have all been taken.
  await t.withWorker(() => t.env.sleep(3 * HOUR + 10 * 60_000));
  const { info } = await handle.describe();
  expect(info.numActionsTaken).toBeGreaterThanOrEqual(3);
  expect(info.numActionsTaken).toBeLessThanOrEqual(4);
  for (const action of info.recentActions) {
    expect(action.scheduledAt.getTime() % HOUR).toBe(0);
    const delay = action.takenAt.getTime() - action.scheduledAt.getTime();
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(10 * 60_000 + 5_000);
  }
  expect(info.recentActions.some((action) => action.takenAt.getTime() > action.scheduledAt.getTime())).toBe(true);
  for (const next of info.nextActionTimes) expect(next.getTime() % HOUR).toBeLessThan(10 * 60_000);
});

test('remaining actions limit how many times a schedule fires', async () => {
  const handle = await createSchedule('limited', { intervals: [{ every: '1h' }] }, { workflowType: helloWorkflow, args: ['limited'] }, { remainingActions: 2 });
  await t.withWorker(() => t.env.sleep(4 * HOUR));
  const description = await handle.describe();
  expect(description.info.numActionsTaken).toBe(2);
  expect(description.state.remainingActions).toBe(0);
  expect(description.info.nextActionTimes).toEqual([]);
});

test('pause-on-failure pauses the schedule when a run fails', async () => {
  const handle = await createSchedule('pause-on-failure', { intervals: [{ every: '1h' }] }, { workflowType: failingWorkflow }, { pauseOnFailure: true });
  await t.withWorker(() => t.env.sleep(3 * HOUR));
  const description = await handle.describe();
  expect(description.info.numActionsTaken).toBe(1);
  expect(description.state.paused).toBe(true);
});

test('update replaces the spec: later actions follow the new interval', async () => {
  const handle = await createSchedule('update', { intervals: [{ every: '1h' }] }, { workflowType: helloWorkflow, args: ['update'] });
  await t.withWorker(() => t.env.sleep(HOUR));
  expect((await handle.describe()).info.numActionsTaken).toBe(1);
  await handle.update((previous) => ({ ...previous, spec: { intervals: [{ every: '30m' }] } }));
  const updated = await handle.describe();
  expect(updated.spec.intervals?.map((interval) => interval.every)).toEqual([30 * 60_000]);
  await t.withWorker(() => t.env.sleep(HOUR));
  expect((await handle.describe()).info.numActionsTaken).toBe(3);
});

test('delete stops a schedule and describe then reports it missing', async () => {
  const handle = await createSchedule('delete', { intervals: [{ every: '1h' }] }, { workflowType: helloWorkflow, args: ['delete'] });
  await t.withWorker(() => t.env.sleep(HOUR));
  expect((await handle.describe()).info.numActionsTaken).toBe(1);
  await handle.delete();
  await expect(handle.describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  await t.withWorker(() => t.env.sleep(2 * HOUR));
  const started: string[] = [];
  for await (const execution of t.client.workflow.list()) if (execution.workflowId.startsWith(`${handle.scheduleId}-wf-`)) started.push(execution.workflowId);
  expect(started).toHaveLength(1);
});

test('list shows schedules with their spec, action and state', async () => {
  const handle = await createSchedule('list', { cronExpressions: ['30 9 * * *'] }, { workflowType: helloWorkflow, args: ['list'] }, { paused: true });
  const listed = [];
  for await (const summary of t.client.schedule.list()) if (summary.scheduleId === handle.scheduleId) listed.push(summary);
  expect(listed).toHaveLength(1);
  expect(listed[0]!.state.paused).toBe(true);
  expect(listed[0]!.action).toMatchObject({ type: 'startWorkflow', workflowType: 'helloWorkflow' });
  expect(listed[0]!.spec?.calendars?.[0]).toMatchObject({ hour: [{ start: 9, end: 9, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }] });
});

test('matching times follow a cron string: weekdays at noon UTC', async () => {
  const handle = await createSchedule('matching', { cronExpressions: ['0 12 * * MON-FRI'] }, { workflowType: helloWorkflow, args: ['matching'] }, { paused: true });
  const start = Date.UTC(2030, 0, 6); // a Sunday
  const response: temporal.api.workflowservice.v1.IListScheduleMatchingTimesResponse = await t.client.workflowService.listScheduleMatchingTimes({
    namespace: 'default',
    scheduleId: handle.scheduleId,
    startTime: msToTs(start),
    endTime: msToTs(start + 7 * 24 * HOUR),
  });
  const times = (response.startTime ?? []).map((time) => new Date(Number(time.seconds) * 1000).toISOString());
  expect(times).toEqual(['2030-01-07', '2030-01-08', '2030-01-09', '2030-01-10', '2030-01-11'].map((day) => `${day}T12:00:00.000Z`));
});

test('a workflow started with a cron schedule runs at each matching time, carrying its last result', async () => {
  const handle = await t.client.workflow.start(cronCountingWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('cron'), cronSchedule: '0 * * * *' });
  await t.withWorker(() => t.env.sleep(3 * HOUR));
  const runs = [];
  for await (const execution of t.client.workflow.list()) if (execution.workflowId === handle.workflowId) runs.push(execution);
  runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  // Three runs completed on the hour; the fourth waits for the next hour.
  expect(runs.map((run) => run.status.name)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'RUNNING']);
  const histories = await Promise.all(runs.slice(0, 3).map((run) => t.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory()));
  const results: unknown[] = [];
  for (const history of histories) {
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    expect(started.cronSchedule).toBe('0 * * * *');
    const firstTask = history.events![1]!;
    expect(Number(firstTask.eventTime!.seconds) % 3600).toBe(0);
    const completed = history.events!.at(-1)!.workflowExecutionCompletedEventAttributes!;
    expect(completed.newExecutionRunId).toBeTruthy();
    results.push(JSON.parse(Buffer.from(completed.result!.payloads![0]!.data!).toString()));
  }
  expect(results).toEqual([1, 2, 3]);
  expect(histories[1]!.events![0]!.workflowExecutionStartedEventAttributes!.initiator).toBe(3);
  for (const run of runs.slice(0, 3)) t.record(t.client.workflow.getHandle(run.workflowId, run.runId));
  await handle.terminate('test done');
});

test('every history a schedule or cron run wrote replays', async () => {
  expect(t.recordedCount).toBeGreaterThan(0);
  expect(await t.replayAll()).toEqual([]);
});
