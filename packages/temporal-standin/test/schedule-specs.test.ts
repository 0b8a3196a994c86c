/**
 * Schedules as the server evaluates them, through the SDK's ScheduleClient and a worker on the virtual clock:
 * specs in a time zone (calendars and cron strings, across DST as the server's calendar search and the SDK's docs
 * describe it), `@every` cron strings, ListSchedules with a visibility query (TemporalSchedulePaused, ScheduleId,
 * custom search attributes, reserved attributes refused), the BUFFER_ALL overlap policy, and a workflow
 * `cron_schedule` of `@every` (robfig/cron, as the server reads it).
 */
import {
  type ScheduleHandle,
  ScheduleOverlapPolicy,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
  type Workflow,
} from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { Conformance } from './harness';
import { cronCountingWorkflow, helloWorkflow, sleepyWorkflow } from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TEAM = defineSearchAttributeKey('CustomKeywordField', SearchAttributeType.KEYWORD);
const created: ScheduleHandle[] = [];

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
  scheduleId: string,
  spec: ScheduleSpec,
  action: Omit<ScheduleOptionsStartWorkflowAction<W>, 'type' | 'taskQueue' | 'workflowId'>,
  options: { overlap?: ScheduleOverlapPolicy; paused?: boolean; team?: string } = {},
): Promise<ScheduleHandle> {
  const handle = await t.client.schedule.create({
    scheduleId,
    spec,
    action: { type: 'startWorkflow', taskQueue: t.taskQueue, workflowId: `${scheduleId}-wf`, ...action } as ScheduleOptionsStartWorkflowAction<W>,
    policies: { overlap: options.overlap },
    state: { paused: options.paused },
    ...(options.team ? { typedSearchAttributes: new TypedSearchAttributes([{ key: TEAM, value: options.team }]) } : {}),
  });
  created.push(handle);
  return handle;
}

/** The message of the error a call fails with, and of its cause (the SDK wraps gRPC errors). */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const { message, cause } = error as Error & { cause?: Error };
    return `${message} ${cause?.message ?? ''}`;
  }
  throw new Error('expected the call to fail');
}

async function matchingTimes(handle: ScheduleHandle, from: string, to: string): Promise<string[]> {
  const response = await t.client.workflowService.listScheduleMatchingTimes({
    namespace: 'default',
    scheduleId: handle.scheduleId,
    startTime: msToTs(Date.parse(from)),
    endTime: msToTs(Date.parse(to)),
  });
  return (response.startTime ?? []).map((time) => new Date(Number(time.seconds) * 1000).toISOString());
}

describe('time zones', () => {
  test('a 2:30 calendar in New York does not fire on the spring-forward day; a 1:30 one fires twice on the fall-back day', async () => {
    const spring = await createSchedule(t.id('tz-spring'), { calendars: [{ hour: 2, minute: 30 }], timezone: 'America/New_York' }, { workflowType: helloWorkflow, args: ['tz'] }, { paused: true });
    expect((await spring.describe()).spec.timezone).toBe('America/New_York');
    // 2030-03-10: clocks go from 2:00 EST to 3:00 EDT.
    expect(await matchingTimes(spring, '2030-03-08T00:00:00Z', '2030-03-12T00:00:00Z')).toEqual([
      '2030-03-08T07:30:00.000Z',
      '2030-03-09T07:30:00.000Z',
      '2030-03-11T06:30:00.000Z',
    ]);
    const fall = await createSchedule(t.id('tz-fall'), { calendars: [{ hour: 1, minute: 30 }], timezone: 'America/New_York' }, { workflowType: helloWorkflow, args: ['tz'] }, { paused: true });
    // 2030-11-03: clocks go from 2:00 EDT back to 1:00 EST, so 1:30 happens at 05:30Z and again at 06:30Z.
    expect(await matchingTimes(fall, '2030-11-02T00:00:00Z', '2030-11-05T00:00:00Z')).toEqual([
      '2030-11-02T05:30:00.000Z',
      '2030-11-03T05:30:00.000Z',
      '2030-11-03T06:30:00.000Z',
      '2030-11-04T06:30:00.000Z',
    ]);
  });

  test('a CRON_TZ cron string is stored as a calendar in that zone and fires at its local time as virtual days pass', async () => {
    const handle = await createSchedule(t.id('tz-kolkata'), { cronExpressions: ['CRON_TZ=Asia/Kolkata 0 9 * * *'] }, { workflowType: helloWorkflow, args: ['kolkata'] });
    const { spec } = await handle.describe();
    expect(spec.timezone).toBe('Asia/Kolkata');
    expect(spec.calendars?.[0]).toMatchObject({ hour: [{ start: 9, end: 9, step: 1 }], minute: [{ start: 0, end: 0, step: 1 }] });
    await t.withWorker(() => t.env.sleep(2 * DAY));
    const { info } = await handle.describe();
    expect(info.numActionsTaken).toBe(2);
    // 09:00 in Kolkata (UTC+5:30) is 03:30 UTC.
    for (const action of info.recentActions) expect(action.scheduledAt.toISOString()).toMatch(/T03:30:00\.000Z$/);
    expect(info.nextActionTimes[0]!.getTime() - info.recentActions[1]!.scheduledAt.getTime()).toBe(DAY);
  });

  test('an unknown time zone, or cron strings naming different zones, are refused', async () => {
    const action: ScheduleOptionsStartWorkflowAction<typeof helloWorkflow> = { type: 'startWorkflow', taskQueue: t.taskQueue, workflowId: t.id('tz-bad-wf'), workflowType: helloWorkflow, args: ['x'] };
    expect(await failure(t.client.schedule.create({ scheduleId: t.id('tz-bad'), spec: { intervals: [{ every: '1h' }], timezone: 'Mars/Olympus_Mons' }, action }))).toMatch(
      /unknown time zone Mars\/Olympus_Mons/,
    );
    expect(
      await failure(t.client.schedule.create({ scheduleId: t.id('tz-conflict'), spec: { cronExpressions: ['TZ=Europe/Paris 0 9 * * *', 'TZ=Europe/Rome 0 9 * * *'] }, action })),
    ).toMatch(/conflicting timezone names/);
  });
});

