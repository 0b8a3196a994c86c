/**
 * Schedules, on the stand-in's clock: each schedule keeps one clock timer for its next action time, so time
 * skipping jumps to it like to any workflow timer. An action starts the schedule's workflow as
 * `<workflowId>-<nominal time, RFC 3339>` with the `TemporalScheduledStartTime` / `TemporalScheduledById` search
 * attributes, as the server's scheduler workflow does; overlap policies decide what happens while an earlier run
 * it started is still open.
 */
import { compileSpec, jittered, matchingTimes, nextMatchingTime } from './calendar';
import { AlreadyStarted, type Engine } from './engine';
import { alreadyExists, duration, durationMs, invalidArgument, jsonPayload, type Msg, notFound, num, timestamp, timestampMs } from './proto';
import { type Run, Status } from './run';
import { compileScheduleQuery } from './schedule-query';

export const OVERLAP = { Unspecified: 0, Skip: 1, BufferOne: 2, BufferAll: 3, CancelOther: 4, TerminateOther: 5, AllowAll: 6 } as const;
/** The server's default catch-up window. */
const DEFAULT_CATCHUP_MS = 365 * 86_400_000;
const MIN_CATCHUP_MS = 10_000;
const RECENT_ACTIONS = 10;
/** The server's MaxBufferSize: starts beyond it are dropped (`buffer_dropped`). */
const MAX_BUFFER = 1000;
const FUTURE_ACTION_TIMES = 10;
const START_STATUS_RUNNING = 1;

interface Schedule {
  namespace: string;
  id: string;
  /** The stored schedule: spec compiled to structured calendars, action, policies, state. */
  schedule: Msg;
  memo?: Msg;
  searchAttributes?: Msg;
  requestId?: string;
  createTime: number;
  updateTime?: number;
  conflictToken: number;
  actionCount: number;
  missedCatchupWindow: number;
  overlapSkipped: number;
  bufferDropped: number;
  recentActions: Msg[];
  /** Actions waiting for the running workflow to close (BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER). */
  buffered: Array<{ nominal: number; manual: boolean }>;
  running: Run[];
  /** Nominal times up to this one are processed (taken, skipped, missed or paused over). */
  processedUntil: number;
  cancelTimer?: () => void;
}

export class Schedules {
  private readonly schedules = new Map<string, Schedule>();

  constructor(private readonly engine: Engine) {
    engine.closeListeners.push((run) => this.runClosed(run));
  }

  private key(namespace: string, id: string): string {
    return `${namespace}\u0000${id}`;
  }

  private get(namespace: string, id: string): Schedule {
    const schedule = this.schedules.get(this.key(namespace, id));
    if (!schedule) throw notFound(`schedule ${id} not found`);
    return schedule;
  }

  private get now(): number {
    return this.engine.clock.now();
  }

  create(request: Msg): Msg {
    const namespace = (request.namespace as string) || 'default';
    const id = request.scheduleId as string;
    if (!id) throw invalidArgument('schedule id is required');
    const existing = this.schedules.get(this.key(namespace, id));
    if (existing) {
      if (request.requestId && existing.requestId === request.requestId) return { conflictToken: token(existing) };
      throw alreadyExists(`schedule ${id} is already registered`);
    }
    const stored = validate(request.schedule);
    this.checkSearchAttributes(namespace, request.searchAttributes);
    const schedule: Schedule = {
      namespace,
      id,
      schedule: stored,
      memo: request.memo ?? undefined,
      searchAttributes: request.searchAttributes ?? undefined,
      requestId: (request.requestId as string) || undefined,
      createTime: this.now,
      conflictToken: 1,
      actionCount: 0,
      missedCatchupWindow: 0,
      overlapSkipped: 0,
      bufferDropped: 0,
      recentActions: [],
      buffered: [],
      running: [],
      processedUntil: this.now,
    };
    this.schedules.set(this.key(namespace, id), schedule);
    const initialPatch = request.initialPatch as Msg | undefined;
    if (initialPatch) this.applyPatch(schedule, initialPatch);
    this.arm(schedule);
    return { conflictToken: token(schedule) };
  }

  describe(request: Msg): Msg {
    const schedule = this.get(request.namespace as string, request.scheduleId as string);
    return {
      schedule: schedule.schedule,
      info: this.info(schedule),
      memo: schedule.memo,
      searchAttributes: schedule.searchAttributes,
      conflictToken: token(schedule),
    };
  }

