/**
 * Task queues with long polls. A poll takes a waiting task at once or parks until one arrives or its deadline
 * nears (then it answers empty, as the real server does). Tasks that went stale while queued (their run closed,
 * their attempt timed out) are skipped. A poller whose call was cancelled gives its task back with `requeue`.
 */
export interface Poll<T> {
  promise: Promise<T | undefined>;
  cancel(): void;
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

  poll(maxWaitMs: number, owner?: string): Poll<T> {
    while (this.tasks.length > 0) {
      const task = this.tasks.shift()!;
      if (this.isValid(task)) return { promise: Promise.resolve(task), cancel: () => undefined };
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

  /** Answers outstanding polls empty: all of them, or those of one worker (`owner`). */
  drainPolls(owner?: string): void {
    for (const waiter of [...this.waiters]) if (owner === undefined || waiter.owner === owner) waiter.finish(undefined);
  }
}
