/**
 * Data-retention activities (issue #17): one per table, each purging what is past its period
 * (src/retention/retention-periods.ts) in bounded batches. Every batch is one statement, so its own short
 * transaction: a large backlog is many small transactions that never hold many locks or much WAL at once, and a call
 * stops after `maxBatches` and says whether more is left, so it also fits the activity's timeout; the workflow calls
 * again. Each batch repeats its condition on the outer statement, so a row changed since it was picked (a parked
 * notification given another try) is left alone. Idempotent: a retried call finds less to do.
 */
import { sql } from 'kysely';
import {
  DEAD_AUTH_TOKEN_RETENTION_MS,
  DEAD_VERIFICATION_LINK_RETENTION_MS,
  FINISHED_NOTIFICATION_RETENTION_MS,
  IDEMPOTENCY_KEY_RETENTION_MS,
  LOGIN_ATTEMPT_RETENTION_MS,
  PLEDGE_IP_RETENTION_MS,
  STRIPE_EVENT_PAYLOAD_RETENTION_MS,
  VELOCITY_EVENT_RETENTION_MS,
} from '../src/retention/retention-periods';
import { type ActivityDeps } from './deps';

export interface RetentionRound {
  /**
   * The moment the periods count back from: the workflow's clock when the round began (the wall clock, except in
   * time-skipping tests), fixed for the round so a retried call purges the same.
   */
  asOf: string;
  /** Rows per statement. */
  batchSize: number;
  /** Statements per call. */
  maxBatches: number;
}

export interface RetentionResult {
  /** Rows deleted (or, for Stripe events, payloads dropped) by this call. */
  rows: number;
  /** The last batch was full: there may be more past retention, and the workflow calls again without sleeping. */
  more: boolean;
}

/** Expressions the purges and their indexes (migration 0016) share: a query uses an index only if it says the same. */
const AUTH_TOKEN_ENDED_AT = sql<Date>`least(expires_at, revoked_at)`;
const NOTIFICATION_FINISHED_AT = sql<Date>`coalesce(sent_at, parked_at)`;
/** When a verification link stopped working (migration 0017's index): used, replaced or expired, whichever first. */
const VERIFICATION_LINK_ENDED_AT = sql<Date>`least(expires_at, used_at, revoked_at)`;
/** When a pledge's money was settled: its campaign's outcome, or its capture if later (greatest() skips nulls). */
const PLEDGE_SETTLED_AT = sql<Date>`greatest(coalesce(campaigns.funded_at, campaigns.failed_at, campaigns.cancelled_at), pledges.captured_at)`;
const SETTLED_CAMPAIGN_STATUSES = ['funded', 'failed', 'cancelled'] as const;
const PLEDGE_STATUSES_BEING_PLACED = ['pending', 'requires_action'] as const;

