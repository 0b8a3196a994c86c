/**
 * The staff audit log (issue #17): one row per staff action (a refund requested, a settlement retried, a campaign
 * cancelled by ops, a role granted or revoked, dispute evidence submitted or a dispute accepted, a commission
 * overridden): who did it and with which role at the time, when, what, on which object, the details (amounts,
 * reasons, old and new values) and the API request's id. Append-only, as the ledger is: a trigger refuses UPDATE,
 * DELETE and TRUNCATE, so a staff member with write access to the app's tables cannot quietly rewrite it either.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('staff_audit_log')
    // Identity, not a uuid: the audit API pages by it (newest first), and it says the order entries were written in.
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // A staff member (and their role then), or null with a label for the operator's command line (`cli`).
    .addColumn('actor_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('actor_role', 'text')
    // Who, readable after the account changes: the staff member's email then, or `cli`.
    .addColumn('actor_label', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text', (c) => c.notNull())
    .addColumn('object_id', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // The API request's X-Request-Id; null for the command line.
    .addColumn('request_id', 'text')
    .addCheckConstraint('staff_audit_actor_check', sql`(actor_id is null) = (actor_role is null) and (actor_role is null or actor_role in ('user', 'support', 'ops'))`)
    .addCheckConstraint(
      'staff_audit_action_check',
      sql`action in ('refund.requested', 'settlement.retried', 'campaign.cancelled', 'role.granted', 'role.revoked', 'dispute.evidence_submitted', 'dispute.accepted', 'commission.overridden')`,
    )
    .addCheckConstraint('staff_audit_object_type_check', sql`object_type in ('pledge', 'campaign', 'user', 'dispute')`)
    .execute();
  await db.schema.createIndex('staff_audit_log_occurred_idx').on('staff_audit_log').columns(['occurred_at', 'id']).execute();
  await db.schema.createIndex('staff_audit_log_actor_idx').on('staff_audit_log').columns(['actor_id', 'id']).execute();
  await db.schema.createIndex('staff_audit_log_object_idx').on('staff_audit_log').columns(['object_type', 'object_id', 'id']).execute();

  await sql`create function staff_audit_log_append_only() returns trigger language plpgsql as $$
            begin raise exception 'staff_audit_log is append-only'; end $$`.execute(db);
  await sql`create trigger staff_audit_log_no_update_or_delete before update or delete on staff_audit_log
            for each row execute function staff_audit_log_append_only()`.execute(db);
  await sql`create trigger staff_audit_log_no_truncate before truncate on staff_audit_log
            for each statement execute function staff_audit_log_append_only()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('staff_audit_log').execute();
  await sql`drop function staff_audit_log_append_only()`.execute(db);
}
