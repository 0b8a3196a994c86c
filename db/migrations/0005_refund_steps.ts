/**
 * A refund is carried out in recorded steps: the Stripe refund (attempts counted before each call, so a retry knows
 * to look for what an earlier attempt made before trusting an idempotency key Stripe may have forgotten), then,
 * after the payout, the transfer reversal, with its own state and attempt count. A support refund also names the
 * API request that asked for it (staff member and Idempotency-Key), so that request retried is the same refund.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('refunds')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reversal_status', 'text')
    .addColumn('reversal_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('request_key', 'text', (c) => c.unique())
    .execute();
  // Refunds done before this migration made their reversal, if they needed one, in the same step.
  await sql`update refunds set reversal_status = case when transfer_reversal_id is null then 'not_needed' else 'succeeded' end
            where status = 'succeeded'`.execute(db);
  await sql`alter table refunds add constraint refunds_reversal_status_check
            check (reversal_status in ('pending', 'succeeded', 'not_needed'))`.execute(db);
  await sql`alter table refunds add constraint refunds_reversal_succeeded_has_id
            check (reversal_status is distinct from 'succeeded' or transfer_reversal_id is not null)`.execute(db);
  await sql`alter table refunds add constraint refunds_attempts_non_negative check (attempts >= 0 and reversal_attempts >= 0)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('refunds').dropColumn('attempts').dropColumn('reversal_status').dropColumn('reversal_attempts').dropColumn('request_key').execute();
}
