/**
 * Cancelling and changing a pledge decide under the campaign lock, and Stripe hears of it afterwards:
 * - `hold_release_pending`: a cancelled pledge whose holds Stripe may still have (the cancellation did not reach it);
 *   the pending-pledge sweep releases them.
 * - `pending_*`: a change of amount waiting for the backer's 3-D Secure; the pledge switches to that hold (and to
 *   `pending_reward_id`, whose unit the change already claimed) only once Stripe authorized it.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('pledges')
    .addColumn('hold_release_pending', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('pending_payment_intent_id', 'text', (c) => c.unique())
    .addColumn('pending_amount', 'bigint')
    .addColumn('pending_reward_id', 'uuid', (c) => c.references('rewards.id'))
    .execute();
  await sql`alter table pledges add constraint pledges_pending_change_check
            check (pending_payment_intent_id is not null or (pending_amount is null and pending_reward_id is null))`.execute(db);
  await sql`alter table pledges add constraint pledges_pending_amount_positive check (pending_amount > 0)`.execute(db);
  await sql`create index pledges_hold_release_idx on pledges (cancelled_at) where hold_release_pending`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('pledges').dropColumn('hold_release_pending').dropColumn('pending_payment_intent_id').dropColumn('pending_amount').dropColumn('pending_reward_id').execute();
}
