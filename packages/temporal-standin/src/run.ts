/**
 * One workflow run: its history and the state the server keeps beside it (the workflow task, pending activities,
 * timers, children, stickiness). Events that arrive while a workflow task is started are buffered and written
 * after that task completes, so the worker never sees history change under a task it is working on.
 */
import { type Unlock } from './clock';
import { eventType, type Msg, timestamp } from './proto';
import { RunUpdates } from './updates';

export const Status = {
  Running: 1,
  Completed: 2,
  Failed: 3,
  Canceled: 4,
  Terminated: 5,
  ContinuedAsNew: 6,
  TimedOut: 7,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

export interface WorkflowTaskState {
  state: 'none' | 'scheduled' | 'started';
  scheduledEventId: number;
  startedEventId: number;
  attempt: number;
  scheduledAt: number;
  startedAt: number;
  /** Delivered on the worker's sticky queue (partial history) rather than the normal one. */
  onSticky: boolean;
  unlock?: Unlock;
  cancelTimeout?: () => void;
  cancelStickyFallback?: () => void;
  /** A speculative task's schedule-to-start timeout (engine.ts). */
  cancelScheduleToStart?: () => void;
  /** Queries carried inside this task; answered in its completion. */
  queries: Map<string, PendingQuery>;
}

export interface PendingQuery {
  id: string;
  query: Msg;
  resolve(result: Msg): void;
  reject(error: Error): void;
}

export interface ActivityState {
  scheduledEventId: number;
  activityId: string;
  activityType: Msg;
  taskQueue: string;
  input?: Msg;
  header?: Msg;
  scheduleToCloseMs?: number;
  scheduleToStartMs?: number;
  startToCloseMs?: number;
  heartbeatMs?: number;
  retryPolicy: Msg;
  attempt: number;
  firstScheduledAt: number;
  attemptScheduledAt: number;
  startedAt?: number;
  identity?: string;
  heartbeatDetails?: Msg;
  lastFailure?: Msg;
  cancelRequested: boolean;
  cancelRequestedEventId?: number;
  state: 'scheduled' | 'started' | 'backoff';
  /** Timers of the whole activity (schedule-to-close) and of the current attempt. */
  cancelOverall: Array<() => void>;
  cancelAttempt: Array<() => void>;
  unlock: Unlock;
}

export interface ChildState {
  initiatedEventId: number;
  namespace: string;
  workflowId: string;
  workflowType: Msg;
  parentClosePolicy: number;
  startedEventId?: number;
  runId?: string;
}

export interface ParentRef {
  namespace: string;
  workflowId: string;
  runId: string;
  initiatedEventId: number;
}

let taskIds = 1;

export class Run {
  readonly history: Msg[] = [];
  /** Attributes may be computed at write time from the event's own id (to refer to the event before it). */
  private readonly buffer: Array<{ name: string; attributes: Msg | ((eventId: number) => Msg) }> = [];
  status: StatusCode = Status.Running;
  closeTime?: number;
  closeEvent?: Msg;
  newExecutionRunId?: string;
  wft: WorkflowTaskState = { state: 'none', scheduledEventId: 0, startedEventId: 0, attempt: 1, scheduledAt: 0, startedAt: 0, onSticky: false, queries: new Map() };
  /** Started event id of the last completed workflow task (`previous_started_event_id`). */
  lastCompletedStartedEventId = 0;
  sticky?: { queue: string; scheduleToStartMs: number };
  readonly activities = new Map<number, ActivityState>();
  readonly timers = new Map<string, { startedEventId: number; cancel: () => void }>();
  readonly children = new Map<number, ChildState>();
  /** Queries that arrived while a workflow task was started: dispatched once it completes. */
  readonly waitingQueries: PendingQuery[] = [];
  readonly signalRequestIds = new Set<string>();
  memo: Msg;
  searchAttributes: Record<string, Msg>;
  historyWaiters: Array<() => void> = [];
  cancelRunTimeout?: () => void;
  /** A cron run's first workflow task waits until then (`first_workflow_task_backoff`). */
  firstTaskAt?: number;
  readonly updates: RunUpdates;
  /**
   * The WorkflowTaskScheduled (and Started) events of a speculative workflow task (one an update brought while no
   * task was pending): the worker sees them, history gets them only when something else is written (they go
   * first, with the ids they were given); a task that only rejected updates drops them, as the server does.
   */
  speculativeEvents: Msg[] = [];

  constructor(
    readonly namespace: string,
    readonly workflowId: string,
    readonly runId: string,
    readonly workflowType: Msg,
    readonly taskQueue: string,
    readonly startTime: number,
    readonly startRequest: {
      workflowTaskTimeoutMs: number;
      workflowRunTimeoutMs?: number;
      workflowExecutionTimeoutMs?: number;
      retryPolicy?: Msg;
      /** `cron_schedule`: each run's close starts the next run at the next matching time. */
      cronSchedule?: string;
      firstExecutionRunId: string;
      requestId?: string;
    },
    readonly parent: ParentRef | undefined,
    readonly root: { workflowId: string; runId: string },
    memo: Msg | undefined,
    searchAttributes: Record<string, Msg> | undefined,
    private readonly now: () => number,
  ) {
    this.updates = new RunUpdates(runId);
    this.memo = memo ?? {};
    this.searchAttributes = searchAttributes ?? {};
  }

  get open(): boolean {
    return this.status === Status.Running;
  }

  get nextEventId(): number {
    return this.history.length + 1;
  }

  /** Writes an event now, whatever the workflow task's state (completion batches, closes). */
  commit(name: string, attributes: Msg | ((eventId: number) => Msg)): Msg {
    // A pending speculative task becomes an ordinary one the moment anything is written.
    if (this.speculativeEvents.length > 0) this.history.push(...this.speculativeEvents.splice(0));
    const eventId = this.nextEventId;
    if (typeof attributes === 'function') attributes = attributes(eventId);
    const event = {
      eventId,
      eventTime: timestamp(this.now()),
      eventType: eventType(name),
      taskId: taskIds++,
      [`${name}EventAttributes`]: attributes,
    };
    this.history.push(event);
    this.wakeHistoryWaiters();
    return event;
  }

  /** Writes an event, or buffers it while a workflow task is started. Returns the event id when written. */
  add(name: string, attributes: Msg): number | undefined {
    if (this.wft.state === 'started') {
      this.buffer.push({ name, attributes });
      return undefined;
    }
    return this.commit(name, attributes).eventId as number;
  }

  /** Builds a speculative workflow task's event (next id after history and the speculative events before it). */
  speculate(name: string, attributes: Msg): number {
    const eventId = this.nextEventId + this.speculativeEvents.length;
    this.speculativeEvents.push({ eventId, eventTime: timestamp(this.now()), eventType: eventType(name), taskId: taskIds++, [`${name}EventAttributes`]: attributes });
    return eventId;
  }

  /** Writes (or buffers) two events where the second refers to the first's id (activity started + outcome). */
  addPair(first: string, firstAttributes: Msg, second: string, secondAttributes: (firstEventId: number) => Msg): void {
    if (this.wft.state === 'started') {
      this.buffer.push({ name: first, attributes: firstAttributes }, { name: second, attributes: (id) => secondAttributes(id - 1) });
      return;
    }
    const firstId = this.commit(first, firstAttributes).eventId as number;
    this.commit(second, secondAttributes(firstId));
  }

  get hasBuffered(): boolean {
    return this.buffer.length > 0;
  }

  /** Writes the buffered events; returns how many there were. */
  flush(): number {
    const count = this.buffer.length;
    for (const { name, attributes } of this.buffer.splice(0)) this.commit(name, attributes);
    return count;
  }

  /** Drops a buffered event (a timer fired but was cancelled in the same task). */
  dropBuffered(predicate: (name: string, attributes: Msg) => boolean): boolean {
    const index = this.buffer.findIndex((entry) => typeof entry.attributes !== 'function' && predicate(entry.name, entry.attributes));
    if (index < 0) return false;
    this.buffer.splice(index, 1);
    return true;
  }

  dropAllBuffered(): void {
    this.buffer.length = 0;
  }

  waitForHistory(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.historyWaiters = this.historyWaiters.filter((waiter) => waiter !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.historyWaiters.push(done);
    });
  }

  private wakeHistoryWaiters(): void {
    const waiters = this.historyWaiters;
    this.historyWaiters = [];
    for (const waiter of waiters) waiter();
  }
}