  list(request: Msg): Msg {
    const namespace = (request.namespace as string) || 'default';
    const matches = compileScheduleQuery(request.query as string | undefined, this.engine.namespace(namespace).searchAttributes);
    const all = [...this.schedules.values()]
      .filter(
        (schedule) =>
          schedule.namespace === namespace &&
          matches({ scheduleId: schedule.id, paused: Boolean(schedule.schedule.state?.paused), searchAttributes: schedule.searchAttributes?.indexedFields }),
      )
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    const pageSize = num(request.maximumPageSize) || 1000;
    const offset = request.nextPageToken && (request.nextPageToken as Uint8Array).length ? Number(Buffer.from(request.nextPageToken).toString()) : 0;
    const page = all.slice(offset, offset + pageSize);
    const next = offset + page.length;
    return {
      schedules: page.map((schedule) => ({
        scheduleId: schedule.id,
        memo: schedule.memo,
        searchAttributes: schedule.searchAttributes,
        info: {
          spec: schedule.schedule.spec,
          workflowType: schedule.schedule.action?.startWorkflow?.workflowType,
          notes: schedule.schedule.state?.notes ?? '',
          paused: Boolean(schedule.schedule.state?.paused),
          recentActions: schedule.recentActions,
          futureActionTimes: this.futureTimes(schedule).map(timestamp),
        },
      })),
      nextPageToken: next < all.length ? Buffer.from(String(next)) : Buffer.alloc(0),
    };
  }

  update(request: Msg): Msg {
    const schedule = this.get(request.namespace as string, request.scheduleId as string);
    const expected = request.conflictToken as Uint8Array | undefined;
    if (expected && expected.length > 0 && Buffer.from(expected).toString() !== String(schedule.conflictToken)) {
      throw invalidArgument('mismatched conflict token');
    }
    schedule.schedule = validate(request.schedule);
    if (request.searchAttributes) {
      this.checkSearchAttributes(schedule.namespace, request.searchAttributes);
      schedule.searchAttributes = request.searchAttributes;
    }
    schedule.updateTime = this.now;
    schedule.conflictToken++;
    // Times before the update stay processed; the new spec applies from now on.
    schedule.processedUntil = Math.max(schedule.processedUntil, this.now);
    this.arm(schedule);
    return {};
  }

  patch(request: Msg): Msg {
    const schedule = this.get(request.namespace as string, request.scheduleId as string);
    this.applyPatch(schedule, request.patch ?? {});
    schedule.updateTime = this.now;
    schedule.conflictToken++;
    this.arm(schedule);
    return {};
  }

  delete(request: Msg): Msg {
    const schedule = this.get(request.namespace as string, request.scheduleId as string);
    schedule.cancelTimer?.();
    this.schedules.delete(this.key(schedule.namespace, schedule.id));
    return {};
  }

  matchingTimes(request: Msg): Msg {
    const schedule = this.get(request.namespace as string, request.scheduleId as string);
    const start = timestampMs(request.startTime) ?? this.now;
    const end = timestampMs(request.endTime) ?? start;
    const spec = schedule.schedule.spec;
    const times = matchingTimes(spec, start - 1, end).map((nominal) => jittered(spec, nominal, nextMatchingTime(spec, nominal)));
    return { startTime: times.map(timestamp) };
  }

  shutdown(): void {
    for (const schedule of this.schedules.values()) schedule.cancelTimer?.();
  }

  private applyPatch(schedule: Schedule, patch: Msg): void {
    const state = (schedule.schedule.state ??= {});
    if (patch.pause) Object.assign(state, { paused: true, notes: patch.pause });
    if (patch.unpause) Object.assign(state, { paused: false, notes: patch.unpause });
    if (patch.triggerImmediately) {
      const at = timestampMs(patch.triggerImmediately.scheduledTime) ?? this.now;
      this.act(schedule, at, (patch.triggerImmediately.overlapPolicy as number) || this.overlap(schedule), true);
    }
    for (const backfill of (patch.backfillRequest ?? []) as Msg[]) {
      const start = timestampMs(backfill.startTime) ?? this.now;
      const end = timestampMs(backfill.endTime) ?? start;
      for (const nominal of matchingTimes(schedule.schedule.spec, start - 1, end)) {
        this.act(schedule, nominal, (backfill.overlapPolicy as number) || this.overlap(schedule), true);
      }
    }
  }

  /** As the server: a schedule's search attributes must be custom attributes registered on its namespace. */
  private checkSearchAttributes(namespace: string, searchAttributes: Msg | null | undefined): void {
    const registered = this.engine.namespace(namespace).searchAttributes;
    for (const name of Object.keys((searchAttributes?.indexedFields ?? {}) as Msg)) {
      if (!registered.has(name)) throw invalidArgument(`Namespace ${namespace} has no mapping defined for search attribute ${name}`);
    }
  }

  private overlap(schedule: Schedule): number {
    return (schedule.schedule.policies?.overlapPolicy as number) || OVERLAP.Skip;
  }

