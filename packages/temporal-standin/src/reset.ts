/**
 * ResetWorkflowExecution, as the server's workflow resetter does it (temporalio/temporal
 * service/history/ndc/workflow_resetter.go, service/history/api/resetworkflow):
 *
 * 1. The reset point is `workflow_task_finish_event_id`: the new run keeps the base run's history before it, and at
 *    that point a workflow task must be pending (the point is a WorkflowTaskStarted, Completed, Failed or TimedOut
 *    event, or anything between a task's Scheduled and its end).
 * 2. The workflow's current run, if still open, is terminated with the request's reason by "history-resetter"; its
 *    children are left running (they reconnect to the new run), and its parent is not told it closed.
 * 3. The new run (a new run id, started now) holds that history, then a WorkflowTaskFailed(RESET_WORKFLOW) naming the
 *    base and new run ids (the SDK reseeds its randomness from it), then activities that had started fail with a
 *    reset failure, then the events reapplied from after the reset point (the base run's, and the runs it continued
 *    as new into): signals and updates unless excluded (`reset_reapply_exclude_types`, or the older
 *    `reset_reapply_type`), and what became of children and external signals/cancels initiated before it. A new
 *    workflow task follows, on the normal queue: the worker replays the kept history and carries on from there.
 * 4. Pending activities restart (attempt 1), timers keep their fire times, pending children stay the new run's.
 * 5. The same `request_id` while the run it made is current answers that run again.
 *
 * Also here: what DescribeWorkflowExecution reports about resets (`workflowExtendedInfo`) and the auto-reset points
 * listed with a run (one per worker build, at the first workflow task it completed).
 */
import { randomUUID } from 'node:crypto';
import { type Engine } from './engine';
import { durationMs, enumValue, invalidArgument, type Msg, num, timestamp, timestampMs } from './proto';
import { type ActivityState, type ChildState, Run, Status } from './run';

/** Who terminates the current run (the server's consts.IdentityResetter). */
export const RESETTER_IDENTITY = 'history-resetter';
/** Who writes the reset's own workflow task events (consts.IdentityHistoryService). */
const HISTORY_SERVICE_IDENTITY = 'history-service';

const EXCLUDE = {
  Signal: enumValue('temporal.api.enums.v1.ResetReapplyExcludeType', 'RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL'),
  Update: enumValue('temporal.api.enums.v1.ResetReapplyExcludeType', 'RESET_REAPPLY_EXCLUDE_TYPE_UPDATE'),
};
const REAPPLY_TYPE = {
  Signal: enumValue('temporal.api.enums.v1.ResetReapplyType', 'RESET_REAPPLY_TYPE_SIGNAL'),
  None: enumValue('temporal.api.enums.v1.ResetReapplyType', 'RESET_REAPPLY_TYPE_NONE'),
};
const WFT_FAILED_RESET = enumValue('temporal.api.enums.v1.WorkflowTaskFailedCause', 'WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW');
const RETRY_STATE_NON_RETRYABLE = enumValue('temporal.api.enums.v1.RetryState', 'RETRY_STATE_NON_RETRYABLE_FAILURE');
const RETRY_STATE_TIMEOUT = enumValue('temporal.api.enums.v1.RetryState', 'RETRY_STATE_TIMEOUT');
const UPDATE_ORIGIN_REAPPLY = enumValue('temporal.api.enums.v1.UpdateAdmittedEventOrigin', 'UPDATE_ADMITTED_EVENT_ORIGIN_REAPPLY');

/** Which run a reset replaced by which, and which request made it. */
export class ResetLinks {
  private readonly replacedBy = new Map<string, string>();
  private readonly resetRuns = new Set<string>();
  private readonly byRequest = new Map<string, string>();

  link(baseRunId: string, resetRunId: string, requestKey: string): void {
    this.replacedBy.set(baseRunId, resetRunId);
    this.resetRuns.add(resetRunId);
    this.byRequest.set(requestKey, resetRunId);
  }