test('an @every cron string becomes an interval with its phase', async () => {
  const handle = await createSchedule(t.id('every'), { cronExpressions: ['@every 90m/15m'] }, { workflowType: helloWorkflow, args: ['every'] }, { paused: true });
  const { spec } = await handle.describe();
  expect(spec.intervals).toEqual([{ every: 90 * MINUTE, offset: 15 * MINUTE }]);
  expect(await matchingTimes(handle, '2030-01-01T00:00:00Z', '2030-01-01T05:00:00Z')).toEqual([
    '2030-01-01T00:15:00.000Z',
    '2030-01-01T01:45:00.000Z',
    '2030-01-01T03:15:00.000Z',
    '2030-01-01T04:45:00.000Z',
  ]);
});

describe('ListSchedules with a query', () => {
  async function listed(query: string, prefix: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const schedule of t.client.schedule.list({ query })) if (schedule.scheduleId.startsWith(prefix)) ids.push(schedule.scheduleId);
    return ids.sort();
  }

  test('filters on the paused state, the schedule id and custom search attributes, as the server does', async () => {
    const prefix = t.id('query');
    const spec: ScheduleSpec = { intervals: [{ every: '1h' }] };
    const action = { workflowType: helloWorkflow, args: ['query'] as [string] };
    const a = await createSchedule(`${prefix}-a`, spec, action, { paused: true, team: 'payments' });
    await createSchedule(`${prefix}-b`, spec, action, { paused: false, team: 'ops' });
    await createSchedule(`${prefix}-c`, spec, action, { paused: true });
    const [idA, idB, idC] = ['a', 'b', 'c'].map((suffix) => `${prefix}-${suffix}`);

    expect(await listed('', prefix)).toEqual([idA, idB, idC]);
    expect(await listed('TemporalSchedulePaused = true', prefix)).toEqual([idA, idC]);
    expect(await listed(`CustomKeywordField = 'payments'`, prefix)).toEqual([idA]);
    expect(await listed(`TemporalSchedulePaused = false AND CustomKeywordField IN ('payments', 'ops')`, prefix)).toEqual([idB]);
    expect(await listed(`ScheduleId = '${idC}' OR CustomKeywordField = 'ops'`, prefix)).toEqual([idB, idC]);
    expect(await listed(`ScheduleId STARTS_WITH '${prefix}' AND CustomKeywordField IS NULL`, prefix)).toEqual([idC]);
    // A schedule without the attribute is neither equal nor unequal to a value (SQL's unknown).
    expect(await listed(`CustomKeywordField != 'payments'`, prefix)).toEqual([idB]);

    await a.unpause('resumed');
    expect(await listed('TemporalSchedulePaused = true', prefix)).toEqual([idC]);
    const [summary] = await (async () => {
      const found = [];
      for await (const schedule of t.client.schedule.list({ query: `ScheduleId = '${idA}'` })) found.push(schedule);
      return found;
    })();
    expect(summary?.typedSearchAttributes?.get(TEAM)).toBe('payments');
  });

  test('reserved and unknown attributes are refused, and so are unregistered ones on a schedule', async () => {
    expect(await failure(listed(`WorkflowType = 'helloWorkflow'`, ''))).toMatch(/cannot filter on "WorkflowType"/);
    expect(await failure(listed(`TemporalScheduledById = 'x'`, ''))).toMatch(/cannot filter on "TemporalScheduledById"/);
    expect(await failure(listed(`NoSuchAttribute = 1`, ''))).toMatch(/not a valid search attribute/);
    expect(await failure(listed(`TemporalSchedulePaused = 'maybe'`, ''))).toMatch(/invalid value/);
    expect(
      await failure(
        t.client.schedule.create({
        scheduleId: t.id('unregistered'),
        spec: { intervals: [{ every: '1h' }] },
        action: { type: 'startWorkflow', taskQueue: t.taskQueue, workflowId: t.id('unregistered-wf'), workflowType: helloWorkflow, args: ['x'] },
          typedSearchAttributes: new TypedSearchAttributes([{ key: defineSearchAttributeKey('NotRegistered', SearchAttributeType.KEYWORD), value: 'x' }]),
        }),
      ),
    ).toMatch(/no mapping defined for search attribute NotRegistered/);
  });
});