  private info(schedule: Schedule): Msg {
    return {
      actionCount: schedule.actionCount,
      missedCatchupWindow: schedule.missedCatchupWindow,
      overlapSkipped: schedule.overlapSkipped,
      bufferDropped: schedule.bufferDropped,
      bufferSize: schedule.buffered.length,
      runningWorkflows: schedule.running.map((run) => ({ workflowId: run.workflowId, runId: run.runId })),
      recentActions: schedule.recentActions,
      futureActionTimes: this.futureTimes(schedule).map(timestamp),
      createTime: timestamp(schedule.createTime),
      updateTime: schedule.updateTime !== undefined ? timestamp(schedule.updateTime) : undefined,
    };
  }

  /** The next action times, jittered; none when the remaining actions are used up. */
  private futureTimes(schedule: Schedule): number[] {
    const state = schedule.schedule.state ?? {};
    let limit = FUTURE_ACTION_TIMES;
    if (state.limitedActions) limit = Math.min(limit, num(state.remainingActions));
    const spec = schedule.schedule.spec;
    const times: number[] = [];
    for (let nominal = nextMatchingTime(spec, schedule.processedUntil); nominal !== undefined && times.length < limit; ) {
      const next = nextMatchingTime(spec, nominal);
      times.push(jittered(spec, nominal, next));
      nominal = next;
    }
    return times;
  }

  /** Sets the timer for the next nominal time after those processed. */
  private arm(schedule: Schedule): void {
    schedule.cancelTimer?.();
    schedule.cancelTimer = undefined;
    const spec = schedule.schedule.spec;
    const nominal = nextMatchingTime(spec, schedule.processedUntil);
    if (nominal === undefined) return;
    const at = jittered(spec, nominal, nextMatchingTime(spec, nominal));
    schedule.cancelTimer = this.engine.clock.schedule(at, () => {
      schedule.cancelTimer = undefined;
      this.fire(schedule);
    });
  }

  /** Processes every nominal time whose (jittered) action time has come. */
  private fire(schedule: Schedule): void {
    if (!this.schedules.has(this.key(schedule.namespace, schedule.id))) return;
    const spec = schedule.schedule.spec;
    const catchupMs = Math.max(durationMs(schedule.schedule.policies?.catchupWindow) ?? DEFAULT_CATCHUP_MS, MIN_CATCHUP_MS);
    for (;;) {
      const nominal = nextMatchingTime(spec, schedule.processedUntil);
      if (nominal === undefined) break;
      const actionAt = jittered(spec, nominal, nextMatchingTime(spec, nominal));
      if (actionAt > this.now) break;
      schedule.processedUntil = nominal;
      if (schedule.schedule.state?.paused) continue;
      if (this.now - actionAt > catchupMs) {
        schedule.missedCatchupWindow++;
        continue;
      }
      this.act(schedule, nominal, this.overlap(schedule), false);
    }
    this.arm(schedule);
  }

  /** One action at `nominal`: start now, buffer, or skip, by the overlap policy. */
  private act(schedule: Schedule, nominal: number, overlap: number, manual: boolean): void {
    const state = schedule.schedule.state ?? {};
    // As on the server, triggers and backfills run whatever the remaining actions, and do not use them up.
    if (!manual && state.limitedActions && num(state.remainingActions) <= 0) return;
    schedule.running = schedule.running.filter((run) => run.open);
    if (schedule.running.length > 0) {
      switch (overlap) {
        case OVERLAP.AllowAll:
          break;
        case OVERLAP.TerminateOther:
          for (const run of [...schedule.running]) this.engine.terminate(run, 'terminated by schedule overlap policy', 'temporal-scheduler');
          break;
        case OVERLAP.CancelOther:
          for (const run of schedule.running) this.engine.requestCancel(run, 'cancelled by schedule overlap policy', 'temporal-scheduler');
          schedule.buffered = [{ nominal, manual }];
          return;
        case OVERLAP.BufferAll:
          if (schedule.buffered.length >= MAX_BUFFER) schedule.bufferDropped++;
          else schedule.buffered.push({ nominal, manual });
          return;
        case OVERLAP.BufferOne:
          // One waits; a further one is skipped as overlapping (the server's ProcessBuffer), not dropped.
          if (schedule.buffered.length > 0) schedule.overlapSkipped++;
          else schedule.buffered.push({ nominal, manual });
          return;
        default:
          schedule.overlapSkipped++;
          return;
      }
    }
    this.start(schedule, nominal, manual);
  }

