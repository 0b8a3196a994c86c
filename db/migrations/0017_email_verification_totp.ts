/**
 * Email verification and staff second factors (issue #17), and the indexes two more retention purges need.
 *
 * - `users.email_verified_at`: when the account proved it receives mail at its address. Accounts that exist when
 *   this runs are marked verified (they were made before the platform asked); every account made after starts
 *   unverified, whatever code path makes it, so forgetting to ask fails closed.
 * - `email_verifications`: one row per link mailed. Only an HMAC of the link's token is stored (as for sign-in
 *   tokens), so a database leak yields no usable link; a link is used once, expires, and is revoked by a newer one.
 * - `auth_tokens.second_factor_at`: the session passed the second factor (a TOTP code) then; staff routes need it.
 * - `totp_factors`: a staff member's TOTP secret, encrypted (AES-256-GCM, the account id as associated data), and
 *   the last time step whose code was used, so a code is never accepted twice.
 * - Staff audit actions `totp.enrolled` and `totp.reset`.
 */
import { type Kysely, sql } from 'kysely';

const AUDIT_ACTIONS_BEFORE = [
  'refund.requested',
  'settlement.retried',
  'campaign.cancelled',
  'role.granted',
  'role.revoked',
  'dispute.evidence_submitted',
  'dispute.accepted',
  'commission.overridden',
];
const AUDIT_ACTIONS_AFTER = [...AUDIT_ACTIONS_BEFORE, 'totp.enrolled', 'totp.reset'];

const actionCheck = (actions: string[]) => sql.raw(`action in (${actions.map((action) => `'${action}'`).join(', ')})`);

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('email_verified_at', 'timestamptz').execute();
  await sql`update users set email_verified_at = now()`.execute(db);

  await db.schema
    .createTable('email_verifications')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  // The links mailed to an account lately: what the resend limit counts.
  await db.schema.createIndex('email_verifications_user_idx').on('email_verifications').columns(['user_id', 'created_at']).execute();
  // When the link stopped working (least() skips nulls): what its retention purge finds rows by.
  await sql`create index email_verifications_ended_idx on email_verifications ((least(expires_at, used_at, revoked_at)))`.execute(db);

  await db.schema.alterTable('auth_tokens').addColumn('second_factor_at', 'timestamptz').execute();

  await db.schema
    .createTable('totp_factors')
    .addColumn('user_id', 'uuid', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Null while enrolment waits for its first code.
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('last_used_step', 'bigint')
    .execute();

  await sql`alter table staff_audit_log drop constraint staff_audit_action_check`.execute(db);
  await sql`alter table staff_audit_log add constraint staff_audit_action_check check (${actionCheck(AUDIT_ACTIONS_AFTER)})`.execute(db);

  // Retention (activities/retention.ts): velocity events by age, and the pledges still holding a client address.
  await db.schema.createIndex('velocity_events_occurred_idx').on('velocity_events').column('occurred_at').execute();
  await sql`create index pledges_placed_from_ip_idx on pledges (campaign_id) where placed_from_ip is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('pledges_placed_from_ip_idx').execute();
  await db.schema.dropIndex('velocity_events_occurred_idx').execute();
  // The log is append-only: its TOTP entries stay, so the old check is restored without validating them.
  await sql`alter table staff_audit_log drop constraint staff_audit_action_check`.execute(db);
  await sql`alter table staff_audit_log add constraint staff_audit_action_check check (${actionCheck(AUDIT_ACTIONS_BEFORE)}) not valid`.execute(db);
  await db.schema.dropTable('totp_factors').execute();
  await db.schema.alterTable('auth_tokens').dropColumn('second_factor_at').execute();
  await db.schema.dropTable('email_verifications').execute();
  await db.schema.alterTable('users').dropColumn('email_verified_at').execute();
}
