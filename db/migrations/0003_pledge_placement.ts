/**
 * How a pledge was placed (hold, saved card, or charge) and with which card, recorded with the pending row before
 * Stripe is called: the sweep re-issues exactly the same request (same key, same parameters) to learn what Stripe did.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('pledges').addColumn('placement', 'text').execute();
  await sql`alter table pledges add constraint pledges_placement_check check (placement in ('hold', 'save', 'charge'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('pledges').dropColumn('placement').execute();
}
