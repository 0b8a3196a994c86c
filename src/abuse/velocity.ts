/**
 * Velocity limits, counted in Postgres so that every API process shares them, the way sign-in attempts are
 * (src/auth/login-throttle.ts). An attempt is claimed under advisory locks on its address, account and card before
 * anyone (Stripe) is asked, recorded as `pending` with a decline's weight; its outcome is written after. So parallel
 * attempts cannot all pass the check before any of them is counted, and an attempt whose answer never arrives (a
 * crash) stays counted as a decline. Limits are sliding windows over weights: the wait given is until enough of the
 * oldest attempts have left the window.
 */
import { sql } from 'kysely';
import { type AppDatabase, type Db, type Tx } from '../../db/database';
import { type VelocityAction, type VelocityOutcome } from '../../db/schema';
import { DECLINE_WEIGHT, SUCCESS_WEIGHT } from './velocity-limits';

/** What an attempt weighs once its outcome is known. */
export const OUTCOME_WEIGHTS: Record<VelocityOutcome, number> = {
  pending: DECLINE_WEIGHT, // not answered yet: counted as the worst case until it is
  declined: DECLINE_WEIGHT,
  succeeded: SUCCESS_WEIGHT,
  unanswered: SUCCESS_WEIGHT, // Stripe did not answer: an ordinary attempt, so retrying through an outage locks no one out
  not_asked: 0, // refused before Stripe heard of it (sold out, already backed): costs the attacker nothing to learn
};

export interface AttemptKeys {
  action: VelocityAction;
  userId: string | null;
  ip: string | null;
  card: string | null;
}

export interface VelocityRules {
  /** Which actions' attempts count against these limits. */
  actions: VelocityAction[];
  windowMs: number;
  /** Weight ceilings within the window; an absent one is not limited. */
  perUser?: number;
  perIp?: number;
  perCard?: number;
  /** An account with this many declines (or unanswered attempts) within the period waits until the oldest leaves it. */
  declineBlock?: { declines: number; periodMs: number };
}

export type LimitName = 'user' | 'ip' | 'card' | 'declines';
export type VelocityClaim = { attemptId: number } | { retryAfterSeconds: number; limit: LimitName };

/** Claims an attempt, or says how long to wait and which limit was reached. */
export async function claimAttempt(database: AppDatabase, keys: AttemptKeys, rules: VelocityRules, outcome: VelocityOutcome = 'pending', now = new Date()): Promise<VelocityClaim> {
  return database.transaction(async (trx) => {
    // Always address, then account, then card: two claims never wait for each other in opposite orders.
    if (keys.ip !== null) await advisoryLock(trx, `velocity-ip:${keys.ip}`);
    if (keys.userId !== null) await advisoryLock(trx, `velocity-user:${keys.userId}`);
    if (keys.card !== null) await advisoryLock(trx, `velocity-card:${keys.card}`);
    const wait = await waitBeforeAttempt(trx, keys, rules, now);
    if (wait) return wait;
    const attempt = await trx
      .insertInto('velocity_events')
      .values({ action: keys.action, user_id: keys.userId, ip: keys.ip, card: keys.card, outcome, weight: OUTCOME_WEIGHTS[outcome], occurred_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { attemptId: Number(attempt.id) };
  });
}

/** The claimed attempt's outcome, and so its weight from now on. */
export async function recordOutcome(database: AppDatabase, attemptId: number, outcome: VelocityOutcome): Promise<void> {
  await database.db.updateTable('velocity_events').set({ outcome, weight: OUTCOME_WEIGHTS[outcome] }).where('id', '=', attemptId).execute();
}

/**
 * How long an attempt with these keys must wait, or undefined if it may go ahead. Without the locks this is only a
 * cheap early answer (claimAttempt decides): it lets a blocked caller be refused before anything else is done.
 */
export async function waitBeforeAttempt(db: Db | Tx, keys: AttemptKeys, rules: VelocityRules, now = new Date()): Promise<{ retryAfterSeconds: number; limit: LimitName } | undefined> {
  const waits: Array<{ retryAfterSeconds: number; limit: LimitName }> = [];
  const ceilings: Array<[LimitName, 'user_id' | 'ip' | 'card', string | null, number | undefined]> = [
    ['user', 'user_id', keys.userId, rules.perUser],
    ['ip', 'ip', keys.ip, rules.perIp],
    ['card', 'card', keys.card, rules.perCard],
  ];
  for (const [limit, column, value, ceiling] of ceilings) {
    if (value === null || ceiling === undefined) continue;
    const seconds = await secondsUntilUnder(db, column, value, ceiling, rules, now);
    if (seconds > 0) waits.push({ retryAfterSeconds: seconds, limit });
  }
  if (rules.declineBlock && keys.userId !== null) {
    const seconds = await secondsUntilUnblocked(db, keys.userId, rules, rules.declineBlock, now);
    if (seconds > 0) waits.push({ retryAfterSeconds: seconds, limit: 'declines' });
  }
  return waits.sort((a, b) => b.retryAfterSeconds - a.retryAfterSeconds)[0];
}

/** Zero if the weight within the window is under the ceiling; otherwise the seconds until enough of it has aged out. */
async function secondsUntilUnder(db: Db | Tx, column: 'user_id' | 'ip' | 'card', value: string, ceiling: number, rules: VelocityRules, now: Date): Promise<number> {
  const rows = await db
    .selectFrom('velocity_events')
    .select(['occurred_at', 'weight'])
    .where(column, '=', value)
    .where('action', 'in', rules.actions)
    .where('weight', '>', 0)
    .where('occurred_at', '>', new Date(now.getTime() - rules.windowMs))
    .orderBy('occurred_at')
    .execute();
  let total = rows.reduce((sum, row) => sum + row.weight, 0);
  for (const row of rows) {
    if (total < ceiling) break;
    total -= row.weight;
    if (total < ceiling) return secondsUntil(row.occurred_at, rules.windowMs, now);
  }
  return 0;
}

async function secondsUntilUnblocked(db: Db | Tx, userId: string, rules: VelocityRules, block: { declines: number; periodMs: number }, now: Date): Promise<number> {
  const rows = await db
    .selectFrom('velocity_events')
    .select('occurred_at')
    .where('user_id', '=', userId)
    .where('action', 'in', rules.actions)
    .where('outcome', 'in', ['pending', 'declined'])
    .where('occurred_at', '>', new Date(now.getTime() - block.periodMs))
    .orderBy('occurred_at')
    .execute();
  if (rows.length < block.declines) return 0;
  // Allowed again once only `declines - 1` remain within the period.
  return secondsUntil(rows[rows.length - block.declines]!.occurred_at, block.periodMs, now);
}

async function advisoryLock(trx: Tx, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx);
}

function secondsUntil(occurredAt: Date, periodMs: number, now: Date): number {
  return Math.max(1, Math.ceil((new Date(occurredAt).getTime() + periodMs - now.getTime()) / 1000));
}
