import { Context, ApplicationFailure, CancelledFailure } from '@temporalio/activity';

export async function greet(name: string): Promise<string> {
  return `Hello, ${name}!`;
}

const attempts = new Map<string, number>();
export async function failTimes(failures: number, key: string): Promise<number> {
  const attempt = (attempts.get(key) ?? 0) + 1;
  attempts.set(key, attempt);
  if (attempt <= failures) throw new Error(`failure ${attempt}`);
  return Context.current().info.attempt;
}

export async function alwaysFails(type: string): Promise<void> {
  throw ApplicationFailure.create({ type, message: 'fails', nonRetryable: true });
}

export async function slow(ms: number): Promise<void> {
  await Context.current().sleep(ms);
}

export async function heartbeating(beats: number): Promise<number> {
  const context = Context.current();
  const start = (context.info.heartbeatDetails as number | undefined) ?? 0;
  for (let i = start; i < beats; i++) {
    context.heartbeat(i + 1);
    try {
      await context.sleep(100);
    } catch (error) {
      if (error instanceof CancelledFailure) throw error;
      throw error;
    }
  }
  return beats;
}

/** Never heartbeats: the server's heartbeat timeout must catch it. */
export async function silent(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export async function alwaysRetryable(): Promise<void> {
  throw new Error('still failing');
}

const delayed = new Set<string>();
/** Fails once asking for a 2-second delay before the next attempt (ApplicationFailure.nextRetryDelay). */
export async function delayedRetry(key: string): Promise<void> {
  if (delayed.has(key)) return;
  delayed.add(key);
  throw ApplicationFailure.create({ message: 'try later', nextRetryDelay: '2 seconds' });
}
