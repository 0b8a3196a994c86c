/**
 * A step is `stuck` when its activity gave up for a reason that is not the backer's or the creator's (Stripe down
 * past the retry budget, or a bug): the workflow waits, shows why, and tries again by itself or when ops ask.
 */
import { ActivityFailure, ApplicationFailure, condition } from '@temporalio/workflow';

const DEFAULT_STUCK_RETRY_INTERVAL_MS = 15 * 60 * 1000;

/** Campaigns published before the setting existed carry none. */
export function stuckRetryIntervalMs(settings: { stuckRetryIntervalMs?: number }): number {
  return settings.stuckRetryIntervalMs ?? DEFAULT_STUCK_RETRY_INTERVAL_MS;
}

/** What ops read: the activity that gave up and each cause down the chain, e.g. "sendPayout: ...: api_error ...". */
export function failureReason(error: unknown): string {
  const parts: string[] = [];
  if (error instanceof ActivityFailure && error.activityType) parts.push(error.activityType);
  for (let cause: unknown = error instanceof ActivityFailure ? error.cause : error; cause; cause = (cause as Error).cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    if (message && !parts.includes(message)) parts.push(message);
    if (!(cause instanceof Error)) break;
  }
  return parts.join(': ').slice(0, 500) || 'unknown failure';
}

/**
 * An activity that failed after retrying (its budget ran out), as opposed to one that refused at once: the first
 * is an outage that holds up every similar step; the second is about this one step.
 */
export function isOutage(error: unknown): boolean {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return !(cause instanceof ApplicationFailure && cause.nonRetryable);
}

/** Waits until `atMs` (workflow time) or until `wake()`; true if woken. A deadline already past does not wait. */
export async function waitUntil(atMs: number, wake: () => boolean): Promise<boolean> {
  const remaining = atMs - Date.now();
  if (remaining <= 0) return wake();
  return condition(wake, remaining);
}
