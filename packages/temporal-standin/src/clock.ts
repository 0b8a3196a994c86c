/**
 * The stand-in's clock. In dev mode it is the wall clock. In time-skipping mode it is virtual: while anything holds
 * a lock (an outstanding workflow task or activity, a running timer callback, the test client's initial lock) it
 * advances with real time; when nothing does, it jumps straight to the next timer and fires it. A 30-day sleep
 * then takes as long as the work around it.
 */
export type Unlock = () => void;

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

export class Clock {
  private offsetMs = 0;
  private anchorReal = Date.now();
  private anchorVirtual = Date.now();
  /** Locks held by the server's own work: while any is held, time only moves with the wall clock. */
  private locks = 0;
  /**
   * Locks held by test clients through the TestService (the initial one, released while `result()` waits).
   * Concurrent `result()` calls may take it below zero; it balances when they return.
   */
  private externalLocks = 0;
  private timers: Timer[] = [];
  private nextTimerId = 1;
  private wakeup: NodeJS.Timeout | undefined;
  private skipping = false;

  constructor(readonly timeSkipping: boolean, initialExternalLocks = 0) {
    this.externalLocks = initialExternalLocks;
  }

  private get held(): boolean {
    return this.locks > 0 || this.externalLocks > 0;
  }

  now(): number {
    if (!this.timeSkipping) return Date.now() + this.offsetMs;
    return this.anchorVirtual + (Date.now() - this.anchorReal);
  }

  /** Schedules `callback` at virtual time `at`; returns a cancel function. */
  schedule(at: number, callback: () => void): () => void {
    const timer: Timer = { id: this.nextTimerId++, at, callback };
    const index = this.timers.findIndex((other) => other.at > at);
    if (index < 0) this.timers.push(timer);
    else this.timers.splice(index, 0, timer);
    this.arm();
    return () => {
      const position = this.timers.indexOf(timer);
      if (position >= 0) this.timers.splice(position, 1);
      this.arm();
    };
  }

  after(ms: number, callback: () => void): () => void {
    return this.schedule(this.now() + Math.max(ms, 0), callback);
  }

  /** Debug tracing of lock changes (`--log-level debug`). */
  trace?: (message: string) => void;

  lock(): Unlock {
    this.locks++;
    this.trace?.(`lock -> ${this.locks} ${new Error().stack?.split('\n')[2]?.trim()}`);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.locks--;
      this.trace?.(`unlock -> ${this.locks}`);
      this.arm();
    };
  }

  get lockCount(): number {
    return this.locks + this.externalLocks;
  }

  unlockExternal(): void {
    this.externalLocks--;
    this.trace?.(`external unlock -> ${this.externalLocks}`);
    this.arm();
  }

  lockExternal(): void {
    this.externalLocks++;
    this.trace?.(`external lock -> ${this.externalLocks}`);
    this.arm();
  }

  close(): void {
    if (this.wakeup) clearTimeout(this.wakeup);
    this.timers = [];
  }

  /** Fires what is due now, then waits (real time) for the next timer, or skips to it when nothing is locked. */
  private arm(): void {
    if (this.wakeup) clearTimeout(this.wakeup);
    this.wakeup = undefined;
    const next = this.timers[0];
    if (!next) return;
    if (this.timeSkipping && !this.held) {
      // Jump on the next tick, so that work started in this one (and the locks it takes) counts first.
      this.wakeup = setTimeout(() => this.skip(), 0);
      return;
    }
    const wait = Math.max(next.at - this.now(), 0);
    this.wakeup = setTimeout(() => this.fireDue(), Math.min(wait, 2 ** 31 - 1));
  }

  private skip(): void {
    if (this.skipping) return;
    const next = this.timers[0];
    if (!next || this.held) return this.arm();
    if (next.at > this.now()) {
      this.anchorVirtual = next.at;
      this.anchorReal = Date.now();
    }
    this.fireDue();
  }

  private fireDue(): void {
    this.skipping = true;
    try {
      const now = this.now();
      while (this.timers[0] && this.timers[0].at <= now) {
        const timer = this.timers.shift()!;
        const unlock = this.lock();
        try {
          timer.callback();
        } finally {
          unlock();
        }
      }
    } finally {
      this.skipping = false;
    }
    this.arm();
  }
}
