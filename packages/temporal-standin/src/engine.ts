/**
 * The stand-in's execution engine: starts runs, hands workflow and activity tasks to pollers, applies the
 * commands a workflow task completes with, and writes the events a real Temporal server writes for them.
 * Everything here is synchronous and single-threaded, so each RPC is one atomic step.
 */
import { randomUUID } from 'node:crypto';
import { type Clock } from './clock';
import { TaskQueue } from './matching';
import {
  alreadyExists,
  duration,
  durationMs,
  encodeToken,
  invalidArgument,
  type Msg,
  notFound,
  num,
  RpcError,
  timestamp,
} from './proto';
import { type ActivityState, type ChildState, type PendingQuery, Run, Status, type StatusCode } from './run';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { discardsSpeculativeTask, unpack, type UpdateState } from './updates';
import { cronBackoffMs, parseCronSchedule } from './cron-schedule';
import { autoResetPoints, ResetLinks, RESETTER_IDENTITY, workflowExtendedInfo } from './reset';

const REUSE = { AllowDuplicate: 1, AllowDuplicateFailedOnly: 2, RejectDuplicate: 3, TerminateIfRunning: 4 };
const CONFLICT = { Fail: 1, UseExisting: 2, TerminateExisting: 3 };
const RETRY_STATE = { InProgress: 1, NonRetryable: 2, Timeout: 3, MaximumAttempts: 4, RetryPolicyNotSet: 5, CancelRequested: 7 };
const TIMEOUT = { StartToClose: 1, ScheduleToStart: 2, ScheduleToClose: 3, Heartbeat: 4 };
const WFT_FAILED_CAUSE_UNHANDLED_COMMAND = 1;
const PARENT_CLOSE = { Terminate: 1, Abandon: 2, RequestCancel: 3 };
const QUERY_RESULT_ANSWERED = 1;
const TASK_QUEUE_KIND_NORMAL = 1;
const INITIATOR_WORKFLOW = 1;
const INITIATOR_CRON = 3;
/** The server's SpeculativeWorkflowTaskScheduleToStartTimeout (a speculative task on a normal queue). */
const SPECULATIVE_SCHEDULE_TO_START_MS = 5_000;

export interface WorkflowTaskRef {
  kind: 'workflow';
  run: Run;
  scheduledEventId: number;
  attempt: number;
}
export interface QueryTaskRef {
  kind: 'query';
  run: Run;
  query: PendingQuery;
}
export type WorkflowQueueTask = WorkflowTaskRef | QueryTaskRef;
export interface ActivityTaskRef {
  run: Run;
  scheduledEventId: number;
  attempt: number;
}

export interface NamespaceState {
  name: string;
  id: string;
  /** Runs of each workflow id, oldest first; the last is the current one. */
  executions: Map<string, Run[]>;
  runs: Map<string, Run>;
  searchAttributes: Map<string, number>;
}

export interface StartOptions {
  namespace: string;
  workflowId: string;
  workflowType: Msg;
  taskQueue: string;
  input?: Msg;
  header?: Msg;
  memo?: Msg;
  searchAttributes?: Msg;
  identity?: string;
  workflowTaskTimeoutMs?: number;
  workflowRunTimeoutMs?: number;
  workflowExecutionTimeoutMs?: number;
  retryPolicy?: Msg;
  cronSchedule?: string;
  requestId?: string;
  parent?: { run: Run; initiatedEventId: number };
  continued?: { from: Run; lastCompletionResult?: Msg; failure?: Msg; initiator?: number };
  signal?: { name: string; input?: Msg; header?: Msg; identity?: string };
  userMetadata?: Msg;
}

export class Engine {
  readonly namespaces = new Map<string, NamespaceState>();
  private readonly workflowQueues = new Map<string, TaskQueue<WorkflowQueueTask>>();
  private readonly activityQueues = new Map<string, TaskQueue<ActivityTaskRef>>();
  private readonly startRequests = new Map<string, Run>();
  /** Sticky queues of workers that said they shut down: a late completion naming one does not make a run sticky. */
  private readonly deadStickyQueues = new Set<string>();

  /** Called after any run closes (schedules follow the runs they started). */
  readonly closeListeners: Array<(run: Run) => void> = [];

  /** Runs that resets replaced, and the runs they created (ResetWorkflowExecution, src/reset.ts). */
  readonly resets = new ResetLinks();

  constructor(
    readonly clock: Clock,
    private readonly defaultSearchAttributes: Map<string, number>,
    private readonly log: (message: string) => void,
  ) {}

  // ---------------------------------------------------------------------------------------------------------------
  // Namespaces and lookups

  namespace(name: string): NamespaceState {
    let namespace = this.namespaces.get(name);
    if (!namespace) {
      namespace = { name, id: randomUUID(), executions: new Map(), runs: new Map(), searchAttributes: new Map(this.defaultSearchAttributes) };
      this.namespaces.set(name, namespace);
    }
    return namespace;
  }

  currentRun(namespace: string, workflowId: string): Run | undefined {
    const runs = this.namespace(namespace).executions.get(workflowId);
    return runs?.[runs.length - 1];
  }

  /** The run a request names: a specific run id, or the workflow id's current run. */
  findRun(namespace: string, execution: Msg | null | undefined): Run {
    const workflowId = execution?.workflowId as string | undefined;
    const runId = execution?.runId as string | undefined;
    if (!workflowId) throw invalidArgument('workflow id is required');
    const run = runId ? this.namespace(namespace).runs.get(runId) : this.currentRun(namespace, workflowId);
    if (!run || run.workflowId !== workflowId) throw notFound(`workflow execution ${workflowId}${runId ? `/${runId}` : ''} not found`);
    return run;
  }

  findOpenRun(namespace: string, execution: Msg | null | undefined): Run {
    const run = this.findRun(namespace, execution);
    if (!run.open) throw notFound(`workflow execution already completed`);
    return run;
  }

  workflowQueue(namespace: string, name: string): TaskQueue<WorkflowQueueTask> {
    const key = `${namespace}\u0000${name}`;
    let queue = this.workflowQueues.get(key);
    if (!queue) {
      queue = new TaskQueue<WorkflowQueueTask>((task) =>
        task.kind === 'query'
          ? true
          : task.run.open && task.run.wft.state === 'scheduled' && task.run.wft.scheduledEventId === task.scheduledEventId && task.run.wft.attempt === task.attempt,
      );
      this.workflowQueues.set(key, queue);
    }
    return queue;
  }

  activityQueue(namespace: string, name: string): TaskQueue<ActivityTaskRef> {
    const key = `${namespace}\u0000${name}`;
    let queue = this.activityQueues.get(key);
    if (!queue) {
      queue = new TaskQueue<ActivityTaskRef>((task) => {
        const activity = task.run.activities.get(task.scheduledEventId);
        return task.run.open && activity?.state === 'scheduled' && activity.attempt === task.attempt;
      });
      this.activityQueues.set(key, queue);
    }
    return queue;
  }

