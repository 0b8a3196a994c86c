/**
 * Chargebacks (issue #16). A `disputes` row per Stripe dispute, written from Stripe's current object each time one of
 * its events arrives: what is disputed (presentment amount and currency), what Stripe withdrew and charged for it
 * (settlement currency, from the dispute's balance transactions), where it stands, when evidence is due, and how the
 * loss was recovered. The ledger gains the money Stripe moves for a dispute: the withdrawal, the 15.00 USD fee and,
 * when the dispute is won, the reinstatement. A disputed pledge keeps its status (its money was still collected) and
 * gets `disputed_at`.
 */
import { type Kysely, sql } from 'kysely';

const now = sql`now()`;
const uuid = sql`gen_random_uuid()`;

const KINDS_BEFORE = `'capture', 'refund', 'processing_fee', 'platform_fee', 'platform_fee_reversal', 'transfer', 'transfer_reversal', 'refund_failed'`;
const DISPUTE_KINDS = `'dispute_withdrawal', 'dispute_fee', 'dispute_reinstatement'`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table ledger_entries drop constraint ledger_kind_check`.execute(db);
  await sql.raw(`alter table ledger_entries add constraint ledger_kind_check check (kind in (${KINDS_BEFORE}, ${DISPUTE_KINDS}))`).execute(db);

  await db.schema.alterTable('pledges').addColumn('disputed_at', 'timestamptz').execute();

  await db.schema
    .createTable('disputes')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('stripe_dispute_id', 'text', (c) => c.notNull().unique())
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id'))
    .addColumn('pledge_id', 'uuid', (c) => c.notNull().references('pledges.id'))
    .addColumn('charge_id', 'text', (c) => c.notNull())
    .addColumn('payment_intent_id', 'text')
    // What the backer disputes, in the charge's (presentment) currency.
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    // What Stripe withdrew and its dispute fee, in the platform's settlement currency (null: nothing withdrawn yet).
    .addColumn('settlement_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('fee', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('settlement_currency', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('evidence_due_by', 'timestamptz')
    .addColumn('evidence_submitted_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('closed_at', 'timestamptz')
    // Decided once, when the dispute is lost or won:
    // payout: lost before the payout, taken off it; pending/reversed: lost after it, the creator's share taken back
    // by a transfer reversal (owed / made); platform: the platform bears it (DISPUTE_RECOVERY=platform);
    // not_needed: won (or nothing to take back).
    .addColumn('recovery', 'text')
    .addColumn('recovery_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('platform_fee_reversal', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('recovery_reversal_id', 'text', (c) => c.unique())
    .addColumn('recovery_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addCheckConstraint('disputes_amounts_non_negative', sql`amount > 0 and settlement_amount >= 0 and fee >= 0 and recovery_amount >= 0 and platform_fee_reversal >= 0`)
    .addCheckConstraint('disputes_currency_check', sql`currency ~ '^[A-Z]{3}$' and (settlement_currency is null or settlement_currency ~ '^[A-Z]{3}$')`)
    .addCheckConstraint(
      'disputes_status_check',
      sql`status in ('warning_needs_response', 'warning_under_review', 'warning_closed', 'needs_response', 'under_review', 'won', 'lost', 'prevented')`,
    )
    .addCheckConstraint('disputes_recovery_check', sql`recovery in ('payout', 'pending', 'reversed', 'platform', 'not_needed')`)
    .addCheckConstraint('disputes_reversed_has_id', sql`recovery is distinct from 'reversed' or recovery_reversal_id is not null`)
    .addCheckConstraint('disputes_attempts_non_negative', sql`recovery_attempts >= 0`)
    .execute();
  await db.schema.createIndex('disputes_campaign_idx').on('disputes').column('campaign_id').execute();
  await db.schema.createIndex('disputes_pledge_idx').on('disputes').column('pledge_id').execute();
  // Support's queue: open disputes, the most urgent first.
  await db.schema.createIndex('disputes_queue_idx').on('disputes').columns(['status', 'evidence_due_by', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('disputes').execute();
  await db.schema.alterTable('pledges').dropColumn('disputed_at').execute();
  await sql`alter table ledger_entries drop constraint ledger_kind_check`.execute(db);
  await sql.raw(`alter table ledger_entries add constraint ledger_kind_check check (kind in (${KINDS_BEFORE}))`).execute(db);
}
