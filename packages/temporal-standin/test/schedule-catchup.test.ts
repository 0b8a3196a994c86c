/**
 * A schedule's catch-up window after an outage, through the SDK's ScheduleClient: the stand-in process is stopped
 * (SIGSTOP) for longer than the window, so its clock moves on while nothing runs, as a server that was down. When it
 * comes back, the times it missed that are still inside the window are taken, late, at once (by the overlap policy:
 * ALLOW_ALL starts them all, SKIP starts the first and skips the rest as overlapping), and older ones are counted as
 * missed (the server's processTimeRange and ProcessBuffer). The outage is real time: this file takes ~35 s.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { type ScheduleDescription, type ScheduleHandle, ScheduleOverlapPolicy } from '@temporalio/client';
import { TEMPORAL_STANDIN_BIN } from '../src/testing';
import { Conformance } from './harness';
import { helloWorkflow } from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

const EVERY_MS = 2_000;
const CATCHUP_MS = 10_000;
const OUTAGE_MS = 12_500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The stand-in process the SDK launched for this file: this process's child running the stand-in's bin. */
function standinPid(): number {
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(TEMPORAL_STANDIN_BIN)) return Number(entry);
    } catch {
      // The process ended while we looked.
    }
  }
  throw new Error('the stand-in process was not found (this test needs the stand-in the SDK launches)');
}

async function createSchedule(prefix: string, overlap: ScheduleOverlapPolicy): Promise<ScheduleHandle> {
  const scheduleId = t.id(prefix);
  return t.client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every: EVERY_MS }] },
    action: { type: 'startWorkflow', taskQueue: t.taskQueue, workflowId: `${scheduleId}-wf`, workflowType: helloWorkflow, args: [prefix] },
    policies: { overlap, catchupWindow: CATCHUP_MS },
  });
}

/** Splits the recent actions into those taken on time and those taken late (when the server came back). */
function lateActions(description: ScheduleDescription) {
  const actions = description.info.recentActions;
  const late = actions.filter((action) => action.takenAt.getTime() - action.scheduledAt.getTime() >= 1_000);
  const firstLate = late[0]!;
  const onTimeBefore = actions.filter((action) => !late.includes(action) && action.scheduledAt < firstLate.scheduledAt).at(-1)!;
  return { late, firstLate, onTimeBefore, resumedAt: firstLate.takenAt.getTime() };
}

test('after an outage longer than the catch-up window, the missed times inside it run late and older ones are missed', async () => {
  await t.withWorker(async () => {
    const allowAll = await createSchedule('catchup-allow-all', ScheduleOverlapPolicy.ALLOW_ALL);
    const skip = await createSchedule('catchup-skip', ScheduleOverlapPolicy.SKIP);
    // A few actions on time first, and the outage starts with none of SKIP's runs open.
    let skippedBefore: number;
    for (;;) {
      const { info } = await skip.describe();
      if (info.numActionsTaken >= 2 && info.runningActions.length === 0) {
        skippedBefore = info.numActionsSkippedOverlap;
        break;
      }
      await sleep(100);
    }

    const pid = standinPid();
    process.kill(pid, 'SIGSTOP');
    try {
      await sleep(OUTAGE_MS);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The stand-in processes everything it missed in one step when it wakes.
    let described = await allowAll.describe();
    while (!described.info.recentActions.some((action) => action.takenAt.getTime() - action.scheduledAt.getTime() >= 1_000)) {
      await sleep(200);
      described = await allowAll.describe();
    }

    // ALLOW_ALL: every missed time within the window started at once; the ones before them were missed.
    const { late, firstLate, onTimeBefore, resumedAt } = lateActions(described);
    expect(late.length).toBeGreaterThanOrEqual(2);
    for (const action of late) {
      expect(Math.abs(action.takenAt.getTime() - resumedAt)).toBeLessThan(1_000);
      expect(resumedAt - action.scheduledAt.getTime()).toBeLessThanOrEqual(CATCHUP_MS);
    }
    for (let i = 1; i < late.length; i++) expect(late[i]!.scheduledAt.getTime() - late[i - 1]!.scheduledAt.getTime()).toBe(EVERY_MS);
    // The time before the first late one was already outside the window when the server came back.
    expect(resumedAt - (firstLate.scheduledAt.getTime() - EVERY_MS)).toBeGreaterThan(CATCHUP_MS);
    const missed = (firstLate.scheduledAt.getTime() - onTimeBefore.scheduledAt.getTime()) / EVERY_MS - 1;
    expect(missed).toBeGreaterThanOrEqual(1);
    expect(described.info.numActionsMissedCatchupWindow).toBe(missed);

    // SKIP: the same times were due and the same ones missed; the first started (unless a run from before the
    // outage was still open), every other one overlapped it and was skipped (on time ones after the outage may be
    // skipped too, while the worker catches up).
    const skipped = await skip.describe();
    const skipLate = skipped.info.recentActions.filter((action) => action.scheduledAt >= firstLate.scheduledAt && action.scheduledAt <= late.at(-1)!.scheduledAt);
    expect(skipLate.length).toBeLessThanOrEqual(1);
    if (skipLate.length === 1) expect(skipLate[0]!.scheduledAt.getTime()).toBe(firstLate.scheduledAt.getTime());
    expect(skipped.info.numActionsMissedCatchupWindow).toBe(missed);
    expect(skipped.info.numActionsSkippedOverlap - skippedBefore).toBeGreaterThanOrEqual(late.length - skipLate.length);

    for (const description of [described, skipped]) {
      for (const action of description.info.recentActions) t.record(t.client.workflow.getHandle(action.action.workflow.workflowId));
    }
    await allowAll.delete();
    await skip.delete();
  });
});

test('the runs the schedules started replay', async () => {
  expect(await t.replayAll()).toEqual([]);
});