  /** The run a reset of `runId` created (`reset_run_id`). */
  resetRunOf(runId: string): string | undefined {
    return this.replacedBy.get(runId);
  }

  isResetRun(runId: string): boolean {
    return this.resetRuns.has(runId);
  }

  /** The run that stands for `runId` now: itself, or the run its reset (or chain of resets) created. */
  follow(runId: string): string {
    const seen = new Set<string>();
    let current = runId;
    while (this.replacedBy.has(current) && !seen.has(current)) {
      seen.add(current);
      current = this.replacedBy.get(current)!;
    }
    return current;
  }

  runOfRequest(requestKey: string): string | undefined {
    return this.byRequest.get(requestKey);
  }
}

/** An event's kind, from its one `<kind>EventAttributes` field. */
function kindOf(event: Msg): { name: string; attributes: Msg } {
  for (const key of Object.keys(event)) {
    if (key.endsWith('EventAttributes') && event[key]) return { name: key.slice(0, -'EventAttributes'.length), attributes: event[key] as Msg };
  }
  return { name: '', attributes: {} };
}

const CHILD_CLOSED = new Set([
  'startChildWorkflowExecutionFailed',
  'childWorkflowExecutionCompleted',
  'childWorkflowExecutionFailed',
  'childWorkflowExecutionCanceled',
  'childWorkflowExecutionTimedOut',
  'childWorkflowExecutionTerminated',
]);
const EXTERNAL_OUTCOMES = new Set([
  'externalWorkflowExecutionSignaled',
  'signalExternalWorkflowExecutionFailed',
  'externalWorkflowExecutionCancelRequested',
  'requestCancelExternalWorkflowExecutionFailed',
]);

/** The state a history prefix leaves: what the new run carries on with. */
interface Rebuilt {
  pendingTask?: { scheduledEventId: number; startedEventId?: number };
  lastCompletedStartedEventId: number;
  activities: Map<number, { scheduled: Msg; started?: { eventId: number; attributes: Msg }; cancelRequestedEventId?: number }>;
  timers: Map<string, { startedEventId: number; fireAt: number }>;
  children: Map<number, ChildState>;
  externals: Set<number>;
  /** Updates admitted durably (an UpdateAdmitted event) or accepted, and not completed. */
  admittedUpdates: Map<string, Msg>;
  acceptedUpdates: Map<string, { request: Msg; acceptedEventId: number }>;
  memo: Msg;
  searchAttributes: Record<string, Msg>;
}