  allQueues(): Array<TaskQueue<unknown>> {
    return [...this.workflowQueues.values(), ...this.activityQueues.values()] as Array<TaskQueue<unknown>>;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Starting runs

  /** StartWorkflowExecution and friends: applies the id reuse and conflict policies. */
  startWorkflow(options: StartOptions, policies: { reuse: number; conflict: number }): { run: Run; started: boolean } {
    if (options.requestId) {
      const earlier = this.startRequests.get(`${options.namespace}/${options.requestId}`);
      if (earlier) return { run: earlier, started: true };
    }
    const current = this.currentRun(options.namespace, options.workflowId);
    if (current?.open) {
      if (policies.conflict === CONFLICT.UseExisting) return { run: current, started: false };
      if (policies.conflict === CONFLICT.TerminateExisting || policies.reuse === REUSE.TerminateIfRunning) {
        this.terminate(current, 'terminated by a new start with the same workflow id', options.identity);
      } else {
        throw new AlreadyStarted(options.workflowId, current.runId);
      }
    } else if (current) {
      const failedOnly = policies.reuse === REUSE.AllowDuplicateFailedOnly;
      const completedCleanly = current.status === Status.Completed || current.status === Status.ContinuedAsNew;
      if (policies.reuse === REUSE.RejectDuplicate || (failedOnly && completedCleanly)) {
        throw new AlreadyStarted(options.workflowId, current.runId);
      }
    }
    const run = this.createRun(options);
    if (options.requestId) this.startRequests.set(`${options.namespace}/${options.requestId}`, run);
    return { run, started: true };
  }

  private createRun(options: StartOptions): Run {
    const namespace = this.namespace(options.namespace);
    // Parsed first: an invalid cron string fails the start before anything is stored.
    const cron = options.cronSchedule ? parseCronSchedule(options.cronSchedule) : undefined;
    const runId = randomUUID();
    const parent = options.parent;
    const previous = options.continued?.from;
    const run = new Run(
      options.namespace,
      options.workflowId,
      runId,
      options.workflowType,
      options.taskQueue,
      this.clock.now(),
      {
        workflowTaskTimeoutMs: options.workflowTaskTimeoutMs ?? 10_000,
        ...(options.workflowRunTimeoutMs ? { workflowRunTimeoutMs: options.workflowRunTimeoutMs } : {}),
        ...(options.workflowExecutionTimeoutMs ? { workflowExecutionTimeoutMs: options.workflowExecutionTimeoutMs } : {}),
        ...(options.retryPolicy ? { retryPolicy: options.retryPolicy } : {}),
        ...(options.cronSchedule ? { cronSchedule: options.cronSchedule } : {}),
        firstExecutionRunId: previous?.startRequest.firstExecutionRunId ?? runId,
        ...(options.requestId ? { requestId: options.requestId } : {}),
      },
      previous?.parent ?? (parent ? { namespace: parent.run.namespace, workflowId: parent.run.workflowId, runId: parent.run.runId, initiatedEventId: parent.initiatedEventId } : undefined),
      previous?.root ?? (parent ? parent.run.root : { workflowId: options.workflowId, runId }),
      options.memo?.fields ? options.memo : undefined,
      options.searchAttributes?.indexedFields ? { ...options.searchAttributes.indexedFields } : undefined,
      () => this.clock.now(),
    );
    const runs = namespace.executions.get(options.workflowId) ?? [];
    runs.push(run);
    namespace.executions.set(options.workflowId, runs);
    namespace.runs.set(runId, run);

    const parentRef = run.parent;
    // As the server: a first run waits for the next cron time after now, each next run for the first cron time after
    // the previous run's execution time that is not before now.
    const cronFrom = options.continued?.initiator === INITIATOR_CRON ? (previous!.firstTaskAt ?? previous!.startTime) : run.startTime;
    const backoffMs = cron ? Math.max(cronBackoffMs(cron, cronFrom, run.startTime) ?? 0, 0) : 0;
    if (backoffMs > 0) run.firstTaskAt = run.startTime + backoffMs;
    run.commit('workflowExecutionStarted', {
      workflowType: options.workflowType,
      taskQueue: { name: options.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      input: options.input,
      header: options.header,
      workflowExecutionTimeout: options.workflowExecutionTimeoutMs ? duration(options.workflowExecutionTimeoutMs) : undefined,
      workflowRunTimeout: options.workflowRunTimeoutMs ? duration(options.workflowRunTimeoutMs) : undefined,
      workflowTaskTimeout: duration(run.startRequest.workflowTaskTimeoutMs),
      continuedExecutionRunId: previous?.runId ?? '',
      initiator: previous ? (options.continued?.initiator ?? INITIATOR_WORKFLOW) : 0,
      continuedFailure: options.continued?.failure,
      lastCompletionResult: options.continued?.lastCompletionResult,
      originalExecutionRunId: runId,
      identity: options.identity ?? '',
      firstExecutionRunId: run.startRequest.firstExecutionRunId,
      retryPolicy: options.retryPolicy,
      ...(options.cronSchedule ? { cronSchedule: options.cronSchedule, firstWorkflowTaskBackoff: duration(backoffMs) } : {}),
      attempt: 1,
      memo: options.memo,
      searchAttributes: options.searchAttributes,
      workflowId: options.workflowId,
      ...(parentRef
        ? {
            parentWorkflowNamespace: parentRef.namespace,
            parentWorkflowNamespaceId: this.namespace(parentRef.namespace).id,
            parentWorkflowExecution: { workflowId: parentRef.workflowId, runId: parentRef.runId },
            parentInitiatedEventId: parentRef.initiatedEventId,
          }
        : {}),
      rootWorkflowExecution: { workflowId: run.root.workflowId, runId: run.root.runId },
    });
    if (options.signal) {
      run.commit('workflowExecutionSignaled', {
        signalName: options.signal.name,
        input: options.signal.input,
        header: options.signal.header,
        identity: options.signal.identity ?? '',
      });
    }
    if (options.workflowRunTimeoutMs) {
      run.cancelRunTimeout = this.clock.after(options.workflowRunTimeoutMs, () => {
        if (run.open) this.close(run, Status.TimedOut, 'workflowExecutionTimedOut', { retryState: RETRY_STATE.Timeout, ...this.nextCronRun(run, {}) });
      });
    }
    this.log(`started ${options.workflowId} ${runId} (${options.workflowType.name})`);
    // No clock lock while a cron run waits: time skipping jumps to its first task like to a timer.
    if (run.firstTaskAt !== undefined) this.clock.schedule(run.firstTaskAt, () => this.scheduleWorkflowTask(run));
    else this.scheduleWorkflowTask(run);
    return run;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Workflow tasks

  /** `speculative`: for updates alone; its events stay out of history unless it writes something (run.ts). */
  scheduleWorkflowTask(run: Run, options: { speculative?: boolean } = {}): void {
    if (!run.open || run.wft.state !== 'none') return;
    // A cron run's signals and updates wait for its first workflow task's time, as on the server.
    if (run.firstTaskAt !== undefined && this.clock.now() < run.firstTaskAt) return;
    const wft = run.wft;
    const scheduled = {
      taskQueue: { name: run.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      startToCloseTimeout: duration(run.startRequest.workflowTaskTimeoutMs),
      attempt: wft.attempt,
    };
    const scheduledEventId = options.speculative ? run.speculate('workflowTaskScheduled', scheduled) : (run.commit('workflowTaskScheduled', scheduled).eventId as number);
    wft.state = 'scheduled';
    wft.scheduledEventId = scheduledEventId;
    wft.scheduledAt = this.clock.now();
    wft.unlock ??= this.clock.lock();
    // Queries that waited for the previous task ride in this one.
    for (const query of run.waitingQueries.splice(0)) wft.queries.set(query.id, query);
    const task: WorkflowTaskRef = { kind: 'workflow', run, scheduledEventId, attempt: wft.attempt };
    this.log(`wft scheduled ${run.workflowId} #${scheduledEventId} ${run.sticky ? `sticky ${run.sticky.queue}` : 'normal'}`);
    if (run.sticky) {
      const sticky = run.sticky;
      this.workflowQueue(run.namespace, sticky.queue).offer(task);
      // A sticky worker that does not take the task in time has gone away: give it to any worker.
      const timer = setTimeout(() => {
        if (run.wft.state !== 'scheduled' || run.wft.scheduledEventId !== scheduledEventId) return;
        this.workflowQueue(run.namespace, sticky.queue).remove((t) => t === task);
        run.sticky = undefined;
        this.workflowQueue(run.namespace, run.taskQueue).offer(task);
      }, sticky.scheduleToStartMs);
      wft.cancelStickyFallback = () => clearTimeout(timer);
    } else {
      this.workflowQueue(run.namespace, run.taskQueue).offer(task);
      if (options.speculative) wft.cancelScheduleToStart = this.clock.after(SPECULATIVE_SCHEDULE_TO_START_MS, () => this.timeOutSpeculativeTask(run, scheduledEventId));
    }
  }

  /** As the server: a speculative task no worker took in time is written, timed out (schedule-to-start), and replaced. */
  private timeOutSpeculativeTask(run: Run, scheduledEventId: number): void {
    if (!run.open || run.wft.state !== 'scheduled' || run.wft.scheduledEventId !== scheduledEventId || run.speculativeEvents.length === 0) return;
    run.commit('workflowTaskTimedOut', { scheduledEventId, startedEventId: 0, timeoutType: TIMEOUT.ScheduleToStart });
    this.retryWorkflowTask(run, false);
  }

  /** A poller takes a workflow task: write WorkflowTaskStarted and build the poll response. */
  startWorkflowTask(task: WorkflowTaskRef, identity: string, fromSticky: boolean): Msg {
    const run = task.run;
    this.log(`wft started ${run.workflowId} #${task.scheduledEventId} ${fromSticky ? 'sticky' : 'normal'}`);
    const wft = run.wft;
    wft.cancelStickyFallback?.();
    wft.cancelScheduleToStart?.();
    const started = { scheduledEventId: wft.scheduledEventId, identity, requestId: randomUUID(), historySizeBytes: run.history.length * 200 };
    const startedEventId = run.speculativeEvents.length > 0 ? run.speculate('workflowTaskStarted', started) : (run.commit('workflowTaskStarted', started).eventId as number);
    wft.state = 'started';
    wft.startedEventId = startedEventId;
    wft.startedAt = this.clock.now();
    wft.onSticky = fromSticky;
    wft.cancelTimeout = this.clock.after(run.startRequest.workflowTaskTimeoutMs, () => this.timeOutWorkflowTask(run, startedEventId));
    const events = [...(fromSticky ? run.history.filter((event) => (event.eventId as number) > run.lastCompletedStartedEventId) : run.history), ...run.speculativeEvents];
    const queries: Record<string, Msg> = {};
    for (const [id, query] of wft.queries) queries[id] = query.query;
    return {
      taskToken: encodeToken({ kind: 'workflow', namespace: run.namespace, runId: run.runId, id: wft.scheduledEventId, attempt: wft.attempt }),
      workflowExecution: { workflowId: run.workflowId, runId: run.runId },
      workflowType: run.workflowType,
      previousStartedEventId: run.lastCompletedStartedEventId,
      startedEventId,
      attempt: wft.attempt,
      history: { events },
      workflowExecutionTaskQueue: { name: run.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      scheduledTime: timestamp(wft.scheduledAt),
      startedTime: timestamp(wft.startedAt),
      queries,
      messages: run.updates.deliver(startedEventId),
    };
  }

  /** The run whose workflow task a token names, if the token is still the current task. */
  workflowTaskRun(namespace: string, runId: string, scheduledEventId: number, attempt: number): Run {
    const run = this.namespace(namespace).runs.get(runId);
    if (!run || !run.open || run.wft.state !== 'started' || run.wft.scheduledEventId !== scheduledEventId || run.wft.attempt !== attempt) {
      throw notFound('workflow task not found (stale or already completed)');
    }
    return run;
  }

  private endWorkflowTask(run: Run): void {
    const wft = run.wft;
    wft.cancelTimeout?.();
    wft.cancelStickyFallback?.();
    wft.cancelScheduleToStart?.();
    wft.state = 'none';
    wft.cancelTimeout = undefined;
    wft.cancelStickyFallback = undefined;
    wft.cancelScheduleToStart = undefined;
    const unlock = wft.unlock;
    wft.unlock = undefined;
    // Released after the caller has scheduled what follows, so time cannot skip in between.
    if (unlock) setImmediate(unlock);
  }

  /** Returns the RespondWorkflowTaskCompleted response: `reset_history_event_id` when a speculative task was discarded. */
  completeWorkflowTask(run: Run, request: Msg): Msg {
    const wft = run.wft;
    this.log(`wft completed ${run.workflowId} #${wft.scheduledEventId} commands ${(request.commands ?? []).map((c: Msg) => c.commandType).join(',')}`);
    const commands: Msg[] = request.commands ?? [];
    for (const [id, result] of Object.entries((request.queryResults ?? {}) as Record<string, Msg>)) {
      const query = wft.queries.get(id);
      if (!query) continue;
      wft.queries.delete(id);
      answerQuery(query, result.resultType === QUERY_RESULT_ANSWERED ? { answer: result.answer } : { error: result.errorMessage || 'query failed' });
    }
    const closes = commands.some((command) =>
      ['completeWorkflowExecutionCommandAttributes', 'failWorkflowExecutionCommandAttributes', 'cancelWorkflowExecutionCommandAttributes', 'continueAsNewWorkflowExecutionCommandAttributes'].some((name) => command[name]),
    );
    if (closes && (run.hasBuffered || run.updates.hasAdmitted)) {
      // New events (a signal) or updates arrived while the worker decided to close: it must see them first. As the real
      // server does, the completion itself is refused, so the worker drops its cached state and replays.
      this.failWorkflowTask(run, WFT_FAILED_CAUSE_UNHANDLED_COMMAND, undefined, request.identity, false);
      throw invalidArgument('UnhandledCommand');
    }

    // A speculative task that only rejected updates leaves history as it was (the server discards it).
    const discarded = run.speculativeEvents.length > 0 && discardsSpeculativeTask(request, run.nextEventId - run.lastCompletedStartedEventId - 2);
    if (discarded) run.speculativeEvents = [];
    const completedEventId = discarded
      ? 0
      : (run.commit('workflowTaskCompleted', {
          scheduledEventId: wft.scheduledEventId,
          startedEventId: wft.startedEventId,
          identity: request.identity ?? '',
          sdkMetadata: request.sdkMetadata,
          meteringMetadata: request.meteringMetadata,
          workerVersion: request.workerVersionStamp,
          binaryChecksum: request.binaryChecksum ?? '',
        }).eventId as number);
    if (!discarded) run.lastCompletedStartedEventId = wft.startedEventId;
    wft.attempt = 1;
    const pendingQueries = [...wft.queries.values()];
    wft.queries.clear();
    const stickyQueue = request.stickyAttributes?.workerTaskQueue?.name as string | undefined;
    run.sticky =
      stickyQueue && !this.deadStickyQueues.has(stickyQueue)
        ? { queue: stickyQueue, scheduleToStartMs: durationMs(request.stickyAttributes.scheduleToStartTimeout) ?? 10_000 }
        : undefined;
    this.endWorkflowTask(run);

    let newTask = Boolean(request.forceCreateNewWorkflowTask);
    const afterCommit: Array<() => void> = [];
    // Protocol messages (update acceptances, responses, rejections): the ones a ProtocolMessage command names are
    // applied at that command's place in history, the rest (rejections) after all commands.
    const messages = new Map<string, Msg>(((request.messages ?? []) as Msg[]).map((message) => [message.id as string, message]));
    const named = new Set(commands.map((command) => command.protocolMessageCommandAttributes?.messageId as string | undefined));
    // Rejections first: they write nothing, and must not outlive a run this task closes.
    for (const [id, message] of messages) {
      if (named.has(id)) continue;
      messages.delete(id);
      this.applyProtocolMessage(run, message, completedEventId);
    }
    for (const command of commands) {
      if (!run.open) break;
      const messageId = command.protocolMessageCommandAttributes?.messageId as string | undefined;
      if (messageId !== undefined) {
        const message = messages.get(messageId);
        messages.delete(messageId);
        if (message) this.applyProtocolMessage(run, message, completedEventId);
        continue;
      }
      newTask = this.applyCommand(run, command, completedEventId, afterCommit) || newTask;
    }
    if (run.open) {
      // Updates this task carried but did not answer go out again.
      run.updates.resend();
      const flushed = run.flush() > 0;
      // Only updates to deliver: the next task is speculative, as the server makes it for a worker that takes it.
      const speculative = !newTask && !flushed && run.updates.hasAdmitted && Boolean(request.returnNewWorkflowTask);
      if (run.updates.hasAdmitted || flushed) newTask = true;
      for (const query of pendingQueries) run.waitingQueries.push(query);
      if (newTask) this.scheduleWorkflowTask(run, { speculative });
      this.dispatchWaitingQueries(run);
    } else {
      for (const query of pendingQueries) this.dispatchLegacyQuery(run, query);
    }
    for (const action of afterCommit) action();
    // The worker rolls its state back to the last task that counted.
    return discarded ? { resetHistoryEventId: run.lastCompletedStartedEventId } : {};
  }

  failWorkflowTask(run: Run, cause: number, failure: Msg | undefined, identity: string | undefined, countsAsAttempt = true): void {
    const wft = run.wft;
    this.log(`wft failed ${run.workflowId} #${wft.scheduledEventId} cause ${cause}: ${failure?.message ?? ''}`);
    run.commit('workflowTaskFailed', {
      scheduledEventId: wft.scheduledEventId,
      startedEventId: wft.startedEventId,
      cause,
      failure,
      identity: identity ?? '',
    });
    this.retryWorkflowTask(run, countsAsAttempt);
  }

  private timeOutWorkflowTask(run: Run, startedEventId: number): void {
    if (!run.open || run.wft.state !== 'started' || run.wft.startedEventId !== startedEventId) return;
    run.commit('workflowTaskTimedOut', { scheduledEventId: run.wft.scheduledEventId, startedEventId, timeoutType: TIMEOUT.StartToClose });
    this.retryWorkflowTask(run, true);
  }

  private retryWorkflowTask(run: Run, countsAsAttempt: boolean): void {
    run.updates.resend();
    const queries = [...run.wft.queries.values()];
    run.wft.queries.clear();
    run.waitingQueries.push(...queries);
    if (countsAsAttempt) run.wft.attempt++;
    run.sticky = undefined;
    // Keep the task's lock while rescheduling: the workflow still has work outstanding.
    const unlock = run.wft.unlock;
    run.wft.unlock = undefined;
    this.endWorkflowTask(run);
    run.wft.unlock = unlock;
    run.flush();
    this.scheduleWorkflowTask(run);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Commands

  /** Applies one command; returns true if it wrote an event that the workflow must see in a new task. */
  private applyCommand(run: Run, command: Msg, completedEventId: number, afterCommit: Array<() => void>): boolean {
    const at = (name: string) => command[`${name}CommandAttributes`] as Msg | undefined;
    let attributes: Msg | undefined;
    if ((attributes = at('scheduleActivityTask'))) return this.scheduleActivity(run, attributes, completedEventId), false;
    if ((attributes = at('requestCancelActivityTask'))) return this.requestCancelActivity(run, num(attributes.scheduledEventId), completedEventId);
    if ((attributes = at('startTimer'))) return this.startTimer(run, attributes, completedEventId), false;
    if ((attributes = at('cancelTimer'))) return this.cancelTimer(run, attributes.timerId as string, completedEventId), false;
    if ((attributes = at('completeWorkflowExecution'))) {
      this.close(run, Status.Completed, 'workflowExecutionCompleted', {
        result: attributes.result,
        workflowTaskCompletedEventId: completedEventId,
        ...this.nextCronRun(run, { lastCompletionResult: attributes.result }),
      });
      return false;
    }
    if ((attributes = at('failWorkflowExecution'))) {
      this.close(run, Status.Failed, 'workflowExecutionFailed', {
        failure: attributes.failure,
        retryState: RETRY_STATE.RetryPolicyNotSet,
        workflowTaskCompletedEventId: completedEventId,
        ...this.nextCronRun(run, { failure: attributes.failure }),
      });
      return false;
    }
    if ((attributes = at('cancelWorkflowExecution'))) {
      this.close(run, Status.Canceled, 'workflowExecutionCanceled', { details: attributes.details, workflowTaskCompletedEventId: completedEventId });
      return false;
    }
    if ((attributes = at('continueAsNewWorkflowExecution'))) return this.continueAsNew(run, attributes, completedEventId), false;
    if ((attributes = at('recordMarker'))) {
      run.commit('markerRecorded', { ...attributes, workflowTaskCompletedEventId: completedEventId });
      return false;
    }
    if ((attributes = at('upsertWorkflowSearchAttributes'))) {
      const fields = (attributes.searchAttributes?.indexedFields ?? {}) as Record<string, Msg>;
      for (const [name, payload] of Object.entries(fields)) {
        if (payload?.data && Buffer.from(payload.data).length > 0 && Buffer.from(payload.data).toString() !== 'null') run.searchAttributes[name] = payload;
        else delete run.searchAttributes[name];
      }
      run.commit('upsertWorkflowSearchAttributes', { searchAttributes: attributes.searchAttributes, workflowTaskCompletedEventId: completedEventId });
      return false;
    }
    if ((attributes = at('modifyWorkflowProperties'))) {
      const fields = (attributes.upsertedMemo?.fields ?? {}) as Record<string, Msg>;
      run.memo = { fields: { ...(run.memo.fields ?? {}), ...fields } };
      run.commit('workflowPropertiesModified', { upsertedMemo: attributes.upsertedMemo, workflowTaskCompletedEventId: completedEventId });
      return false;
    }
    if ((attributes = at('startChildWorkflowExecution'))) return this.initiateChild(run, attributes, completedEventId, afterCommit), false;
    if ((attributes = at('signalExternalWorkflowExecution'))) return this.initiateExternalSignal(run, attributes, completedEventId, afterCommit), false;
    if ((attributes = at('requestCancelExternalWorkflowExecution'))) return this.initiateExternalCancel(run, attributes, completedEventId, afterCommit), false;
    throw invalidArgument(`unsupported command type ${command.commandType}`);
  }

  /**
   * A cron run that completes, fails or times out: the next run starts now and waits for the next matching time
   * (its first task's back-off); the close event names it. The last completion result carries over.
   */
  private nextCronRun(run: Run, carried: { lastCompletionResult?: Msg; failure?: Msg }): { newExecutionRunId?: string } {
    const cronSchedule = run.startRequest.cronSchedule;
    if (!cronSchedule) return {};
    const started = run.history[0]?.workflowExecutionStartedEventAttributes as Msg;
    const next = this.createRun({
      namespace: run.namespace,
      workflowId: run.workflowId,
      workflowType: run.workflowType,
      taskQueue: run.taskQueue,
      input: started?.input,
      header: started?.header,
      memo: run.memo,
      searchAttributes: { indexedFields: run.searchAttributes },
      workflowTaskTimeoutMs: run.startRequest.workflowTaskTimeoutMs,
      ...(run.startRequest.workflowRunTimeoutMs ? { workflowRunTimeoutMs: run.startRequest.workflowRunTimeoutMs } : {}),
      ...(run.startRequest.retryPolicy ? { retryPolicy: run.startRequest.retryPolicy } : {}),
      cronSchedule,
      continued: {
        from: run,
        initiator: INITIATOR_CRON,
        lastCompletionResult: carried.lastCompletionResult ?? (started?.lastCompletionResult as Msg | undefined),
        ...(carried.failure ? { failure: carried.failure } : {}),
      },
    });
    run.newExecutionRunId = next.runId;
    return { newExecutionRunId: next.runId };
  }

  private continueAsNew(run: Run, attributes: Msg, completedEventId: number): void {
    const newRun = this.createRun({
      namespace: run.namespace,
      workflowId: run.workflowId,
      workflowType: attributes.workflowType?.name ? attributes.workflowType : run.workflowType,
      taskQueue: attributes.taskQueue?.name || run.taskQueue,
      input: attributes.input,
      header: attributes.header,
      memo: attributes.memo?.fields ? attributes.memo : run.memo,
      searchAttributes: attributes.searchAttributes?.indexedFields ? attributes.searchAttributes : { indexedFields: run.searchAttributes },
      workflowTaskTimeoutMs: durationMs(attributes.workflowTaskTimeout) ?? run.startRequest.workflowTaskTimeoutMs,
      ...(durationMs(attributes.workflowRunTimeout) ?? run.startRequest.workflowRunTimeoutMs ? { workflowRunTimeoutMs: durationMs(attributes.workflowRunTimeout) ?? run.startRequest.workflowRunTimeoutMs } : {}),
      retryPolicy: attributes.retryPolicy ?? run.startRequest.retryPolicy,
      continued: { from: run, lastCompletionResult: attributes.lastCompletionResult, failure: attributes.failure },
    });
    run.newExecutionRunId = newRun.runId;
    this.close(run, Status.ContinuedAsNew, 'workflowExecutionContinuedAsNew', {
      newExecutionRunId: newRun.runId,
      workflowType: newRun.workflowType,
      taskQueue: { name: newRun.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      input: attributes.input,
      header: attributes.header,
      workflowRunTimeout: attributes.workflowRunTimeout,
      workflowTaskTimeout: duration(newRun.startRequest.workflowTaskTimeoutMs),
      workflowTaskCompletedEventId: completedEventId,
      initiator: INITIATOR_WORKFLOW,
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Timers

  private startTimer(run: Run, attributes: Msg, completedEventId: number): void {
    const timerId = attributes.timerId as string;
    const fireInMs = durationMs(attributes.startToFireTimeout) ?? 0;
    const startedEventId = run.commit('timerStarted', { timerId, startToFireTimeout: attributes.startToFireTimeout, workflowTaskCompletedEventId: completedEventId }).eventId as number;
    const cancel = this.clock.after(fireInMs, () => {
      if (!run.open || !run.timers.has(timerId)) return;
      run.timers.delete(timerId);
      run.add('timerFired', { timerId, startedEventId });
      this.scheduleWorkflowTask(run);
    });
    run.timers.set(timerId, { startedEventId, cancel });
  }

  private cancelTimer(run: Run, timerId: string, completedEventId: number): void {
    const timer = run.timers.get(timerId);
    let startedEventId = timer?.startedEventId;
    if (timer) {
      timer.cancel();
      run.timers.delete(timerId);
    } else {
      // Fired while the task that cancels it was running: the fire event is still buffered; drop it.
      run.dropBuffered((name, attributes) => {
        if (name === 'timerFired' && attributes.timerId === timerId) {
          startedEventId = attributes.startedEventId as number;
          return true;
        }
        return false;
      });
    }
    run.commit('timerCanceled', { timerId, startedEventId: startedEventId ?? 0, workflowTaskCompletedEventId: completedEventId, identity: '' });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Activities

  private scheduleActivity(run: Run, attributes: Msg, completedEventId: number): void {
    const scheduleToCloseMs = durationMs(attributes.scheduleToCloseTimeout);
    const startToCloseMs = durationMs(attributes.startToCloseTimeout) ?? scheduleToCloseMs;
    const givenScheduleToStartMs = durationMs(attributes.scheduleToStartTimeout) ?? scheduleToCloseMs;
    // As the server normalizes it: never beyond schedule-to-close.
    const scheduleToStartMs = givenScheduleToStartMs !== undefined && scheduleToCloseMs !== undefined ? Math.min(givenScheduleToStartMs, scheduleToCloseMs) : givenScheduleToStartMs;
    const heartbeatMs = durationMs(attributes.heartbeatTimeout);
    const given = (attributes.retryPolicy ?? {}) as Msg;
    const initialMs = durationMs(given.initialInterval) ?? 1000;
    const retryPolicy = {
      initialInterval: duration(initialMs),
      backoffCoefficient: given.backoffCoefficient || 2,
      maximumInterval: duration(durationMs(given.maximumInterval) ?? initialMs * 100),
      maximumAttempts: given.maximumAttempts ?? 0,
      nonRetryableErrorTypes: given.nonRetryableErrorTypes ?? [],
    };
    const taskQueue = (attributes.taskQueue?.name as string) || run.taskQueue;
    const scheduledEventId = run.commit('activityTaskScheduled', {
      activityId: attributes.activityId,
      activityType: attributes.activityType,
      taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      header: attributes.header,
      input: attributes.input,
      scheduleToCloseTimeout: scheduleToCloseMs ? duration(scheduleToCloseMs) : undefined,
      scheduleToStartTimeout: scheduleToStartMs ? duration(scheduleToStartMs) : undefined,
      startToCloseTimeout: startToCloseMs ? duration(startToCloseMs) : undefined,
      heartbeatTimeout: heartbeatMs ? duration(heartbeatMs) : undefined,
      workflowTaskCompletedEventId: completedEventId,
      retryPolicy,
      priority: attributes.priority,
    }).eventId as number;
    const now = this.clock.now();
    const activity: ActivityState = {
      scheduledEventId,
      activityId: attributes.activityId as string,
      activityType: attributes.activityType,
      taskQueue,
      input: attributes.input,
      header: attributes.header,
      ...(scheduleToCloseMs ? { scheduleToCloseMs } : {}),
      ...(scheduleToStartMs ? { scheduleToStartMs } : {}),
      ...(startToCloseMs ? { startToCloseMs } : {}),
      ...(heartbeatMs ? { heartbeatMs } : {}),
      retryPolicy,
      attempt: 1,
      firstScheduledAt: now,
      attemptScheduledAt: now,
      cancelRequested: false,
      state: 'scheduled',
      cancelOverall: [],
      cancelAttempt: [],
      unlock: this.clock.lock(),
    };
    run.activities.set(scheduledEventId, activity);
    if (scheduleToCloseMs) {
      activity.cancelOverall.push(this.clock.after(scheduleToCloseMs, () => this.timeOutActivity(run, activity, TIMEOUT.ScheduleToClose, activity.attempt)));
    }
    this.dispatchActivity(run, activity);
  }

  /** An activity a reset run kept pending: dispatched again, its schedule-to-close time counting from now. */
  resumeActivity(run: Run, activity: ActivityState): void {
    run.activities.set(activity.scheduledEventId, activity);
    if (activity.scheduleToCloseMs) {
      activity.cancelOverall.push(this.clock.after(activity.scheduleToCloseMs, () => this.timeOutActivity(run, activity, TIMEOUT.ScheduleToClose, activity.attempt)));
    }
    this.dispatchActivity(run, activity);
  }

  private dispatchActivity(run: Run, activity: ActivityState): void {
    activity.state = 'scheduled';
    if (activity.scheduleToStartMs && activity.scheduleToStartMs !== activity.scheduleToCloseMs) {
      const attempt = activity.attempt;
      activity.cancelAttempt.push(this.clock.after(activity.scheduleToStartMs, () => this.timeOutActivity(run, activity, TIMEOUT.ScheduleToStart, attempt)));
    }
    this.activityQueue(run.namespace, activity.taskQueue).offer({ run, scheduledEventId: activity.scheduledEventId, attempt: activity.attempt });
  }

  startActivityTask(task: ActivityTaskRef, identity: string): Msg {
    const run = task.run;
    const activity = run.activities.get(task.scheduledEventId)!;
    for (const cancel of activity.cancelAttempt.splice(0)) cancel();
    activity.state = 'started';
    activity.startedAt = this.clock.now();
    activity.identity = identity;
    const attempt = activity.attempt;
    if (activity.startToCloseMs) {
      activity.cancelAttempt.push(this.clock.after(activity.startToCloseMs, () => this.timeOutActivity(run, activity, TIMEOUT.StartToClose, attempt)));
    }
    this.armHeartbeatTimeout(run, activity);
    return {
      taskToken: encodeToken({ kind: 'activity', namespace: run.namespace, runId: run.runId, id: activity.scheduledEventId, attempt }),
      workflowNamespace: run.namespace,
      workflowType: run.workflowType,
      workflowExecution: { workflowId: run.workflowId, runId: run.runId },
      activityType: activity.activityType,
      activityId: activity.activityId,
      header: activity.header,
      input: activity.input,
      heartbeatDetails: activity.heartbeatDetails,
      scheduledTime: timestamp(activity.firstScheduledAt),
      currentAttemptScheduledTime: timestamp(activity.attemptScheduledAt),
      startedTime: timestamp(activity.startedAt),
      attempt,
      scheduleToCloseTimeout: duration(activity.scheduleToCloseMs ?? 0),
      startToCloseTimeout: duration(activity.startToCloseMs ?? 0),
      heartbeatTimeout: duration(activity.heartbeatMs ?? 0),
      retryPolicy: activity.retryPolicy,
    };
  }

  private armHeartbeatTimeout(run: Run, activity: ActivityState): void {
    if (!activity.heartbeatMs) return;
    const attempt = activity.attempt;
    const cancel = this.clock.after(activity.heartbeatMs, () => this.timeOutActivity(run, activity, TIMEOUT.Heartbeat, attempt));
    (activity as ActivityState & { cancelHeartbeat?: () => void }).cancelHeartbeat = cancel;
    activity.cancelAttempt.push(cancel);
  }

  /** The started activity a token or id names. */
  activityFor(run: Run, scheduledEventId: number, attempt?: number): ActivityState {
    const activity = run.activities.get(scheduledEventId);
    if (!run.open || !activity || activity.state !== 'started' || (attempt !== undefined && activity.attempt !== attempt)) {
      throw notFound('activity task not found');
    }
    return activity;
  }

  activityById(run: Run, activityId: string): ActivityState {
    for (const activity of run.activities.values()) if (activity.activityId === activityId) return this.activityFor(run, activity.scheduledEventId);
    throw notFound(`activity ${activityId} not found`);
  }

  heartbeat(run: Run, activity: ActivityState, details: Msg | undefined): { cancelRequested: boolean } {
    if (details) activity.heartbeatDetails = details;
    const withHeartbeat = activity as ActivityState & { cancelHeartbeat?: () => void };
    if (withHeartbeat.cancelHeartbeat) {
      withHeartbeat.cancelHeartbeat();
      activity.cancelAttempt = activity.cancelAttempt.filter((cancel) => cancel !== withHeartbeat.cancelHeartbeat);
    }
    this.armHeartbeatTimeout(run, activity);
    return { cancelRequested: activity.cancelRequested };
  }

  completeActivity(run: Run, activity: ActivityState, result: Msg | undefined, identity: string): void {
    this.writeActivityOutcome(run, activity, 'activityTaskCompleted', (startedEventId) => ({ result, scheduledEventId: activity.scheduledEventId, startedEventId, identity }));
    this.finishActivity(run, activity);
  }

  failActivity(run: Run, activity: ActivityState, failure: Msg, identity: string, lastHeartbeatDetails?: Msg): void {
    if (lastHeartbeatDetails) activity.heartbeatDetails = lastHeartbeatDetails;
    const retry = this.retryDecision(activity, failure);
    if (retry.delayMs !== undefined) return this.retryActivity(run, activity, failure, retry.delayMs);
    this.writeActivityOutcome(
      run,
      activity,
      'activityTaskFailed',
      (startedEventId) => ({ failure, scheduledEventId: activity.scheduledEventId, startedEventId, identity, retryState: retry.retryState }),
      failure,
    );
    this.finishActivity(run, activity);
  }

  cancelActivityReported(run: Run, activity: ActivityState, details: Msg | undefined, identity: string): void {
    this.writeActivityOutcome(run, activity, 'activityTaskCanceled', (startedEventId) => ({
      details,
      latestCancelRequestedEventId: activity.cancelRequestedEventId ?? 0,
      scheduledEventId: activity.scheduledEventId,
      startedEventId,
      identity,
    }));
    this.finishActivity(run, activity);
  }

  private timeOutActivity(run: Run, activity: ActivityState, timeoutType: number, attempt: number): void {
    if (!run.open || run.activities.get(activity.scheduledEventId) !== activity || activity.attempt !== attempt) return;
    // A schedule-to-start deadline at or before the schedule-to-close one wins (the server orders an activity's
    // expired timers by time, schedule-to-start first): an attempt nobody picked up times out as SCHEDULE_TO_START.
    if (
      timeoutType === TIMEOUT.ScheduleToClose &&
      activity.state === 'scheduled' &&
      activity.scheduleToStartMs !== undefined &&
      activity.attemptScheduledAt + activity.scheduleToStartMs <= activity.firstScheduledAt + (activity.scheduleToCloseMs ?? 0)
    ) {
      timeoutType = TIMEOUT.ScheduleToStart;
    }
    const names: Record<number, string> = { 1: 'StartToClose', 2: 'ScheduleToStart', 3: 'ScheduleToClose', 4: 'Heartbeat' };
    const failure = {
      message: `activity ${names[timeoutType]} timeout`,
      timeoutFailureInfo: { timeoutType, lastHeartbeatDetails: activity.heartbeatDetails },
    };
    if (timeoutType === TIMEOUT.StartToClose || timeoutType === TIMEOUT.Heartbeat) {
      const retry = this.retryDecision(activity, failure);
      if (retry.delayMs !== undefined) return this.retryActivity(run, activity, failure, retry.delayMs);
      this.writeTimedOut(run, activity, failure, retry.retryState);
      return;
    }
    this.writeTimedOut(run, activity, failure, timeoutType === TIMEOUT.ScheduleToClose ? RETRY_STATE.Timeout : RETRY_STATE.NonRetryable);
  }

  private writeTimedOut(run: Run, activity: ActivityState, failure: Msg, retryState: number): void {
    const cause = activity.lastFailure && activity.state !== 'started' ? activity.lastFailure : undefined;
    const timedOut = (startedEventId: number) => ({
      failure: cause ? { ...failure, cause } : failure,
      scheduledEventId: activity.scheduledEventId,
      startedEventId,
      retryState,
    });
    if (activity.state === 'started') this.writeActivityOutcome(run, activity, 'activityTaskTimedOut', timedOut);
    else run.add('activityTaskTimedOut', timedOut(0));
    this.finishActivity(run, activity);
  }

  private retryDecision(activity: ActivityState, failure: Msg): { delayMs?: number; retryState: number } {
    const info = failure.applicationFailureInfo as Msg | undefined;
    if (activity.cancelRequested) return { retryState: RETRY_STATE.CancelRequested };
    if (info?.nonRetryable || (info?.type && (activity.retryPolicy.nonRetryableErrorTypes as string[]).includes(info.type as string))) {
      return { retryState: RETRY_STATE.NonRetryable };
    }
    const maximumAttempts = num(activity.retryPolicy.maximumAttempts);
    if (maximumAttempts > 0 && activity.attempt >= maximumAttempts) return { retryState: RETRY_STATE.MaximumAttempts };
    const initial = durationMs(activity.retryPolicy.initialInterval) ?? 1000;
    const maximum = durationMs(activity.retryPolicy.maximumInterval) ?? initial * 100;
    const backoff = Math.min(initial * Math.pow(Number(activity.retryPolicy.backoffCoefficient) || 2, activity.attempt - 1), maximum);
    const delayMs = durationMs(info?.nextRetryDelay) ?? backoff;
    if (activity.scheduleToCloseMs && this.clock.now() + delayMs >= activity.firstScheduledAt + activity.scheduleToCloseMs) {
      return { retryState: RETRY_STATE.Timeout };
    }
    return { delayMs, retryState: RETRY_STATE.InProgress };
  }

  private retryActivity(run: Run, activity: ActivityState, failure: Msg, delayMs: number): void {
    for (const cancel of activity.cancelAttempt.splice(0)) cancel();
    activity.lastFailure = failure;
    activity.state = 'backoff';
    activity.cancelAttempt.push(
      this.clock.after(delayMs, () => {
        if (!run.open || run.activities.get(activity.scheduledEventId) !== activity) return;
        activity.cancelAttempt = [];
        activity.attempt++;
        activity.attemptScheduledAt = this.clock.now();
        this.dispatchActivity(run, activity);
      }),
    );
  }

  /** ActivityTaskStarted is written lazily, just before the activity's final event (retries leave no trace). */
  private writeActivityOutcome(run: Run, activity: ActivityState, name: string, attributes: (startedEventId: number) => Msg, lastFailure?: Msg): void {
    run.addPair(
      'activityTaskStarted',
      {
        scheduledEventId: activity.scheduledEventId,
        identity: activity.identity ?? '',
        requestId: randomUUID(),
        attempt: activity.attempt,
        lastFailure: lastFailure ?? activity.lastFailure,
      },
      name,
      attributes,
    );
  }

  private finishActivity(run: Run, activity: ActivityState): void {
    for (const cancel of [...activity.cancelOverall.splice(0), ...activity.cancelAttempt.splice(0)]) cancel();
    run.activities.delete(activity.scheduledEventId);
    this.scheduleWorkflowTask(run);
    activity.unlock();
  }

  private requestCancelActivity(run: Run, scheduledEventId: number, completedEventId: number): boolean {
    const activity = run.activities.get(scheduledEventId);
    if (!activity) return false;
    const requestedEventId = run.commit('activityTaskCancelRequested', { scheduledEventId, workflowTaskCompletedEventId: completedEventId }).eventId as number;
    activity.cancelRequested = true;
    activity.cancelRequestedEventId = requestedEventId;
    if (activity.state !== 'started') {
      run.commit('activityTaskCanceled', { latestCancelRequestedEventId: requestedEventId, scheduledEventId, startedEventId: 0, identity: '' });
      for (const cancel of [...activity.cancelOverall.splice(0), ...activity.cancelAttempt.splice(0)]) cancel();
      run.activities.delete(scheduledEventId);
      activity.unlock();
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Children and external workflows

  private initiateChild(run: Run, attributes: Msg, completedEventId: number, afterCommit: Array<() => void>): void {
    const namespace = (attributes.namespace as string) || run.namespace;
    const initiatedEventId = run.commit('startChildWorkflowExecutionInitiated', {
      ...attributes,
      namespace,
      workflowTaskCompletedEventId: completedEventId,
    }).eventId as number;
    const child: ChildState = {
      initiatedEventId,
      namespace,
      workflowId: attributes.workflowId as string,
      workflowType: attributes.workflowType,
      parentClosePolicy: (attributes.parentClosePolicy as number) || PARENT_CLOSE.Terminate,
    };
    run.children.set(initiatedEventId, child);
    const unlock = this.clock.lock();
    afterCommit.push(() => {
      try {
        if (!run.open) return;
        let childRun: Run;
        try {
          childRun = this.startWorkflow(
            {
              namespace,
              workflowId: child.workflowId,
              workflowType: attributes.workflowType,
              taskQueue: (attributes.taskQueue?.name as string) || run.taskQueue,
              input: attributes.input,
              header: attributes.header,
              memo: attributes.memo,
              searchAttributes: attributes.searchAttributes,
              workflowTaskTimeoutMs: durationMs(attributes.workflowTaskTimeout) ?? 10_000,
              ...(durationMs(attributes.workflowRunTimeout) ? { workflowRunTimeoutMs: durationMs(attributes.workflowRunTimeout)! } : {}),
              retryPolicy: attributes.retryPolicy,
              parent: { run, initiatedEventId },
            },
            { reuse: (attributes.workflowIdReusePolicy as number) || REUSE.AllowDuplicate, conflict: CONFLICT.Fail },
          ).run;
        } catch (error) {
          if (!(error instanceof AlreadyStarted)) throw error;
          run.children.delete(initiatedEventId);
          run.add('startChildWorkflowExecutionFailed', {
            namespace,
            workflowId: child.workflowId,
            workflowType: child.workflowType,
            cause: 1,
            control: attributes.control ?? '',
            initiatedEventId,
            workflowTaskCompletedEventId: completedEventId,
          });
          this.scheduleWorkflowTask(run);
          return;
        }
        child.runId = childRun.runId;
        child.startedEventId = run.add('childWorkflowExecutionStarted', {
          namespace,
          initiatedEventId,
          workflowExecution: { workflowId: childRun.workflowId, runId: childRun.runId },
          workflowType: childRun.workflowType,
          header: attributes.header,
        });
        this.scheduleWorkflowTask(run);
      } finally {
        setImmediate(unlock);
      }
    });
  }

  /** The started event id of a child, looked up in history (it may have been buffered when the child started). */
  private childStartedEventId(run: Run, child: ChildState): number {
    if (child.startedEventId) return child.startedEventId;
    const event = run.history.find((e) => e.childWorkflowExecutionStartedEventAttributes?.initiatedEventId === child.initiatedEventId);
    child.startedEventId = (event?.eventId as number | undefined) ?? 0;
    return child.startedEventId;
  }

  private initiateExternalSignal(run: Run, attributes: Msg, completedEventId: number, afterCommit: Array<() => void>): void {
    const namespace = (attributes.namespace as string) || run.namespace;
    const initiatedEventId = run.commit('signalExternalWorkflowExecutionInitiated', {
      workflowTaskCompletedEventId: completedEventId,
      namespace,
      workflowExecution: attributes.execution,
      signalName: attributes.signalName,
      input: attributes.input,
      control: attributes.control ?? '',
      childWorkflowOnly: attributes.childWorkflowOnly,
      header: attributes.header,
    }).eventId as number;
    const execution = attributes.execution as Msg;
    this.reachExternal(run, namespace, execution, afterCommit, (target) => {
      target.add('workflowExecutionSignaled', {
        signalName: attributes.signalName,
        input: attributes.input,
        header: attributes.header,
        identity: '',
        externalWorkflowExecution: { workflowId: run.workflowId, runId: run.runId },
      });
      this.scheduleWorkflowTask(target);
      return ['externalWorkflowExecutionSignaled', { initiatedEventId, namespace, workflowExecution: { workflowId: target.workflowId, runId: execution.runId ?? '' }, control: attributes.control ?? '' }];
    }, ['signalExternalWorkflowExecutionFailed', { cause: 1, workflowTaskCompletedEventId: completedEventId, namespace, workflowExecution: execution, initiatedEventId, control: attributes.control ?? '' }]);
  }

  private initiateExternalCancel(run: Run, attributes: Msg, completedEventId: number, afterCommit: Array<() => void>): void {
    const namespace = (attributes.namespace as string) || run.namespace;
    const execution = { workflowId: attributes.workflowId as string, runId: (attributes.runId as string) ?? '' };
    const initiatedEventId = run.commit('requestCancelExternalWorkflowExecutionInitiated', {
      workflowTaskCompletedEventId: completedEventId,
      namespace,
      workflowExecution: execution,
      control: attributes.control ?? '',
      childWorkflowOnly: attributes.childWorkflowOnly,
      reason: attributes.reason ?? '',
    }).eventId as number;
    this.reachExternal(run, namespace, execution, afterCommit, (target) => {
      this.requestCancel(target, attributes.reason as string, '', { initiatedEventId, execution: { workflowId: run.workflowId, runId: run.runId } });
      return ['externalWorkflowExecutionCancelRequested', { initiatedEventId, namespace, workflowExecution: { workflowId: target.workflowId, runId: target.runId } }];
    }, ['requestCancelExternalWorkflowExecutionFailed', { cause: 1, workflowTaskCompletedEventId: completedEventId, namespace, workflowExecution: execution, initiatedEventId, control: attributes.control ?? '' }]);
  }

  /**
   * Acts on another workflow once this completion is committed (a separate step, as on the server), then records
   * in the source run what happened: `act`'s event when the target is open, `notFound` otherwise.
   */
  private reachExternal(
    run: Run,
    namespace: string,
    execution: Msg,
    afterCommit: Array<() => void>,
    act: (target: Run) => [string, Msg],
    notFound: [string, Msg],
  ): void {
    const unlock = this.clock.lock();
    afterCommit.push(() => {
      try {
        if (!run.open) return;
        let target: Run | undefined;
        try {
          target = this.findOpenRun(namespace, execution);
        } catch {
          target = undefined;
        }
        const [name, attributes] = target ? act(target) : notFound;
        run.add(name, attributes);
        this.scheduleWorkflowTask(run);
      } finally {
        setImmediate(unlock);
      }
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Signals, cancellation, termination, closing

  signal(run: Run, request: Msg): void {
    if (request.requestId) {
      if (run.signalRequestIds.has(request.requestId as string)) return;
      run.signalRequestIds.add(request.requestId as string);
    }
    run.add('workflowExecutionSignaled', {
      signalName: request.signalName,
      input: request.input,
      identity: request.identity ?? '',
      header: request.header,
    });
    this.scheduleWorkflowTask(run);
  }

  requestCancel(run: Run, cause: string | undefined, identity: string, external?: { initiatedEventId: number; execution: Msg }): void {
    run.add('workflowExecutionCancelRequested', {
      cause: cause ?? '',
      identity,
      ...(external ? { externalInitiatedEventId: external.initiatedEventId, externalWorkflowExecution: external.execution } : {}),
    });
    this.scheduleWorkflowTask(run);
  }

  terminate(run: Run, reason: string | undefined, identity: string | undefined, details?: Msg): void {
    run.dropAllBuffered();
    this.close(run, Status.Terminated, 'workflowExecutionTerminated', { reason: reason ?? '', details, identity: identity ?? '' });
  }

  /** Writes the close event and settles everything that hangs on the run: tasks, timers, parent, children. */
  close(run: Run, status: StatusCode, eventName: string, attributes: Msg): void {
    if (!run.open) return;
    run.status = status;
    run.closeTime = this.clock.now();
    run.closeEvent = run.commit(eventName, attributes);
    run.cancelRunTimeout?.();
    if (run.wft.state !== 'none') this.endWorkflowTask(run);
    for (const timer of run.timers.values()) timer.cancel();
    run.timers.clear();
    for (const activity of run.activities.values()) {
      for (const cancel of [...activity.cancelOverall, ...activity.cancelAttempt]) cancel();
      activity.unlock();
    }
    run.activities.clear();
    this.log(`closed ${run.workflowId} ${run.runId}: ${eventName}`);

    const next = run.newExecutionRunId ? this.namespace(run.namespace).runs.get(run.newExecutionRunId) : undefined;
    run.updates.closeRun(status === Status.ContinuedAsNew ? next?.updates : undefined);
    if (next?.updates.hasAdmitted) this.scheduleWorkflowTask(next);
    // A cron run that started its successor has not ended the execution its parent waits for.
    if (status !== Status.ContinuedAsNew && !run.newExecutionRunId) this.notifyParent(run, status, attributes);
    // Queries that waited for this run's task are answered from its history, whatever ended it (continuing as new
    // too: the client asked while this run was the current one).
    for (const query of run.waitingQueries.splice(0)) this.dispatchLegacyQuery(run, query);
    for (const child of run.children.values()) {
      if (!child.runId) continue;
      const childRun = this.currentRun(child.namespace, child.workflowId);
      if (!childRun?.open) continue;
      if (child.parentClosePolicy === PARENT_CLOSE.Terminate) this.terminate(childRun, 'parent closed', '');
      else if (child.parentClosePolicy === PARENT_CLOSE.RequestCancel) this.requestCancel(childRun, 'parent closed', '');
    }
    for (const listener of this.closeListeners) listener(run);
  }

  private notifyParent(run: Run, status: StatusCode, attributes: Msg): void {
    const parentRef = run.parent;
    // A run a reset terminated is not the end of the execution its parent waits for.
    if (!parentRef || attributes.identity === RESETTER_IDENTITY) return;
    const parent = this.currentRun(parentRef.namespace, parentRef.workflowId);
    // A parent that was reset hands its children to the run the reset created.
    if (!parent?.open || parent.runId !== this.resets.follow(parentRef.runId)) return;
    const child = parent.children.get(parentRef.initiatedEventId);
    if (!child || child.workflowId !== run.workflowId) return;
    parent.children.delete(parentRef.initiatedEventId);
    const base = {
      namespace: run.namespace,
      workflowExecution: { workflowId: run.workflowId, runId: run.runId },
      workflowType: run.workflowType,
      initiatedEventId: child.initiatedEventId,
      startedEventId: this.childStartedEventId(parent, child),
    };
    const byStatus: Partial<Record<StatusCode, [string, Msg]>> = {
      [Status.Completed]: ['childWorkflowExecutionCompleted', { ...base, result: attributes.result }],
      [Status.Failed]: ['childWorkflowExecutionFailed', { ...base, failure: attributes.failure, retryState: attributes.retryState }],
      [Status.Canceled]: ['childWorkflowExecutionCanceled', { ...base, details: attributes.details }],
      [Status.TimedOut]: ['childWorkflowExecutionTimedOut', { ...base, retryState: attributes.retryState }],
      [Status.Terminated]: ['childWorkflowExecutionTerminated', base],
    };
    const [name, eventAttributes] = byStatus[status]!;
    parent.add(name, eventAttributes);
    this.scheduleWorkflowTask(parent);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Updates

  /**
   * UpdateWorkflowExecution: admits the update (or finds the one with its id) and makes sure a workflow task will
   * carry it. On a closed run only an update that already completed there is answered.
   */
  admitUpdate(run: Run, request: Msg): UpdateState {
    const updateId = request.meta?.updateId as string | undefined;
    if (!updateId) throw invalidArgument('Update ID is not set on request.');
    if (!request.input?.name) throw invalidArgument('Update name is not set on request.');
    if (!run.open) {
      const done = run.updates.get(updateId);
      if (done?.state === 'completed') return done;
      throw notFound('workflow execution already completed');
    }
    const { update, isNew } = run.updates.admit(request);
    if (isNew) {
      this.log(`update admitted ${run.workflowId} ${updateId} (${request.input.name})`);
      this.scheduleWorkflowTask(run, { speculative: true });
    }
    return update;
  }

  /** An update's state wherever it is now: the run the caller named, or the run it moved to by continue-as-new. */
  findUpdate(namespace: string, execution: Msg | null | undefined, updateId: string): UpdateState {
    let run: Run | undefined = this.findRun(namespace, execution);
    while (run) {
      const update = run.updates.get(updateId);
      if (update) return update;
      run = run.newExecutionRunId ? this.namespace(namespace).runs.get(run.newExecutionRunId) : undefined;
    }
    throw notFound(`update ${updateId} not found`);
  }

  /** A protocol message from a workflow task completion: an update accepted, answered or rejected. */
  private applyProtocolMessage(run: Run, message: Msg, completedEventId: number): void {
    const updateId = message.protocolInstanceId as string;
    const { type, message: body } = unpack(message.body);
    if (type === 'Acceptance') {
      if (!run.open || !run.updates.get(updateId)) return;
      const acceptedEventId = run.commit('workflowExecutionUpdateAccepted', {
        protocolInstanceId: updateId,
        acceptedRequestMessageId: body.acceptedRequestMessageId,
        acceptedRequestSequencingEventId: body.acceptedRequestSequencingEventId,
        acceptedRequest: body.acceptedRequest ?? run.updates.get(updateId)!.request,
      }).eventId as number;
      run.updates.accept(updateId, acceptedEventId);
    } else if (type === 'Response') {
      const update = run.updates.get(updateId);
      if (!run.open || update?.state !== 'accepted') return;
      run.commit('workflowExecutionUpdateCompleted', { meta: body.meta ?? update.request.meta, acceptedEventId: update.acceptedEventId, outcome: body.outcome });
      run.updates.respond(updateId, body.outcome);
    } else if (type === 'Rejection') {
      run.updates.reject(updateId, body.failure);
    } else {
      throw invalidArgument(`unsupported protocol message ${type} (${String(message.body?.type_url)})`);
    }
    this.log(`update ${type.toLowerCase()} ${run.workflowId} ${updateId} (completed event ${completedEventId})`);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Queries

  query(run: Run, request: Msg): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const query: PendingQuery = { id: randomUUID(), query: request.query, resolve, reject };
      const timer = setTimeout(() => reject(new RpcError(GrpcStatus.DEADLINE_EXCEEDED, 'query timed out: no worker answered')), 60_000);
      const settle = <T>(fn: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        fn(value);
      };
      query.resolve = settle(resolve);
      query.reject = settle(reject);
      if (run.open && run.wft.state === 'scheduled') run.wft.queries.set(query.id, query);
      else if (run.open && run.wft.state === 'started') run.waitingQueries.push(query);
      else this.dispatchLegacyQuery(run, query);
    });
  }

  /** Queries that waited for a task to complete go out as standalone query tasks when no new task is coming. */
  private dispatchWaitingQueries(run: Run): void {
    if (run.wft.state !== 'none') return;
    for (const query of run.waitingQueries.splice(0)) this.dispatchLegacyQuery(run, query);
  }

  private dispatchLegacyQuery(run: Run, query: PendingQuery): void {
    const unlock = this.clock.lock();
    const resolve = query.resolve;
    const reject = query.reject;
    query.resolve = (value) => {
      unlock();
      resolve(value);
    };
    query.reject = (error) => {
      unlock();
      reject(error);
    };
    this.pendingLegacyQueries.set(query.id, { run, query });
    this.workflowQueue(run.namespace, run.taskQueue).offer({ kind: 'query', run, query });
  }

  readonly pendingLegacyQueries = new Map<string, { run: Run; query: PendingQuery }>();

  startQueryTask(task: QueryTaskRef): Msg {
    const run = task.run;
    return {
      taskToken: encodeToken({ kind: 'query', namespace: run.namespace, runId: run.runId, id: task.query.id, attempt: 1 }),
      workflowExecution: { workflowId: run.workflowId, runId: run.runId },
      workflowType: run.workflowType,
      previousStartedEventId: run.lastCompletedStartedEventId,
      startedEventId: 0,
      attempt: 1,
      history: { events: run.history },
      query: task.query.query,
      workflowExecutionTaskQueue: { name: run.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
      scheduledTime: timestamp(this.clock.now()),
      startedTime: timestamp(this.clock.now()),
      messages: [],
    };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Describe and visibility

  executionInfo(run: Run): Msg {
    return {
      execution: { workflowId: run.workflowId, runId: run.runId },
      type: run.workflowType,
      startTime: timestamp(run.startTime),
      closeTime: run.closeTime ? timestamp(run.closeTime) : undefined,
      status: run.status,
      historyLength: run.history.length,
      executionTime: timestamp(run.firstTaskAt ?? run.startTime),
      memo: run.memo,
      searchAttributes: { indexedFields: run.searchAttributes },
      taskQueue: run.taskQueue,
      stateTransitionCount: run.history.length,
      historySizeBytes: run.history.length * 200,
      rootExecution: { workflowId: run.root.workflowId, runId: run.root.runId },
      firstRunId: run.startRequest.firstExecutionRunId,
      ...(run.parent
        ? { parentNamespaceId: this.namespace(run.parent.namespace).id, parentExecution: { workflowId: run.parent.workflowId, runId: run.parent.runId } }
        : {}),
    };
  }

  describe(run: Run): Msg {
    return {
      executionConfig: {
        taskQueue: { name: run.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
        workflowExecutionTimeout: duration(run.startRequest.workflowExecutionTimeoutMs ?? 0),
        workflowRunTimeout: duration(run.startRequest.workflowRunTimeoutMs ?? 0),
        defaultWorkflowTaskTimeout: duration(run.startRequest.workflowTaskTimeoutMs),
      },
      // Reset points are the run's own record (visibility lists do not carry them).
      workflowExecutionInfo: { ...this.executionInfo(run), autoResetPoints: autoResetPoints(run) },
      workflowExtendedInfo: workflowExtendedInfo(run, this.resets),
      pendingActivities: [...run.activities.values()].map((activity) => ({
        activityId: activity.activityId,
        activityType: activity.activityType,
        state: activity.state === 'started' ? 3 : 1,
        heartbeatDetails: activity.heartbeatDetails,
        lastStartedTime: activity.startedAt ? timestamp(activity.startedAt) : undefined,
        attempt: activity.attempt,
        maximumAttempts: num(activity.retryPolicy.maximumAttempts),
        scheduledTime: timestamp(activity.attemptScheduledAt),
        lastFailure: activity.lastFailure,
        lastWorkerIdentity: activity.identity ?? '',
      })),
      pendingChildren: [...run.children.values()].map((child) => ({
        workflowId: child.workflowId,
        runId: child.runId ?? '',
        workflowTypeName: child.workflowType?.name ?? '',
        initiatedId: child.initiatedEventId,
        parentClosePolicy: child.parentClosePolicy,
      })),
    };
  }

  allRuns(namespace: string): Run[] {
    return [...this.namespace(namespace).runs.values()];
  }

  /**
   * A worker shut down (ShutdownWorker with its sticky queue): its runs lose stickiness, and workflow tasks already
   * waiting on that queue move to the normal queue at once instead of waiting for the sticky timeout.
   */
  dropStickyQueue(namespace: string, queueName: string): void {
    this.deadStickyQueues.add(queueName);
    const sticky = this.workflowQueue(namespace, queueName);
    for (const run of this.namespace(namespace).runs.values()) {
      if (run.sticky?.queue !== queueName) continue;
      run.sticky = undefined;
      if (run.wft.state !== 'scheduled') continue;
      run.wft.cancelStickyFallback?.();
      run.wft.cancelStickyFallback = undefined;
      sticky.remove((task) => task.kind === 'workflow' && task.run === run);
      this.workflowQueue(namespace, run.taskQueue).offer({ kind: 'workflow', run, scheduledEventId: run.wft.scheduledEventId, attempt: run.wft.attempt });
    }
    sticky.drainPolls();
  }

  /** Workers (`worker_instance_key`) that called ShutdownWorker: their later polls are answered empty at once. */
  readonly shutDownWorkers = new Set<string>();

  /** A worker shut down: its outstanding polls on its workflow and activity queues complete empty. */
  completeWorkerPolls(namespace: string, taskQueue: string, owner: string): void {
    this.shutDownWorkers.add(owner);
    this.workflowQueue(namespace, taskQueue).drainPolls(owner);
    this.activityQueue(namespace, taskQueue).drainPolls(owner);
  }

  shutdown(): void {
    for (const queue of this.allQueues()) queue.drainPolls();
  }
}

export class AlreadyStarted extends RpcError {
  constructor(
    readonly workflowId: string,
    readonly runId: string,
  ) {
    super(GrpcStatus.ALREADY_EXISTS, `workflow execution already started: ${workflowId}`);
  }
}

function answerQuery(query: PendingQuery, outcome: { answer?: Msg } | { error: string }): void {
  if ('error' in outcome) query.reject(invalidArgument(outcome.error));
  else query.resolve({ queryResult: outcome.answer });
}

export { answerQuery, alreadyExists };
