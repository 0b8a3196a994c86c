/**
 * Notification delivery backs off per message: a failed mail is due again at `next_attempt_at` (exponential
 * back-off), and after too many attempts it is parked (`parked_at`) for ops instead of being retried forever.
 * The outbox is drained by due time, so failing mails no longer sit in front of the others.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('notifications')
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('parked_at', 'timestamptz')
    .execute();
  await sql`drop index notifications_unsent_idx`.execute(db);
  await sql`create index notifications_due_idx on notifications (next_attempt_at, id) where sent_at is null and parked_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index notifications_due_idx`.execute(db);
  await sql`create index notifications_unsent_idx on notifications (id) where sent_at is null`.execute(db);
  await db.schema.alterTable('notifications').dropColumn('parked_at').dropColumn('next_attempt_at').execute();
}