function rebuild(events: Msg[]): Rebuilt {
  const state: Rebuilt = {
    lastCompletedStartedEventId: 0,
    activities: new Map(),
    timers: new Map(),
    children: new Map(),
    externals: new Set(),
    admittedUpdates: new Map(),
    acceptedUpdates: new Map(),
    memo: {},
    searchAttributes: {},
  };
  for (const event of events) {
    const id = num(event.eventId);
    const { name, attributes: a } = kindOf(event);
    switch (name) {
      case 'workflowExecutionStarted':
        state.memo = a.memo?.fields ? { fields: { ...a.memo.fields } } : {};
        state.searchAttributes = { ...((a.searchAttributes?.indexedFields ?? {}) as Record<string, Msg>) };
        break;
      case 'workflowTaskScheduled':
        state.pendingTask = { scheduledEventId: id };
        break;
      case 'workflowTaskStarted':
        if (state.pendingTask) state.pendingTask.startedEventId = id;
        break;
      case 'workflowTaskCompleted':
        state.lastCompletedStartedEventId = num(a.startedEventId);
        state.pendingTask = undefined;
        break;
      case 'workflowTaskFailed':
      case 'workflowTaskTimedOut':
        state.pendingTask = undefined;
        break;
      case 'activityTaskScheduled':
        state.activities.set(id, { scheduled: a });
        break;
      case 'activityTaskStarted': {
        const activity = state.activities.get(num(a.scheduledEventId));
        if (activity) activity.started = { eventId: id, attributes: a };
        break;
      }
      case 'activityTaskCancelRequested': {
        const activity = state.activities.get(num(a.scheduledEventId));
        if (activity) activity.cancelRequestedEventId = id;
        break;
      }
      case 'activityTaskCompleted':
      case 'activityTaskFailed':
      case 'activityTaskTimedOut':
      case 'activityTaskCanceled':
        state.activities.delete(num(a.scheduledEventId));
        break;
      case 'timerStarted':
        state.timers.set(a.timerId as string, { startedEventId: id, fireAt: (timestampMs(event.eventTime) ?? 0) + (durationMs(a.startToFireTimeout) ?? 0) });
        break;
      case 'timerFired':
      case 'timerCanceled':
        state.timers.delete(a.timerId as string);
        break;
      case 'startChildWorkflowExecutionInitiated':
        state.children.set(id, {
          initiatedEventId: id,
          namespace: (a.namespace as string) || '',
          workflowId: a.workflowId as string,
          workflowType: a.workflowType,
          parentClosePolicy: (a.parentClosePolicy as number) || 1,
        });
        break;
      case 'childWorkflowExecutionStarted': {
        const child = state.children.get(num(a.initiatedEventId));
        if (child) Object.assign(child, { startedEventId: id, runId: a.workflowExecution?.runId as string });
        break;
      }
      case 'signalExternalWorkflowExecutionInitiated':
      case 'requestCancelExternalWorkflowExecutionInitiated':
        state.externals.add(id);
        break;
      case 'workflowExecutionUpdateAdmitted':
        state.admittedUpdates.set(a.request?.meta?.updateId as string, a.request as Msg);
        break;
      case 'workflowExecutionUpdateAccepted':
        state.admittedUpdates.delete(a.protocolInstanceId as string);
        state.acceptedUpdates.set(a.protocolInstanceId as string, { request: a.acceptedRequest as Msg, acceptedEventId: id });
        break;
      case 'workflowExecutionUpdateCompleted':
        state.acceptedUpdates.delete(a.meta?.updateId as string);
        break;
      case 'upsertWorkflowSearchAttributes':
        for (const [key, payload] of Object.entries((a.searchAttributes?.indexedFields ?? {}) as Record<string, Msg>)) {
          const data = payload?.data ? Buffer.from(payload.data as Uint8Array) : undefined;
          if (data && data.length > 0 && data.toString() !== 'null') state.searchAttributes[key] = payload;
          else delete state.searchAttributes[key];
        }
        break;
      case 'workflowPropertiesModified':
        state.memo = { fields: { ...(state.memo.fields ?? {}), ...(a.upsertedMemo?.fields ?? {}) } };
        break;
      default:
        if (CHILD_CLOSED.has(name)) state.children.delete(num(a.initiatedEventId));
        else if (EXTERNAL_OUTCOMES.has(name)) state.externals.delete(num(a.initiatedEventId));
    }
  }
  return state;
}

/** What to leave out of the reapplied events: the request's exclude types, and its older reapply type. */
function excludedTypes(request: Msg): Set<number> {
  const excluded = new Set<number>(((request.resetReapplyExcludeTypes ?? []) as number[]).map(Number));
  const type = request.resetReapplyType as number | undefined;
  if (type === REAPPLY_TYPE.Signal) excluded.add(EXCLUDE.Update);
  if (type === REAPPLY_TYPE.None) {
    excluded.add(EXCLUDE.Signal);
    excluded.add(EXCLUDE.Update);
  }
  return excluded;
}

const requestKey = (namespace: string, workflowId: string, requestId: string) => `${namespace}\u0000${workflowId}\u0000${requestId}`;