test('overlap BUFFER_ALL runs every buffered action, one after another, none skipped', async () => {
  // Runs last 150 minutes, the schedule fires hourly: every action waits for the one before it.
  const handle = await createSchedule(t.id('buffer-all'), { intervals: [{ every: '1h' }] }, { workflowType: sleepyWorkflow, args: [150 * MINUTE] }, { overlap: ScheduleOverlapPolicy.BUFFER_ALL });
  await t.withWorker(() => t.env.sleep(6 * HOUR));
  const { info, raw } = await handle.describe();
  expect(info.numActionsSkippedOverlap).toBe(0);
  expect(info.numActionsTaken).toBeGreaterThanOrEqual(3);
  const actions = info.recentActions;
  for (let i = 1; i < actions.length; i++) {
    expect(actions[i]!.scheduledAt.getTime() - actions[i - 1]!.scheduledAt.getTime()).toBe(HOUR);
    // Each starts when the previous run closed, 150 minutes after that one started.
    expect(actions[i]!.takenAt.getTime() - actions[i - 1]!.takenAt.getTime()).toBeGreaterThanOrEqual(150 * MINUTE);
  }
  // Fire times 1h apart, runs 2.5h long: after six hours, actions are still waiting in the buffer.
  expect(Number(raw.info?.bufferSize)).toBeGreaterThanOrEqual(2);
});

test('a workflow cron_schedule of @every 2s runs every two seconds from the previous run, as the server reads it', async () => {
  const handle = await t.client.workflow.start(cronCountingWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('cron-every'), cronSchedule: '@every 2s' });
  await t.withWorker(() => t.env.sleep(8_000));
  const runs = [];
  for await (const execution of t.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) runs.push(execution);
  runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  // About one run per two seconds (each run's own work takes some of the time): the last one waits.
  expect(runs.length).toBeGreaterThanOrEqual(3);
  expect(runs.map((run) => run.status.name)).toEqual([...runs.slice(1).map(() => 'COMPLETED'), 'RUNNING']);
  for (const run of runs) {
    // Each run waits for the next tick after the previous run's, rounded up to whole seconds: two seconds, or one
    // when the previous run closed late on a loaded machine.
    expect([1000, 2000]).toContain(run.executionTime!.getTime() - run.startTime.getTime());
  }
  for (const run of runs.slice(0, -1)) t.record(t.client.workflow.getHandle(run.workflowId, run.runId));
  await handle.terminate('test done');
  expect(await failure(t.client.workflow.start(cronCountingWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('cron-bad'), cronSchedule: '0 0 30 2 *' }))).toMatch(
    /no time can be found/,
  );
});

test('every history a schedule or cron run wrote here replays', async () => {
  expect(t.recordedCount).toBeGreaterThan(0);
  expect(await t.replayAll()).toEqual([]);
});
