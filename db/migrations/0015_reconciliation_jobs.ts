/**
 * Reconciliation run through the API as a background job (issue #17): reconciling a campaign reads every captured
 * pledge's PaymentIntent from Stripe, far too slow for an HTTP request. One row per run: who asked, its progress,
 * and its result (the report as ops read it) or why it failed. At most one run per campaign is queued or running
 * (a partial unique index de-duplicates requests); `heartbeat_at` is renewed by the API process running it, so a
 * run whose process died is seen as abandoned and replaced.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('reconciliation_jobs')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id'))
    .addColumn('requested_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('queued'))
    .addColumn('pledges_checked', 'integer', (c) => c.notNull().defaultTo(0))
    // Known once the run has listed the campaign's captured pledges.
    .addColumn('pledges_total', 'integer')
    .addColumn('result', 'jsonb')
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('reconciliation_jobs_status_check', sql`status in ('queued', 'running', 'succeeded', 'failed')`)
    .addCheckConstraint('reconciliation_jobs_outcome_check', sql`(status = 'succeeded') = (result is not null) and (status = 'failed') = (error is not null)`)
    .execute();
  await db.schema
    .createIndex('reconciliation_jobs_one_active_idx')
    .on('reconciliation_jobs')
    .column('campaign_id')
    .unique()
    .where(sql<boolean>`status in ('queued', 'running')`)
    .execute();
  await db.schema.createIndex('reconciliation_jobs_campaign_idx').on('reconciliation_jobs').columns(['campaign_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('reconciliation_jobs').execute();
}
