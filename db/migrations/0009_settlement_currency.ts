/**
 * The ledger in two currencies. `amount` + `currency` stay what they were: the presentment side (the campaign's
 * currency, what the backer paid) for captures and refunds. Each entry now also records what moved in the platform's
 * settlement currency, from Stripe's balance transaction: `settlement_amount` + `settlement_currency`, and the
 * `exchange_rate` Stripe converted at (null when nothing was converted). Entries Stripe makes in the settlement
 * currency only (fees, commission, transfers and their reversals) have both sides equal.
 *
 * Every entry written before this migration was in one currency (the stand-ins and the platform settled in the
 * campaign's currency), so the settlement side is the same amount.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('ledger_entries')
    .addColumn('settlement_amount', 'bigint')
    .addColumn('settlement_currency', 'text')
    .addColumn('exchange_rate', 'numeric')
    .execute();
  // The ledger is append-only (a trigger refuses updates); filling in the new columns of old rows is the one exception.
  await sql`alter table ledger_entries disable trigger ledger_entries_no_update_or_delete`.execute(db);
  await sql`update ledger_entries set settlement_amount = amount, settlement_currency = currency`.execute(db);
  await sql`alter table ledger_entries enable trigger ledger_entries_no_update_or_delete`.execute(db);
  // An entry written without a settlement side was not converted: it settled as it is (old writers, hand-made rows).
  await sql`create function ledger_entries_settlement_defaults() returns trigger language plpgsql as $$
            begin
              new.settlement_amount := coalesce(new.settlement_amount, new.amount);
              new.settlement_currency := coalesce(new.settlement_currency, new.currency);
              return new;
            end $$`.execute(db);
  await sql`create trigger ledger_entries_settlement_defaults before insert on ledger_entries
            for each row execute function ledger_entries_settlement_defaults()`.execute(db);
  await sql`alter table ledger_entries
              alter column settlement_amount set not null,
              alter column settlement_currency set not null,
              add constraint ledger_settlement_amount_non_negative check (settlement_amount >= 0),
              add constraint ledger_exchange_rate_positive check (exchange_rate > 0)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger ledger_entries_settlement_defaults on ledger_entries`.execute(db);
  await sql`drop function ledger_entries_settlement_defaults()`.execute(db);
  await db.schema.alterTable('ledger_entries').dropColumn('settlement_amount').dropColumn('settlement_currency').dropColumn('exchange_rate').execute();
}
