/**
 * Payouts are sent in versions. Each version is one Stripe Transfer request with its own amount and idempotency key
 * (`payout_attempts`); a new version is made only after Stripe refused the previous one definitively, with the amount
 * worked out again from the ledger, so a refund that landed meanwhile is taken off. At most one version is live
 * (pending or paid) at a time, so two versions can never both reach the creator.
 *
 * Captures also record when their funds become available on Stripe (`ledger_entries.available_on`, from the charge's
 * balance transaction): a campaign is paid only from its own available funds, not the platform's pooled balance.
 */
import { type Kysely, sql } from 'kysely';

const now = sql`now()`;
const uuid = sql`gen_random_uuid()`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('ledger_entries').addColumn('available_on', 'timestamptz').execute();
  // Still append-only, with one exception: a capture recorded before `available_on` was kept gets it filled in once.
  await sql`create or replace function ledger_entries_append_only() returns trigger language plpgsql as $$
            begin
              if tg_op = 'UPDATE' and old.available_on is null and new.available_on is not null
                 and to_jsonb(new) - 'available_on' = to_jsonb(old) - 'available_on' then
                return new;
              end if;
              raise exception 'ledger_entries is append-only';
            end $$`.execute(db);

  await db.schema.alterTable('payouts').addColumn('version', 'integer', (c) => c.notNull().defaultTo(1)).execute();
  await sql`alter table payouts add constraint payouts_version_positive check (version >= 1)`.execute(db);

  await db.schema
    .createTable('payout_attempts')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('payout_id', 'uuid', (c) => c.notNull().references('payouts.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('platform_fee', 'bigint', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('failure_code', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('stripe_transfer_id', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('completed_at', 'timestamptz')
    .addUniqueConstraint('payout_attempts_version_unique', ['payout_id', 'version'])
    .addCheckConstraint('payout_attempts_version_positive', sql`version >= 1`)
    .addCheckConstraint('payout_attempts_amounts_non_negative', sql`amount >= 0 and platform_fee >= 0`)
    // pending: sent or about to be, outcome not known yet; refused: Stripe said no, for good; paid: the transfer exists.
    .addCheckConstraint('payout_attempts_status_check', sql`status in ('pending', 'refused', 'paid')`)
    .addCheckConstraint('payout_attempts_paid_has_transfer', sql`status <> 'paid' or stripe_transfer_id is not null`)
    .execute();
  // A version whose outcome is unknown may still go through: no next version while it (or a paid one) exists.
  await sql`create unique index payout_attempts_one_live on payout_attempts (payout_id) where status <> 'refused'`.execute(db);

  // Payouts made before versions existed become their version 1, with the key they were sent with.
  await sql`insert into payout_attempts (payout_id, version, amount, platform_fee, idempotency_key, status, stripe_transfer_id, created_at, completed_at)
            select id, 1, amount, platform_fee, idempotency_key,
                   case status when 'paid' then 'paid' when 'failed' then 'refused' else 'pending' end,
                   stripe_transfer_id, created_at, paid_at
            from payouts`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('payout_attempts').execute();
  await db.schema.alterTable('payouts').dropColumn('version').execute();
  await sql`create or replace function ledger_entries_append_only() returns trigger language plpgsql as $$
            begin raise exception 'ledger_entries is append-only'; end $$`.execute(db);
  await db.schema.alterTable('ledger_entries').dropColumn('available_on').execute();
}
