/**
 * Login attempts are limited per email and per IP, counted in Postgres so that every API process shares them.
 * Only failures count: a user who signs in successfully is never locked out by their own history.
 */
import { type Db } from '../../db/database';

export const LOGIN_WINDOW_MS = 15 * 60 * 1000;
export const MAX_FAILURES_PER_EMAIL = 5;
export const MAX_FAILURES_PER_IP = 30;

/** Seconds until another attempt is allowed, or 0 when it is allowed now. */
export async function loginRetryAfterSeconds(db: Db, email: string, ip: string, now = new Date()): Promise<number> {
  const since = new Date(now.getTime() - LOGIN_WINDOW_MS);
  const counts = await db
    .selectFrom('login_attempts')
    .select((eb) => [
      eb.fn.countAll<number>().filterWhere('email', '=', email).as('by_email'),
      eb.fn.countAll<number>().filterWhere('ip', '=', ip).as('by_ip'),
      eb.fn.min('attempted_at').filterWhere('email', '=', email).as('oldest_by_email'),
      eb.fn.min('attempted_at').filterWhere('ip', '=', ip).as('oldest_by_ip'),
    ])
    .where('succeeded', '=', false)
    .where('attempted_at', '>', since)
    .where((eb) => eb.or([eb('email', '=', email), eb('ip', '=', ip)]))
    .executeTakeFirstOrThrow();
  const waits: number[] = [];
  if (counts.by_email >= MAX_FAILURES_PER_EMAIL && counts.oldest_by_email) waits.push(secondsUntilExpiry(counts.oldest_by_email, now));
  if (counts.by_ip >= MAX_FAILURES_PER_IP && counts.oldest_by_ip) waits.push(secondsUntilExpiry(counts.oldest_by_ip, now));
  return waits.length ? Math.max(...waits) : 0;
}

function secondsUntilExpiry(oldest: Date | string, now: Date): number {
  return Math.max(1, Math.ceil((new Date(oldest).getTime() + LOGIN_WINDOW_MS - now.getTime()) / 1000));
}

export async function recordLoginAttempt(db: Db, email: string, ip: string, succeeded: boolean): Promise<void> {
  await db.insertInto('login_attempts').values({ email, ip, succeeded }).execute();
}