export function resetWorkflowExecution(engine: Engine, request: Msg): Msg {
  const requestId = request.requestId as string | undefined;
  if (!requestId) throw invalidArgument('RequestId is not set on request.');
  if (!request.workflowExecution) throw invalidArgument('Execution is not set on request.');
  if (!request.workflowExecution.workflowId) throw invalidArgument('WorkflowId is not set on request.');
  const namespace = (request.namespace as string) || 'default';
  const base = engine.findRun(namespace, request.workflowExecution);
  const current = engine.currentRun(namespace, base.workflowId)!;
  const key = requestKey(namespace, base.workflowId, requestId);
  const earlier = engine.resets.runOfRequest(key);
  if (earlier && earlier === current.runId) return { runId: earlier };

  const finishEventId = num(request.workflowTaskFinishEventId);
  if (finishEventId <= 1 || finishEventId >= base.nextEventId) throw invalidArgument('Workflow task finish ID must be > 1 && <= workflow last event ID.');
  const prefix = base.history.slice(0, finishEventId - 1);
  const state = rebuild(prefix);
  const task = state.pendingTask;
  if (!task) {
    throw invalidArgument(`Can only reset workflow to event ID in range [WorkflowTaskScheduled +1, WorkflowTaskStarted + 1]: ${finishEventId}`);
  }
  const reason = (request.reason as string) ?? '';

  // The current run ends first; events it buffered while a task ran are written, so they are reapplied too.
  if (current.open) {
    current.flush();
    // Its children are left to the new run (or to themselves): no parent-close policy for a reset.
    current.children.clear();
    engine.terminate(current, reason, RESETTER_IDENTITY);
  }

  const run = createResetRun(engine, base, prefix, state, requestId);
  // A task that was only scheduled at the reset point gets a (never dispatched) start, so it can fail.
  const startedEventId =
    task.startedEventId ??
    (run.commit('workflowTaskStarted', { scheduledEventId: task.scheduledEventId, identity: HISTORY_SERVICE_IDENTITY, requestId: randomUUID(), historySizeBytes: run.history.length * 200 }).eventId as number);
  run.commit('workflowTaskFailed', {
    scheduledEventId: task.scheduledEventId,
    startedEventId,
    cause: WFT_FAILED_RESET,
    failure: { message: reason, resetWorkflowFailureInfo: {} },
    identity: HISTORY_SERVICE_IDENTITY,
    baseRunId: base.runId,
    newRunId: run.runId,
    forkEventVersion: 0,
  });
  // Activities that had started are lost with the old run: they fail, not retried; the others are scheduled anew.
  for (const [scheduledEventId, activity] of state.activities) {
    if (!activity.started) continue;
    state.activities.delete(scheduledEventId);
    run.commit('activityTaskFailed', {
      scheduledEventId,
      startedEventId: activity.started.eventId,
      failure: { message: reason, resetWorkflowFailureInfo: {} },
      retryState: RETRY_STATE_NON_RETRYABLE,
      identity: activity.started.attributes.identity ?? '',
    });
  }
  reapply(engine, run, base, finishEventId, state, excludedTypes(request));
  resume(engine, run, state);
  engine.resets.link(base.runId, run.runId, key);
  engine.scheduleWorkflowTask(run);
  return { runId: run.runId };
}

function createResetRun(engine: Engine, base: Run, prefix: Msg[], state: Rebuilt, requestId: string): Run {
  const namespace = engine.namespace(base.namespace);
  const runId = randomUUID();
  const run = new Run(
    base.namespace,
    base.workflowId,
    runId,
    base.workflowType,
    base.taskQueue,
    engine.clock.now(),
    { ...base.startRequest, requestId },
    base.parent,
    base.root,
    state.memo.fields ? state.memo : undefined,
    state.searchAttributes,
    () => engine.clock.now(),
  );
  run.history.push(...prefix.map((event) => ({ ...event })));
  run.lastCompletedStartedEventId = state.lastCompletedStartedEventId;
  const runs = namespace.executions.get(base.workflowId) ?? [];
  runs.push(run);
  namespace.executions.set(base.workflowId, runs);
  namespace.runs.set(runId, run);
  // The run timeout counts from the reset, as the server refreshes the run's expiration.
  const runTimeoutMs = base.startRequest.workflowRunTimeoutMs;
  if (runTimeoutMs) {
    run.cancelRunTimeout = engine.clock.after(runTimeoutMs, () => {
      if (run.open) engine.close(run, Status.TimedOut, 'workflowExecutionTimedOut', { retryState: RETRY_STATE_TIMEOUT });
    });
  }
  return run;
}

