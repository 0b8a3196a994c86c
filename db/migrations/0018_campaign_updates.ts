/**
 * Creator updates to backers (issue #21). An update is numbered per campaign (Kickstarter's "Update #3"), stored
 * as the markdown the creator wrote (never rendered to HTML here), and mailed to the campaign's backers by a
 * durable workflow (`campaign-update-<id>`) that pages through them: its progress is on the row (`send_cursor` is
 * the last backer whose mail is queued, so a retried or restarted send goes on from there). `request_key` is the
 * creator's Idempotency-Key: the same POST again finds its update, even after the API's key record is purged.
 * A backer who unsubscribes from a campaign's updates is one `campaign_unsubscribes` row.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('campaign_updates')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id'))
    .addColumn('author_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('audience', 'text', (c) => c.notNull())
    .addColumn('request_key', 'text', (c) => c.unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('send_status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('send_cursor', 'uuid')
    .addColumn('recipients_queued', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('pages_queued', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('send_started_at', 'timestamptz')
    .addColumn('send_finished_at', 'timestamptz')
    // Also the index of the campaign's updates, newest first, in keyset pages.
    .addUniqueConstraint('campaign_updates_number_unique', ['campaign_id', 'number'])
    .addCheckConstraint('campaign_updates_audience_check', sql`audience in ('public', 'backers')`)
    // The API's limits, kept by the table too (Postgres counts code points: never more than the API's count).
    .addCheckConstraint('campaign_updates_title_length', sql`char_length(title) between 1 and 200`)
    .addCheckConstraint('campaign_updates_body_length', sql`char_length(body) between 1 and 20000`)
    // pending: written, its send workflow not known to have started; sending: started; sent: every backer's mail is
    // in the outbox (delivery is the outbox's business).
    .addCheckConstraint('campaign_updates_send_status_check', sql`send_status in ('pending', 'sending', 'sent')`)
    .addCheckConstraint('campaign_updates_progress_non_negative', sql`recipients_queued >= 0 and pages_queued >= 0`)
    .execute();
  // Updates whose send may never have started (the API lost the start): what a retry looks for.
  await sql`create index campaign_updates_unsent_idx on campaign_updates (campaign_id) where send_status = 'pending'`.execute(db);

  await db.schema
    .createTable('campaign_unsubscribes')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('campaign_unsubscribes_pkey', ['user_id', 'campaign_id'])
    .execute();

  // The send's keyset over a campaign's backers (one mail per backer, whatever their pledges): a range scan per page
  // instead of reading and sorting all of the campaign's pledges for each one. Plain, as migrations run in a
  // transaction, so pledge writes wait while it is built: on a large table, create it CONCURRENTLY by hand first.
  await db.schema.createIndex('pledges_campaign_backer_idx').ifNotExists().on('pledges').columns(['campaign_id', 'backer_id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('pledges_campaign_backer_idx').execute();
  await db.schema.dropTable('campaign_unsubscribes').execute();
  await db.schema.dropTable('campaign_updates').execute();
}