export function createRetentionActivities({ database }: Pick<ActivityDeps, 'database'>) {
  const db = database.db;

  return {
    /** Drops the payload of webhook events past retention; the row stays, so a replay of its id is still a no-op. */
    async dropStripeEventPayloads(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, STRIPE_EVENT_PAYLOAD_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .updateTable('stripe_events')
          .set({ payload: null })
          .where('id', 'in', (eb) =>
            eb.selectFrom('stripe_events').select('id').where('payload', 'is not', null).where('received_at', '<', cutoff).orderBy('received_at').limit(limit),
          )
          .where('payload', 'is not', null)
          .where('received_at', '<', cutoff)
          .executeTakeFirst();
        return Number(result.numUpdatedRows);
      });
    },

    async purgeLoginAttempts(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, LOGIN_ATTEMPT_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .deleteFrom('login_attempts')
          .where('id', 'in', (eb) => eb.selectFrom('login_attempts').select('id').where('attempted_at', '<', cutoff).orderBy('attempted_at').limit(limit))
          .where('attempted_at', '<', cutoff)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },

    async purgeIdempotencyKeys(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, IDEMPOTENCY_KEY_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .deleteFrom('idempotency_keys')
          .where((eb) =>
            eb(
              eb.refTuple('user_id', 'key'),
              'in',
              eb.selectFrom('idempotency_keys').select(['user_id', 'key']).where('created_at', '<', cutoff).orderBy('created_at').limit(limit).$asTuple('user_id', 'key'),
            ),
          )
          .where('created_at', '<', cutoff)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },

    /** Tokens that stopped working (expired or revoked, whichever came first) longer ago than the retention. */
    async purgeDeadAuthTokens(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, DEAD_AUTH_TOKEN_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .deleteFrom('auth_tokens')
          .where('id', 'in', (eb) => eb.selectFrom('auth_tokens').select('id').where(AUTH_TOKEN_ENDED_AT, '<', cutoff).orderBy(AUTH_TOKEN_ENDED_AT).limit(limit))
          .where(AUTH_TOKEN_ENDED_AT, '<', cutoff)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },

    /** Notifications sent, or parked, longer ago than the retention; those still to be delivered stay. */
    async purgeFinishedNotifications(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, FINISHED_NOTIFICATION_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .deleteFrom('notifications')
          .where('id', 'in', (eb) =>
            eb
              .selectFrom('notifications')
              .select('id')
              .where((w) => w.or([w('sent_at', 'is not', null), w('parked_at', 'is not', null)]))
              .where(NOTIFICATION_FINISHED_AT, '<', cutoff)
              .orderBy(NOTIFICATION_FINISHED_AT)
              .limit(limit),
          )
          .where((w) => w.or([w('sent_at', 'is not', null), w('parked_at', 'is not', null)]))
          .where(NOTIFICATION_FINISHED_AT, '<', cutoff)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },

    async purgeVelocityEvents(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, VELOCITY_EVENT_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .deleteFrom('velocity_events')
          .where('id', 'in', (eb) => eb.selectFrom('velocity_events').select('id').where('occurred_at', '<', cutoff).orderBy('occurred_at').limit(limit))
          .where('occurred_at', '<', cutoff)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },

    /** Clears the client address of pledges settled longer ago than the retention; the pledge itself stays. */
    async clearPledgeIps(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, PLEDGE_IP_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .updateTable('pledges')
          .from('campaigns')
          .set({ placed_from_ip: null })
          .whereRef('campaigns.id', '=', 'pledges.campaign_id')
          .where('pledges.id', 'in', (eb) =>
            eb
              .selectFrom('pledges')
              .innerJoin('campaigns', 'campaigns.id', 'pledges.campaign_id')
              .select('pledges.id')
              .where('pledges.placed_from_ip', 'is not', null)
              .where('pledges.status', 'not in', PLEDGE_STATUSES_BEING_PLACED)
              .where('campaigns.status', 'in', SETTLED_CAMPAIGN_STATUSES)
              .where(PLEDGE_SETTLED_AT, '<', cutoff)
              .limit(limit),
          )
          .where('pledges.placed_from_ip', 'is not', null)
          .where('pledges.status', 'not in', PLEDGE_STATUSES_BEING_PLACED)
          .where('campaigns.status', 'in', SETTLED_CAMPAIGN_STATUSES)
          .where(PLEDGE_SETTLED_AT, '<', cutoff)
          .executeTakeFirst();
        return Number(result.numUpdatedRows);
      });
    },

    /** Email verification links that stopped working longer ago than the retention. */
    async purgeDeadVerificationLinks(round: RetentionRound): Promise<RetentionResult> {
      const cutoff = cutoffOf(round, DEAD_VERIFICATION_LINK_RETENTION_MS);
      return inBatches(round, async (limit) => {
        const result = await db
          .deleteFrom('email_verifications')
          .where('id', 'in', (eb) =>
            eb.selectFrom('email_verifications').select('id').where(VERIFICATION_LINK_ENDED_AT, '<', cutoff).orderBy(VERIFICATION_LINK_ENDED_AT).limit(limit),
          )
          .where(VERIFICATION_LINK_ENDED_AT, '<', cutoff)
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },
  };
}

/** Runs `batch` (one statement of at most `limit` rows, returning how many it touched) until a batch is not full. */
async function inBatches(round: RetentionRound, batch: (limit: number) => Promise<number>): Promise<RetentionResult> {
  let rows = 0;
  for (let done = 0; done < round.maxBatches; done++) {
    const touched = await batch(round.batchSize);
    rows += touched;
    if (touched < round.batchSize) return { rows, more: false };
  }
  return { rows, more: true };
}

function cutoffOf(round: RetentionRound, retentionMs: number): Date {
  const asOf = new Date(round.asOf);
  if (Number.isNaN(asOf.getTime())) throw new TypeError(`asOf is not a time: ${round.asOf}`);
  return new Date(asOf.getTime() - retentionMs);
}