/**
 * Reapplies what happened after the reset point: signals and updates from the base run's tail and the runs it
 * continued as new into; from the base run's tail also the outcomes of children and external requests the kept
 * history initiated.
 */
function reapply(engine: Engine, run: Run, base: Run, finishEventId: number, state: Rebuilt, excluded: Set<number>): void {
  const knownUpdates = new Set([...state.admittedUpdates.keys(), ...state.acceptedUpdates.keys()]);
  const reapplyUpdate = (updateRequest: Msg | undefined) => {
    const updateId = updateRequest?.meta?.updateId as string | undefined;
    if (!updateRequest || !updateId || excluded.has(EXCLUDE.Update) || knownUpdates.has(updateId)) return;
    knownUpdates.add(updateId);
    run.commit('workflowExecutionUpdateAdmitted', { request: updateRequest, origin: UPDATE_ORIGIN_REAPPLY });
    state.admittedUpdates.set(updateId, updateRequest);
  };
  let source: Run | undefined = base;
  let from = finishEventId;
  while (source) {
    for (const event of source.history.slice(from - 1)) {
      const { name, attributes: a } = kindOf(event);
      if (name === 'workflowExecutionSignaled') {
        if (excluded.has(EXCLUDE.Signal)) continue;
        run.commit('workflowExecutionSignaled', {
          signalName: a.signalName,
          input: a.input,
          identity: a.identity ?? '',
          header: a.header,
          ...(a.requestId ? { requestId: a.requestId } : {}),
        });
      } else if (name === 'workflowExecutionUpdateAdmitted') {
        reapplyUpdate(a.request as Msg);
      } else if (name === 'workflowExecutionUpdateAccepted') {
        reapplyUpdate(a.acceptedRequest as Msg);
      } else if (source === base) {
        reapplyOutcome(run, name, a, state);
      }
    }
    const last = source.history[source.history.length - 1];
    const next = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId as string | undefined;
    source = next ? engine.namespace(base.namespace).runs.get(next) : undefined;
    from = 1;
  }
}

/** A child's start or close, or an external request's outcome, for something the kept history initiated. */
function reapplyOutcome(run: Run, name: string, attributes: Msg, state: Rebuilt): void {
  const initiatedEventId = num(attributes.initiatedEventId);
  if (name === 'childWorkflowExecutionStarted') {
    const child = state.children.get(initiatedEventId);
    if (!child || child.startedEventId) return;
    const startedEventId = run.commit(name, attributes).eventId as number;
    Object.assign(child, { startedEventId, runId: attributes.workflowExecution?.runId as string });
  } else if (CHILD_CLOSED.has(name)) {
    const child = state.children.get(initiatedEventId);
    if (!child) return;
    state.children.delete(initiatedEventId);
    run.commit(name, name === 'startChildWorkflowExecutionFailed' ? attributes : { ...attributes, startedEventId: child.startedEventId ?? 0 });
  } else if (EXTERNAL_OUTCOMES.has(name) && state.externals.has(initiatedEventId)) {
    state.externals.delete(initiatedEventId);
    run.commit(name, attributes);
  }
}