  private start(schedule: Schedule, nominal: number, manual: boolean): void {
    const action = schedule.schedule.action?.startWorkflow as Msg | undefined;
    if (!action) return;
    const state = (schedule.schedule.state ??= {});
    // A buffered start out of remaining actions by the time it would run is dropped, as the server drops it.
    if (!manual && state.limitedActions && num(state.remainingActions) <= 0) return;
    const workflowId = `${action.workflowId as string}-${new Date(nominal).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
    const searchAttributes = {
      indexedFields: {
        ...(action.searchAttributes?.indexedFields ?? {}),
        TemporalScheduledStartTime: jsonPayload(new Date(nominal).toISOString(), 'Datetime'),
        TemporalScheduledById: jsonPayload(schedule.id, 'Keyword'),
      },
    };
    let run: Run;
    try {
      ({ run } = this.engine.startWorkflow(
        {
          namespace: schedule.namespace,
          workflowId,
          workflowType: action.workflowType,
          taskQueue: action.taskQueue?.name as string,
          input: action.input,
          header: action.header,
          memo: action.memo,
          searchAttributes,
          identity: 'temporal-scheduler',
          ...(durationMs(action.workflowTaskTimeout) ? { workflowTaskTimeoutMs: durationMs(action.workflowTaskTimeout)! } : {}),
          ...(durationMs(action.workflowRunTimeout) ? { workflowRunTimeoutMs: durationMs(action.workflowRunTimeout)! } : {}),
          ...(durationMs(action.workflowExecutionTimeout) ? { workflowExecutionTimeoutMs: durationMs(action.workflowExecutionTimeout)! } : {}),
          retryPolicy: action.retryPolicy ?? undefined,
        },
        { reuse: 1, conflict: 1 },
      ));
    } catch (error) {
      // The same nominal time taken twice (a trigger in the second a scheduled action ran): the server skips it too.
      if (error instanceof AlreadyStarted) return;
      throw error;
    }
    schedule.running.push(run);
    schedule.actionCount++;
    if (state.limitedActions && !manual) state.remainingActions = Math.max(num(state.remainingActions) - 1, 0);
    schedule.recentActions.push({
      scheduleTime: timestamp(nominal),
      actualTime: timestamp(this.now),
      startWorkflowResult: { workflowId: run.workflowId, runId: run.runId },
      startWorkflowStatus: START_STATUS_RUNNING,
    });
    if (schedule.recentActions.length > RECENT_ACTIONS) schedule.recentActions.shift();
  }

  /** A run closed: update its schedule's recent action, pause on failure, start what was buffered. */
  private runClosed(run: Run): void {
    for (const schedule of this.schedules.values()) {
      if (!schedule.running.includes(run)) continue;
      schedule.running = schedule.running.filter((other) => other !== run && other.open);
      for (const action of schedule.recentActions) {
        if (action.startWorkflowResult?.runId === run.runId) action.startWorkflowStatus = run.status;
      }
      const failed = run.status === Status.Failed || run.status === Status.TimedOut;
      if (failed && schedule.schedule.policies?.pauseOnFailure) {
        Object.assign((schedule.schedule.state ??= {}), { paused: true, notes: `paused due to workflow failure: ${run.workflowId}: ${run.status === Status.Failed ? 'Failed' : 'TimedOut'}` });
      }
      // While paused, buffered scheduled starts are drained without running (the server's processBuffer cannot take
      // them); triggered and backfilled ones still run.
      if (schedule.schedule.state?.paused) schedule.buffered = schedule.buffered.filter((start) => start.manual);
      if (schedule.running.length === 0 && schedule.buffered.length > 0) {
        // Started after the close event is written, outside the closing run's own bookkeeping; a start that cannot
        // run (no remaining actions) gives way to the next.
        this.engine.clock.after(0, () => {
          if (!this.schedules.has(this.key(schedule.namespace, schedule.id))) return;
          while (schedule.running.length === 0 && schedule.buffered.length > 0) {
            const next = schedule.buffered.shift()!;
            this.start(schedule, next.nominal, next.manual);
          }
        });
      }
      return;
    }
  }
}

function token(schedule: Schedule): Buffer {
  return Buffer.from(String(schedule.conflictToken));
}

/** Checks a schedule from a request and compiles its spec. */
function validate(schedule: Msg | null | undefined): Msg {
  if (!schedule) throw invalidArgument('schedule is required');
  const action = schedule.action?.startWorkflow as Msg | undefined;
  if (!action) throw invalidArgument('schedule action must start a workflow');
  if (!action.workflowId) throw invalidArgument('schedule action needs a workflow id');
  if (!action.workflowType?.name) throw invalidArgument('schedule action needs a workflow type');
  if (!action.taskQueue?.name) throw invalidArgument('schedule action needs a task queue');
  const spec = compileSpec(schedule.spec ?? {});
  return {
    ...schedule,
    spec,
    policies: {
      ...(schedule.policies ?? {}),
      overlapPolicy: (schedule.policies?.overlapPolicy as number) || OVERLAP.Skip,
      catchupWindow: schedule.policies?.catchupWindow ?? duration(DEFAULT_CATCHUP_MS),
    },
    state: { ...(schedule.state ?? {}), remainingActions: num(schedule.state?.remainingActions) },
  };
}
