/**
 * Refunds that fail after Stripe made them (https://docs.stripe.com/refunds#failed-refunds): the card network
 * returns the money days later, Stripe puts it back on the platform's balance and says why. The ledger gains the
 * kind 'refund_failed' (that money back with the platform), and a refund row keeps what its failure undid:
 * Stripe's own status of a made refund (`pending` until the bank confirms), the failure's reason and time, and the
 * creator's share paid again by a transfer of its own when the payout had already gone out (Stripe cannot undo a
 * transfer reversal).
 */
import { type Kysely, sql } from 'kysely';

const KINDS_BEFORE = `'capture', 'refund', 'processing_fee', 'platform_fee', 'platform_fee_reversal', 'transfer', 'transfer_reversal'`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table ledger_entries drop constraint ledger_kind_check`.execute(db);
  await sql`alter table ledger_entries add constraint ledger_kind_check check (kind in (${sql.raw(KINDS_BEFORE)}, 'refund_failed'))`.execute(db);
  await db.schema
    .alterTable('refunds')
    .addColumn('stripe_status', 'text')
    .addColumn('failure_reason', 'text')
    .addColumn('failed_at', 'timestamptz')
    .addColumn('restore_amount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('restore_status', 'text')
    .addColumn('restore_transfer_id', 'text')
    .addColumn('restore_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update refunds set stripe_status = 'succeeded' where status = 'succeeded'`.execute(db);
  await sql`alter table refunds add constraint refunds_stripe_status_check check (stripe_status in ('pending', 'requires_action', 'succeeded', 'failed', 'canceled'))`.execute(db);
  await sql`alter table refunds add constraint refunds_restore_status_check check (restore_status in ('pending', 'succeeded'))`.execute(db);
  await sql`alter table refunds add constraint refunds_restore_non_negative check (restore_amount >= 0 and restore_attempts >= 0)`.execute(db);
  await sql`alter table refunds add constraint refunds_restore_succeeded_has_id
            check (restore_status is distinct from 'succeeded' or restore_transfer_id is not null)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('refunds')
    .dropColumn('stripe_status')
    .dropColumn('failure_reason')
    .dropColumn('failed_at')
    .dropColumn('restore_amount')
    .dropColumn('restore_status')
    .dropColumn('restore_transfer_id')
    .dropColumn('restore_attempts')
    .execute();
  await sql`alter table ledger_entries drop constraint ledger_kind_check`.execute(db);
  await sql`alter table ledger_entries add constraint ledger_kind_check check (kind in (${sql.raw(KINDS_BEFORE)}))`.execute(db);
}
