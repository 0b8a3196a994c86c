/**
 * Sign-in attempts are limited, counted in Postgres so that every API process shares them. Limits are per account
 * and source together, so that failures from one address lock that address out of the account without locking
 * its owner out elsewhere; per source, against one address guessing across accounts; and per account across all
 * sources, high enough that a distributed attacker cannot make it a lock-out tool, low enough to bound guessing.
 *
 * Check and count are one step: an attempt is claimed (recorded as failed) under advisory locks on its source and
 * account before the password is checked, and marked succeeded after; so parallel guesses cannot all pass the check
 * before any of them is counted. Only failures count: a successful sign-in is never held against its user.
 */
import { sql } from 'kysely';
import { type AppDatabase, type Tx } from '../../db/database';

export const LOGIN_WINDOW_MS = 15 * 60 * 1000;
export const MAX_FAILURES_PER_ACCOUNT_AND_SOURCE = 5;
export const MAX_FAILURES_PER_SOURCE = 30;
export const MAX_FAILURES_PER_ACCOUNT = 100;

export type LoginClaim = { attemptId: number } | { retryAfterSeconds: number };

/** Claims a sign-in attempt for `email` from `ip`, or says how long to wait when a limit is reached. */
export async function claimLoginAttempt(database: AppDatabase, email: string, ip: string, now = new Date()): Promise<LoginClaim> {
  return database.transaction(async (trx) => {
    // Always source first, then account: two claims never wait for each other in opposite orders.
    await advisoryLock(trx, `login-source:${ip}`);
    await advisoryLock(trx, `login-account:${email}`);
    const retryAfterSeconds = await secondsUntilAllowed(trx, email, ip, now);
    if (retryAfterSeconds > 0) return { retryAfterSeconds };
    const attempt = await trx.insertInto('login_attempts').values({ email, ip, succeeded: false, attempted_at: now }).returning('id').executeTakeFirstOrThrow();
    return { attemptId: Number(attempt.id) };
  });
}

/** The password was right: the claimed attempt no longer counts as a failure. */
export async function markLoginSucceeded(database: AppDatabase, attemptId: number): Promise<void> {
  await database.db.updateTable('login_attempts').set({ succeeded: true }).where('id', '=', attemptId).execute();
}

async function advisoryLock(trx: Tx, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
}

async function secondsUntilAllowed(trx: Tx, email: string, ip: string, now: Date): Promise<number> {
  const since = new Date(now.getTime() - LOGIN_WINDOW_MS);
  const counts = await trx
    .selectFrom('login_attempts')
    .select((eb) => [
      eb.fn.countAll<number>().filterWhere((f) => f.and([f('email', '=', email), f('ip', '=', ip)])).as('by_pair'),
      eb.fn.countAll<number>().filterWhere('ip', '=', ip).as('by_source'),
      eb.fn.countAll<number>().filterWhere('email', '=', email).as('by_account'),
      eb.fn.min('attempted_at').filterWhere((f) => f.and([f('email', '=', email), f('ip', '=', ip)])).as('oldest_by_pair'),
      eb.fn.min('attempted_at').filterWhere('ip', '=', ip).as('oldest_by_source'),
      eb.fn.min('attempted_at').filterWhere('email', '=', email).as('oldest_by_account'),
    ])
    .where('succeeded', '=', false)
    .where('attempted_at', '>', since)
    .where((eb) => eb.or([eb('email', '=', email), eb('ip', '=', ip)]))
    .executeTakeFirstOrThrow();
  const waits: number[] = [];
  if (Number(counts.by_pair) >= MAX_FAILURES_PER_ACCOUNT_AND_SOURCE && counts.oldest_by_pair) waits.push(secondsUntilExpiry(counts.oldest_by_pair, now));
  if (Number(counts.by_source) >= MAX_FAILURES_PER_SOURCE && counts.oldest_by_source) waits.push(secondsUntilExpiry(counts.oldest_by_source, now));
  if (Number(counts.by_account) >= MAX_FAILURES_PER_ACCOUNT && counts.oldest_by_account) waits.push(secondsUntilExpiry(counts.oldest_by_account, now));
  return waits.length ? Math.max(...waits) : 0;
}

function secondsUntilExpiry(oldest: Date | string, now: Date): number {
  return Math.max(1, Math.ceil((new Date(oldest).getTime() + LOGIN_WINDOW_MS - now.getTime()) / 1000));
}
