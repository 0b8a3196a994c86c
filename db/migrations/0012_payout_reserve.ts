/**
 * A reserve against chargebacks (issue #16, PAYOUT_RESERVE_PERCENT / PAYOUT_RESERVE_DAYS). The payout holds part of
 * the creator's money back (`payouts.reserve_amount`); a dispute lost while it is held draws on it first
 * (`disputes.reserve_drawn`, recovery `reserve` when it covers the whole share); what is left goes to the creator by a
 * second transfer when the reserve period ends (`reserve_release_*`). The ledger gains the reserve's own entries,
 * none of which moves money on Stripe: `reserve_held` (at the payout), `reserve_drawn` (per dispute) and
 * `reserve_released` (next to the release's `transfer` entry), so what the platform still holds for the creator is
 * held - drawn - released.
 */
import { type Kysely, sql } from 'kysely';

const KINDS_BEFORE = `'capture', 'refund', 'processing_fee', 'platform_fee', 'platform_fee_reversal', 'transfer', 'transfer_reversal', 'refund_failed', 'dispute_withdrawal', 'dispute_fee', 'dispute_reinstatement'`;
const RESERVE_KINDS = `'reserve_held', 'reserve_drawn', 'reserve_released'`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table ledger_entries drop constraint ledger_kind_check`.execute(db);
  await sql.raw(`alter table ledger_entries add constraint ledger_kind_check check (kind in (${KINDS_BEFORE}, ${RESERVE_KINDS}))`).execute(db);

  await db.schema
    .alterTable('payouts')
    .addColumn('reserve_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    // null: no reserve; held; releasing (the release amount fixed, its transfer under way); released.
    .addColumn('reserve_status', 'text')
    .addColumn('reserve_release_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reserve_release_transfer_id', 'text', (c) => c.unique())
    .addColumn('reserve_release_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reserve_released_at', 'timestamptz')
    .execute();
  await sql`alter table payouts add constraint payouts_reserve_check check (
              reserve_amount >= 0 and reserve_release_amount >= 0 and reserve_release_amount <= reserve_amount
              and reserve_release_attempts >= 0
              and (reserve_status is null or reserve_status in ('held', 'releasing', 'released'))
              and (reserve_status is distinct from 'released' or reserve_release_amount = 0 or reserve_release_transfer_id is not null))`.execute(db);

  await db.schema.alterTable('disputes').addColumn('reserve_drawn', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  await sql`alter table disputes add constraint disputes_reserve_drawn_non_negative check (reserve_drawn >= 0)`.execute(db);
  await sql`alter table disputes drop constraint disputes_recovery_check`.execute(db);
  await sql`alter table disputes add constraint disputes_recovery_check check (recovery in ('payout', 'reserve', 'pending', 'reversed', 'platform', 'not_needed'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table disputes drop constraint disputes_recovery_check`.execute(db);
  await sql`alter table disputes add constraint disputes_recovery_check check (recovery in ('payout', 'pending', 'reversed', 'platform', 'not_needed'))`.execute(db);
  await db.schema.alterTable('disputes').dropColumn('reserve_drawn').execute();
  await sql`alter table payouts drop constraint payouts_reserve_check`.execute(db);
  for (const column of ['reserve_amount', 'reserve_status', 'reserve_release_amount', 'reserve_release_transfer_id', 'reserve_release_attempts', 'reserve_released_at']) {
    await db.schema.alterTable('payouts').dropColumn(column).execute();
  }
  await sql`alter table ledger_entries drop constraint ledger_kind_check`.execute(db);
  await sql.raw(`alter table ledger_entries add constraint ledger_kind_check check (kind in (${KINDS_BEFORE}))`).execute(db);
}
