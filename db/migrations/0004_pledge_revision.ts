/** Each change of a held pledge re-authorizes it under a new key: `revision` counts the changes. */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('pledges').addColumn('revision', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await sql`alter table pledges add constraint pledges_revision_non_negative check (revision >= 0)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('pledges').dropColumn('revision').execute();
}