/** Gives the new run what the kept history left pending: activities, timers, children, updates. */
function resume(engine: Engine, run: Run, state: Rebuilt): void {
  const now = engine.clock.now();
  for (const [scheduledEventId, { scheduled: a, cancelRequestedEventId }] of state.activities) {
    const scheduleToCloseMs = durationMs(a.scheduleToCloseTimeout);
    const scheduleToStartMs = durationMs(a.scheduleToStartTimeout);
    const startToCloseMs = durationMs(a.startToCloseTimeout);
    const heartbeatMs = durationMs(a.heartbeatTimeout);
    const activity: ActivityState = {
      scheduledEventId,
      activityId: a.activityId as string,
      activityType: a.activityType,
      taskQueue: (a.taskQueue?.name as string) || run.taskQueue,
      input: a.input,
      header: a.header,
      ...(scheduleToCloseMs ? { scheduleToCloseMs } : {}),
      ...(scheduleToStartMs ? { scheduleToStartMs } : {}),
      ...(startToCloseMs ? { startToCloseMs } : {}),
      ...(heartbeatMs ? { heartbeatMs } : {}),
      retryPolicy: (a.retryPolicy ?? {}) as Msg,
      attempt: 1,
      firstScheduledAt: now,
      attemptScheduledAt: now,
      cancelRequested: cancelRequestedEventId !== undefined,
      ...(cancelRequestedEventId !== undefined ? { cancelRequestedEventId } : {}),
      state: 'scheduled',
      cancelOverall: [],
      cancelAttempt: [],
      unlock: engine.clock.lock(),
    };
    engine.resumeActivity(run, activity);
  }
  for (const [timerId, timer] of state.timers) {
    const cancel = engine.clock.schedule(timer.fireAt, () => {
      if (!run.open || !run.timers.has(timerId)) return;
      run.timers.delete(timerId);
      run.add('timerFired', { timerId, startedEventId: timer.startedEventId });
      engine.scheduleWorkflowTask(run);
    });
    run.timers.set(timerId, { startedEventId: timer.startedEventId, cancel });
  }
  for (const [initiatedEventId, child] of state.children) run.children.set(initiatedEventId, { ...child, namespace: child.namespace || run.namespace });
  // Updates the history holds as admitted or accepted: the worker reads their requests from history, not messages.
  for (const request of state.admittedUpdates.values()) {
    const { update } = run.updates.admit(request);
    update.state = 'sent';
  }
  for (const [updateId, { request, acceptedEventId }] of state.acceptedUpdates) {
    run.updates.admit(request);
    run.updates.accept(updateId, acceptedEventId);
  }
}

/** DescribeWorkflowExecution's `workflowExtendedInfo`. */
export function workflowExtendedInfo(run: Run, links: ResetLinks): Msg {
  const runTimeoutMs = run.startRequest.workflowRunTimeoutMs;
  return {
    ...(runTimeoutMs ? { runExpirationTime: timestamp(run.startTime + runTimeoutMs) } : {}),
    originalStartTime: run.history[0]?.eventTime,
    cancelRequested: run.history.some((event) => event.workflowExecutionCancelRequestedEventAttributes),
    resetRunId: links.resetRunOf(run.runId) ?? '',
    ...(links.isResetRun(run.runId) ? { lastResetTime: timestamp(run.startTime) } : {}),
  };
}

/**
 * `auto_reset_points`: one per worker build (binary checksum and build id), at the first workflow task it completed,
 * resettable unless children or external requests were pending then.
 */
export function autoResetPoints(run: Run): Msg {
  const points: Msg[] = [];
  const seen = new Set<string>();
  const pending = new Set<number>();
  for (const event of run.history) {
    const { name, attributes: a } = kindOf(event);
    const id = num(event.eventId);
    if (name === 'startChildWorkflowExecutionInitiated' || name === 'signalExternalWorkflowExecutionInitiated' || name === 'requestCancelExternalWorkflowExecutionInitiated') pending.add(id);
    else if (CHILD_CLOSED.has(name) || EXTERNAL_OUTCOMES.has(name)) pending.delete(num(a.initiatedEventId));
    if (name !== 'workflowTaskCompleted') continue;
    const binaryChecksum = (a.binaryChecksum as string | undefined) ?? '';
    const buildId = (a.workerVersion?.buildId as string | undefined) ?? '';
    const key = `${binaryChecksum}\u0000${buildId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    points.push({ binaryChecksum, buildId, runId: run.runId, firstWorkflowTaskCompletedId: id, createTime: event.eventTime, resettable: pending.size === 0 });
  }
  return { points };
}
