/**
 * Task queues with long polls. A poll takes a waiting task at once or parks until one arrives or its deadline
 * nears (then it answers empty, as the real server does). Tasks that went stale while queued (their run closed,
 * their attempt timed out) are skipped. A poller whose call was cancelled gives its task back with `requeue`.
 *
 * Each queue remembers who polled it (DescribeTaskQueue's pollers), as the server's poller history does: one entry
 * per worker identity, its last poll's time and rate limit, kept for five minutes after that poll.
 */
import { type Msg, timestamp } from './proto';

export interface Poll<T> {
  promise: Promise<T | undefined>;
  cancel(): void;
}

/** What a poll request says about its worker. */
export interface PollerMetadata {
  identity: string;
  /** When the poll arrived (the stand-in's clock). */
  at: number;
  /** `task_queue_metadata.max_tasks_per_second` of activity polls. */
  ratePerSecond?: number;
  workerVersionCapabilities?: Msg;
  deploymentOptions?: Msg;
}

/** The server's `matching.PollerHistoryTTL`. */
export const POLLER_HISTORY_TTL_MS = 5 * 60_000;
/** The rate a poller reports when it sets none (the server's default task dispatch rate). */
const DEFAULT_POLLER_RATE_PER_SECOND = 100_000;

/** Pollers from the metadata a poll request carries (identity, rate limit, versioning). */
export function pollerMetadata(request: Msg, at: number): PollerMetadata | undefined {
  const identity = request.identity as string | undefined;
  if (!identity) return undefined;
  const rate = request.taskQueueMetadata?.maxTasksPerSecond?.value as number | undefined;
  return {
    identity,
    at,
    ...(rate !== undefined && rate !== null ? { ratePerSecond: Number(rate) } : {}),
    ...(request.workerVersionCapabilities ? { workerVersionCapabilities: request.workerVersionCapabilities } : {}),
    ...(request.deploymentOptions ? { deploymentOptions: request.deploymentOptions } : {}),
  };
}

interface PollerRecord {
  metadata: PollerMetadata;
  /** Polls of this worker still waiting: a worker parked in a poll is alive whatever the clock says. */
  outstanding: number;
}

interface Waiter<T> {
  /** The polling worker's `worker_instance_key`, so its shutdown can complete its polls. */
  owner: string | undefined;
  finish(task: T | undefined): void;
}

export class TaskQueue<T> {
  private readonly tasks: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  /** Tasks handed out per second at most, as the pollers ask (`max_tasks_per_second`); unset: no limit. */
  private ratePerSecond: number | undefined;
  private nextDispatchAt = 0;
  private readonly pollers = new Map<string, PollerRecord>();

  constructor(private readonly isValid: (task: T) => boolean = () => true) {}

  /** The latest poller's rate limit applies to the whole queue, as on the real server. */
  setRateLimit(perSecond: number | undefined): void {
    this.ratePerSecond = perSecond !== undefined && perSecond > 0 ? perSecond : undefined;
  }

  /**
   * Reserves the next dispatch slot under the rate limit, spaced evenly (wall-clock time, as the real server's
   * limiter): how many milliseconds the caller waits before handing out its task.
   */
  reserveDispatch(): number {
    if (!this.ratePerSecond) return 0;
    const now = Date.now();
    const at = Math.max(now, this.nextDispatchAt);
    this.nextDispatchAt = at + 1000 / this.ratePerSecond;
    return at - now;
  }

  get backlog(): number {
    return this.tasks.length;
  }

  offer(task: T): void {
    if (!this.isValid(task)) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter.finish(task);
    else this.tasks.push(task);
  }

  /** Puts back a task a cancelled poller took, ahead of the others. */
  requeue(task: T): void {
    if (!this.isValid(task)) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter.finish(task);
    else this.tasks.unshift(task);
  }

  remove(predicate: (task: T) => boolean): void {
    for (let i = this.tasks.length - 1; i >= 0; i--) if (predicate(this.tasks[i]!)) this.tasks.splice(i, 1);
  }

  poll(maxWaitMs: number, owner?: string, poller?: PollerMetadata): Poll<T> {
    const record = poller ? this.recordPoller(poller) : undefined;
    while (this.tasks.length > 0) {
      const task = this.tasks.shift()!;
      if (this.isValid(task)) {
        if (record) record.outstanding--;
        return { promise: Promise.resolve(task), cancel: () => undefined };
      }
    }
    let done = false;
    let resolve!: (task: T | undefined) => void;
    const promise = new Promise<T | undefined>((r) => (resolve = r));
    const waiter: Waiter<T> = {
      owner,
      finish: (task) => {
        if (done) {
          if (task !== undefined) this.requeue(task);
          return;
        }
        done = true;
        if (record) record.outstanding--;
        clearTimeout(timer);
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(task);
      },
    };
    const timer = setTimeout(() => waiter.finish(undefined), Math.max(maxWaitMs, 0));
    this.waiters.push(waiter);
    return { promise, cancel: () => waiter.finish(undefined) };
  }

  private recordPoller(metadata: PollerMetadata): PollerRecord {
    let record = this.pollers.get(metadata.identity);
    if (!record) {
      record = { metadata, outstanding: 0 };
      this.pollers.set(metadata.identity, record);
    }
    record.metadata = metadata;
    record.outstanding++;
    return record;
  }

  /** A worker said it shut down: it no longer shows among the pollers, as the server drops it from its history. */
  forgetPoller(identity: string): void {
    this.pollers.delete(identity);
  }

  /** DescribeTaskQueue's `PollerInfo`s: the workers that polled within the TTL before `now`, or are polling. */
  describePollers(now: number): Msg[] {
    const pollers: Msg[] = [];
    for (const [identity, record] of this.pollers) {
      const { metadata } = record;
      if (record.outstanding <= 0 && metadata.at < now - POLLER_HISTORY_TTL_MS) {
        this.pollers.delete(identity);
        continue;
      }
      pollers.push({
        identity,
        lastAccessTime: timestamp(metadata.at),
        ratePerSecond: metadata.ratePerSecond ?? DEFAULT_POLLER_RATE_PER_SECOND,
        ...(metadata.workerVersionCapabilities ? { workerVersionCapabilities: metadata.workerVersionCapabilities } : {}),
        ...(metadata.deploymentOptions ? { deploymentOptions: metadata.deploymentOptions } : {}),
      });
    }
    return pollers;
  }

  /** Answers outstanding polls empty: all of them, or those of one worker (`owner`). */
  drainPolls(owner?: string): void {
    for (const waiter of [...this.waiters]) if (owner === undefined || waiter.owner === owner) waiter.finish(undefined);
  }
}
