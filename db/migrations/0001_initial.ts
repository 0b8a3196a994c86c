/**
 * The initial schema. Migrations are frozen in time: they take Kysely<any> and never import the app's types.
 *
 * Money is bigint minor units. The rules that protect money are enforced here as well as in code: status CHECKs,
 * non-negative amounts, `claimed_qty <= limit_qty`, one live pledge per backer per campaign, an append-only
 * ledger, and unique Stripe ids and idempotency keys so that a retried write cannot record a movement twice.
 */
import { type Kysely, sql } from 'kysely';

const now = sql`now()`;
const uuid = sql`gen_random_uuid()`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('user'))
    .addColumn('stripe_customer_id', 'text', (c) => c.unique())
    .addColumn('stripe_account_id', 'text', (c) => c.unique())
    .addColumn('charges_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('payouts_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('details_submitted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('users_role_check', sql`role in ('user', 'support', 'ops')`)
    .addCheckConstraint('users_email_check', sql`email = btrim(email) and email like '%_@_%'`)
    .execute();
  // Emails are unique whatever their case.
  await db.schema.createIndex('users_email_unique').on('users').expression(sql`lower(email)`).unique().execute();

  await db.schema
    .createTable('auth_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('auth_tokens_user_idx').on('auth_tokens').column('user_id').execute();

  await db.schema
    .createTable('login_attempts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('succeeded', 'boolean', (c) => c.notNull())
    .addColumn('attempted_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .execute();
  await db.schema.createIndex('login_attempts_email_idx').on('login_attempts').columns(['email', 'attempted_at']).execute();
  await db.schema.createIndex('login_attempts_ip_idx').on('login_attempts').columns(['ip', 'attempted_at']).execute();

  await db.schema
    .createTable('campaigns')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('creator_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('goal_amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('draft'))
    .addColumn('platform_fee_bps', 'integer', (c) => c.notNull().defaultTo(600))
    .addColumn('refund_terms', 'text')
    .addColumn('starts_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ends_at', 'timestamptz', (c) => c.notNull())
    .addColumn('workflow_id', 'text', (c) => c.unique())
    .addColumn('cancel_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    // One timestamp per transition, so support can tell when each phase began.
    .addColumn('published_at', 'timestamptz')
    .addColumn('activated_at', 'timestamptz')
    .addColumn('settling_at', 'timestamptz')
    .addColumn('funded_at', 'timestamptz')
    .addColumn('failed_at', 'timestamptz')
    .addColumn('cancelled_at', 'timestamptz')
    .addColumn('paid_out_at', 'timestamptz')
    .addColumn('closed_at', 'timestamptz')
    .addCheckConstraint('campaigns_goal_positive', sql`goal_amount > 0`)
    .addCheckConstraint('campaigns_currency_check', sql`currency ~ '^[A-Z]{3}$'`)
    .addCheckConstraint('campaigns_model_check', sql`model in ('aon', 'kia', 'hybrid')`)
    .addCheckConstraint(
      'campaigns_status_check',
      sql`status in ('draft', 'scheduled', 'active', 'settling', 'funded', 'failed', 'cancelled')`,
    )
    .addCheckConstraint('campaigns_fee_check', sql`platform_fee_bps between 500 and 800`)
    .addCheckConstraint('campaigns_dates_check', sql`ends_at > starts_at`)
    .addCheckConstraint('campaigns_slug_check', sql`slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'`)
    // Keep-it-all charges at pledge time, so its refund terms must be explicit and stored with the campaign.
    .addCheckConstraint('campaigns_kia_refund_terms', sql`model <> 'kia' or coalesce(length(btrim(refund_terms)), 0) > 0`)
    .execute();
  await db.schema.createIndex('campaigns_creator_idx').on('campaigns').column('creator_id').execute();
  await db.schema.createIndex('campaigns_listing_idx').on('campaigns').columns(['status', 'created_at', 'id']).execute();
  await db.schema.createIndex('campaigns_created_idx').on('campaigns').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('rewards')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('min_pledge', 'bigint', (c) => c.notNull())
    .addColumn('limit_qty', 'integer')
    .addColumn('claimed_qty', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ships_at', 'date')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('rewards_min_pledge_positive', sql`min_pledge > 0`)
    .addCheckConstraint('rewards_limit_positive', sql`limit_qty is null or limit_qty > 0`)
    .addCheckConstraint('rewards_claimed_non_negative', sql`claimed_qty >= 0`)
    // Never oversold, whatever the concurrency: claims are `update ... set claimed_qty = claimed_qty + 1`.
    .addCheckConstraint('rewards_claimed_within_limit', sql`limit_qty is null or claimed_qty <= limit_qty`)
    .execute();
  await db.schema.createIndex('rewards_campaign_idx').on('rewards').column('campaign_id').execute();

  await db.schema
    .createTable('stretch_goals')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('target_amount', 'bigint', (c) => c.notNull())
    .addColumn('unlocked_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addCheckConstraint('stretch_goals_target_positive', sql`target_amount > 0`)
    .addUniqueConstraint('stretch_goals_target_unique', ['campaign_id', 'target_amount'])
    .execute();

  await db.schema
    .createTable('pledges')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id'))
    .addColumn('backer_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('reward_id', 'uuid', (c) => c.references('rewards.id'))
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('payment_method_id', 'text')
    .addColumn('payment_intent_id', 'text', (c) => c.unique())
    .addColumn('setup_intent_id', 'text', (c) => c.unique())
    .addColumn('hold_expires_at', 'timestamptz')
    .addColumn('amount_captured', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('amount_refunded', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('processing_fee', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('failure_code', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('settlement_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('grace_ends_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('authorized_at', 'timestamptz')
    .addColumn('captured_at', 'timestamptz')
    .addColumn('errored_at', 'timestamptz')
    .addColumn('dropped_at', 'timestamptz')
    .addColumn('released_at', 'timestamptz')
    .addColumn('cancelled_at', 'timestamptz')
    .addColumn('refunded_at', 'timestamptz')
    .addCheckConstraint('pledges_amount_positive', sql`amount > 0`)
    .addCheckConstraint('pledges_currency_check', sql`currency ~ '^[A-Z]{3}$'`)
    .addCheckConstraint(
      'pledges_status_check',
      // pending: row written, Stripe not yet answered; requires_action: 3-D Secure outstanding;
      // authorized: a hold or a card saved for off-session charge; captured: money collected;
      // errored: the charge failed and the backer may fix it within the grace window; dropped: the window passed;
      // released: hold cancelled because the campaign did not fund; cancelled: by the backer; failed: declined
      // at placement; refunded: fully refunded (a partial refund keeps `captured`).
      sql`status in ('pending', 'requires_action', 'authorized', 'captured', 'errored', 'dropped', 'released', 'cancelled', 'failed', 'refunded')`,
    )
    .addCheckConstraint('pledges_captured_range', sql`amount_captured >= 0 and amount_captured <= amount`)
    .addCheckConstraint('pledges_refunded_range', sql`amount_refunded >= 0 and amount_refunded <= amount_captured`)
    .addCheckConstraint('pledges_fee_non_negative', sql`processing_fee >= 0`)
    .addCheckConstraint('pledges_attempts_non_negative', sql`settlement_attempts >= 0`)
    .execute();
  // The deadline tally reads only live money: an index-only scan over this partial index.
  await sql`create index pledges_live_idx on pledges (campaign_id, status) include (amount)
            where status in ('authorized', 'captured')`.execute(db);
  // Exactly one live pledge per backer per campaign: a backer changes a pledge rather than adding a second.
  await sql`create unique index pledges_one_live_per_backer on pledges (campaign_id, backer_id)
            where status in ('pending', 'requires_action', 'authorized', 'captured', 'errored')`.execute(db);
  await db.schema.createIndex('pledges_backer_idx').on('pledges').columns(['backer_id', 'created_at']).execute();
  await db.schema.createIndex('pledges_campaign_idx').on('pledges').columns(['campaign_id', 'id']).execute();
  await sql`create index pledges_pending_idx on pledges (created_at) where status in ('pending', 'requires_action')`.execute(db);

  await db.schema
    .createTable('payouts')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().unique().references('campaigns.id'))
    .addColumn('destination_account_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('gross_captured', 'bigint', (c) => c.notNull())
    .addColumn('refunded', 'bigint', (c) => c.notNull())
    .addColumn('platform_fee', 'bigint', (c) => c.notNull())
    .addColumn('processing_fees', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('stripe_transfer_id', 'text', (c) => c.unique())
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('paid_at', 'timestamptz')
    .addCheckConstraint('payouts_status_check', sql`status in ('pending', 'paid', 'failed')`)
    .addCheckConstraint(
      'payouts_amounts_non_negative',
      sql`amount >= 0 and gross_captured >= 0 and refunded >= 0 and platform_fee >= 0 and processing_fees >= 0`,
    )
    .addCheckConstraint('payouts_paid_has_transfer', sql`status <> 'paid' or stripe_transfer_id is not null`)
    .execute();

  await db.schema
    .createTable('refunds')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(uuid))
    .addColumn('pledge_id', 'uuid', (c) => c.notNull().references('pledges.id'))
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('requested'))
    .addColumn('stripe_refund_id', 'text', (c) => c.unique())
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('transfer_reversal_id', 'text', (c) => c.unique())
    .addColumn('transfer_reversal_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('failure_message', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('completed_at', 'timestamptz')
    .addCheckConstraint('refunds_amount_positive', sql`amount > 0`)
    .addCheckConstraint('refunds_reversal_non_negative', sql`transfer_reversal_amount >= 0`)
    .addCheckConstraint('refunds_status_check', sql`status in ('requested', 'succeeded', 'failed')`)
    .addCheckConstraint('refunds_succeeded_has_stripe_id', sql`status <> 'succeeded' or stripe_refund_id is not null`)
    .execute();
  await db.schema.createIndex('refunds_pledge_idx').on('refunds').column('pledge_id').execute();

  await db.schema
    .createTable('ledger_entries')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id'))
    .addColumn('pledge_id', 'uuid', (c) => c.references('pledges.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('stripe_object_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    // Amounts are magnitudes; the kind says which way the money moved.
    .addCheckConstraint('ledger_amount_non_negative', sql`amount >= 0`)
    .addCheckConstraint(
      'ledger_kind_check',
      sql`kind in ('capture', 'refund', 'processing_fee', 'platform_fee', 'platform_fee_reversal', 'transfer', 'transfer_reversal')`,
    )
    // A Stripe object moves money of one kind once: a retried activity cannot book it twice.
    .addUniqueConstraint('ledger_entries_once', ['kind', 'stripe_object_id'])
    .execute();
  await db.schema.createIndex('ledger_entries_campaign_idx').on('ledger_entries').columns(['campaign_id', 'id']).execute();
  // Append-only: corrections are new entries, never edits.
  await sql`create function ledger_entries_append_only() returns trigger language plpgsql as $$
            begin raise exception 'ledger_entries is append-only'; end $$`.execute(db);
  await sql`create trigger ledger_entries_no_update_or_delete before update or delete on ledger_entries
            for each row execute function ledger_entries_append_only()`.execute(db);

  await db.schema
    .createTable('stripe_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('processed_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('notifications')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('recipient_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('template', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // Business key of the event being told (e.g. `pledge-<id>-receipt`): a retried write does not mail twice.
    .addColumn('dedupe_key', 'text', (c) => c.notNull().unique())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('sent_at', 'timestamptz')
    .execute();
  await sql`create index notifications_unsent_idx on notifications (id) where sent_at is null`.execute(db);

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    // Null while the first request is still running.
    .addColumn('response_status', 'integer')
    .addColumn('response_body', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('completed_at', 'timestamptz')
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['user_id', 'key'])
    .addCheckConstraint('idempotency_keys_key_length', sql`length(key) between 1 and 255`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'idempotency_keys',
    'notifications',
    'stripe_events',
    'ledger_entries',
    'refunds',
    'payouts',
    'pledges',
    'stretch_goals',
    'rewards',
    'campaigns',
    'login_attempts',
    'auth_tokens',
    'users',
  ]) {
    await db.schema.dropTable(table).execute();
  }
  await sql`drop function ledger_entries_append_only()`.execute(db);
}
