/**
 * Data retention (issue #17): a Stripe event's payload may be dropped while its id row stays, and each purge of the
 * data-retention workflow (activities/retention.ts) finds its oldest rows by an index instead of scanning the table.
 * The expressions are the purges' own, word for word, or Postgres would not use them. Plain (not CONCURRENTLY):
 * migrations run in a transaction, and these tables are small next to the pledges.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('stripe_events').alterColumn('payload', (c) => c.dropNotNull()).execute();
  await sql`create index stripe_events_payload_received_idx on stripe_events (received_at) where payload is not null`.execute(db);
  await db.schema.createIndex('login_attempts_attempted_idx').on('login_attempts').column('attempted_at').execute();
  await db.schema.createIndex('idempotency_keys_created_idx').on('idempotency_keys').column('created_at').execute();
  // When the token stopped working: least() skips a null revoked_at.
  await sql`create index auth_tokens_ended_idx on auth_tokens ((least(expires_at, revoked_at)))`.execute(db);
  // When delivery finished, sent or parked; messages still to be delivered are not in this index.
  await sql`create index notifications_finished_idx on notifications ((coalesce(sent_at, parked_at)))
            where sent_at is not null or parked_at is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of ['notifications_finished_idx', 'auth_tokens_ended_idx', 'idempotency_keys_created_idx', 'login_attempts_attempted_idx', 'stripe_events_payload_received_idx']) {
    await db.schema.dropIndex(index).execute();
  }
  // Payloads already dropped cannot come back: what is left of them is the id and type.
  await sql`update stripe_events set payload = jsonb_build_object('id', id, 'type', type) where payload is null`.execute(db);
  await db.schema.alterTable('stripe_events').alterColumn('payload', (c) => c.setNotNull()).execute();
}
