import { sql } from 'kysely';
import { type Db } from '../../db/database';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let testDb: TestDatabase;
let db: Db;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.database.db;
});
afterAll(() => testDb.drop());

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

async function user(overrides: Record<string, unknown> = {}) {
  return db
    .insertInto('users')
    .values({ email: `${unique('u')}@example.com`, name: 'A', password_hash: 'x', ...overrides })
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function campaign(overrides: Record<string, unknown> = {}) {
  const creator = await user();
  return db
    .insertInto('campaigns')
    .values({
      creator_id: creator.id,
      title: 'A campaign',
      slug: unique('slug'),
      goal_amount: 100_000,
      currency: 'USD',
      model: 'aon',
      starts_at: new Date('2030-01-01T00:00:00Z'),
      ends_at: new Date('2030-02-01T00:00:00Z'),
      ...overrides,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function pledge(campaignId: string, overrides: Record<string, unknown> = {}) {
  const backer = await user();
  return db
    .insertInto('pledges')
    .values({ campaign_id: campaignId, backer_id: backer.id, amount: 5_000, currency: 'USD', ...overrides })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Expects Postgres to refuse the statement because of the named constraint. */
async function rejectedBy(constraint: string, statement: Promise<unknown>) {
  await expect(statement).rejects.toMatchObject({ constraint });
}

describe('migrations', () => {
  it('build the full schema from empty, and a second run is a no-op', async () => {
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = ${testDb.schema} and table_type = 'BASE TABLE' order by table_name`.execute(db);
    expect(tables.rows.map((row) => row.table_name)).toEqual([
      'auth_tokens', 'campaign_unsubscribes', 'campaign_updates', 'campaigns', 'disputes', 'email_verifications', 'idempotency_keys', 'kysely_migration', 'kysely_migration_lock', 'ledger_entries',
      'login_attempts', 'notifications', 'payout_attempts', 'payouts', 'pledges', 'reconciliation_jobs', 'refunds', 'rewards', 'staff_audit_log', 'stretch_goals', 'stripe_events', 'survey_responses', 'surveys',
      'totp_factors', 'users', 'velocity_events',
    ]);
    expect(await testDb.database.migrateToLatest()).toEqual([]);
  });

  it('has the partial index the tally reads', async () => {
    const index = await sql<{ indexdef: string }>`
      select indexdef from pg_indexes where schemaname = ${testDb.schema} and indexname = 'pledges_live_idx'`.execute(db);
    expect(index.rows[0]?.indexdef).toMatch(/\(campaign_id, status\) INCLUDE \(amount\) WHERE \(status = ANY/);
  });

  it('returns bigint money as exact numbers and refuses unsafe ones', async () => {
    const row = await sql<{ big: number }>`select 9007199254740991::bigint as big`.execute(db);
    expect(row.rows[0]?.big).toBe(9_007_199_254_740_991);
    await expect(sql`select 9007199254740993::bigint as big`.execute(db)).rejects.toThrow(/safe integer/);
  });
});

describe('constraints that protect money and identity', () => {
  it('emails are unique whatever their case', async () => {
    await user({ email: 'Case@Example.com' });
    await rejectedBy('users_email_unique', user({ email: 'case@example.COM' }));
  });

  it('roles are one of user, support, ops', async () => {
    await rejectedBy('users_role_check', user({ role: 'admin' }));
  });

  it('campaign slugs are unique and url-safe', async () => {
    const first = await campaign();
    await rejectedBy('campaigns_slug_key', campaign({ slug: first.slug }));
    await rejectedBy('campaigns_slug_check', campaign({ slug: 'Not A Slug' }));
  });

  it.each([
    ['campaigns_goal_positive', { goal_amount: 0 }],
    ['campaigns_goal_positive', { goal_amount: -100 }],
    ['campaigns_currency_check', { currency: 'usd' }],
    ['campaigns_model_check', { model: 'flexible' }],
    ['campaigns_status_check', { status: 'paid' }],
    ['campaigns_fee_check', { platform_fee_bps: 499 }],
    ['campaigns_fee_check', { platform_fee_bps: 801 }],
    ['campaigns_dates_check', { ends_at: new Date('2029-12-31T00:00:00Z') }],
    ['campaigns_kia_refund_terms', { model: 'kia', refund_terms: null }],
    ['campaigns_kia_refund_terms', { model: 'kia', refund_terms: '   ' }],
  ])('campaigns: %s rejects %j', async (constraint, overrides) => {
    await rejectedBy(constraint, campaign(overrides));
  });

  it('keep-it-all campaigns with refund terms are accepted', async () => {
    await expect(campaign({ model: 'kia', refund_terms: 'Refunds within 14 days' })).resolves.toMatchObject({ model: 'kia' });
  });

  it('rewards are never claimed beyond their limit, even by concurrent atomic claims', async () => {
    const { id: campaignId } = await campaign();
    const reward = await db
      .insertInto('rewards')
      .values({ campaign_id: campaignId, title: 'Poster', min_pledge: 1_000, limit_qty: 10 })
      .returningAll()
      .executeTakeFirstOrThrow();
    const claims = await Promise.allSettled(
      Array.from({ length: 30 }, () =>
        db.updateTable('rewards').set({ claimed_qty: sql`claimed_qty + 1` }).where('id', '=', reward.id).execute(),
      ),
    );
    expect(claims.filter((claim) => claim.status === 'fulfilled')).toHaveLength(10);
    for (const claim of claims.filter((c): c is PromiseRejectedResult => c.status === 'rejected')) {
      expect(claim.reason).toMatchObject({ constraint: 'rewards_claimed_within_limit' });
    }
    const after = await db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
    expect(after.claimed_qty).toBe(10);
  });

  it.each([
    ['rewards_min_pledge_positive', { min_pledge: 0 }],
    ['rewards_limit_positive', { limit_qty: 0 }],
    ['rewards_claimed_non_negative', { claimed_qty: -1 }],
  ])('rewards: %s rejects %j', async (constraint, overrides) => {
    const { id } = await campaign();
    await rejectedBy(
      constraint,
      db.insertInto('rewards').values({ campaign_id: id, title: 'R', min_pledge: 100, ...overrides }).execute(),
    );
  });

  it('stretch goals: positive targets, one per amount', async () => {
    const { id } = await campaign({ model: 'hybrid' });
    await db.insertInto('stretch_goals').values({ campaign_id: id, title: 'More', target_amount: 200_000 }).execute();
    await rejectedBy(
      'stretch_goals_target_unique',
      db.insertInto('stretch_goals').values({ campaign_id: id, title: 'Again', target_amount: 200_000 }).execute(),
    );
    await rejectedBy(
      'stretch_goals_target_positive',
      db.insertInto('stretch_goals').values({ campaign_id: id, title: 'Zero', target_amount: 0 }).execute(),
    );
  });

  it.each([
    ['pledges_amount_positive', { amount: 0 }],
    ['pledges_status_check', { status: 'paid' }],
    ['pledges_captured_range', { amount_captured: 5_001 }],
    ['pledges_captured_range', { amount_captured: -1 }],
    ['pledges_refunded_range', { amount_captured: 5_000, amount_refunded: 5_001 }],
    ['pledges_refunded_range', { amount_captured: 1_000, amount_refunded: 2_000 }],
    ['pledges_fee_non_negative', { processing_fee: -1 }],
    ['pledges_campaign_id_fkey', { campaign_id: '00000000-0000-0000-0000-000000000000' }],
  ])('pledges: %s rejects %j', async (constraint, overrides) => {
    const { id } = await campaign();
    await rejectedBy(constraint, pledge(id, overrides));
  });

  it('one live pledge per backer per campaign; finished ones do not count', async () => {
    const { id } = await campaign();
    const first = await pledge(id, { status: 'authorized' });
    const again = { campaign_id: id, backer_id: first.backer_id, amount: 100, currency: 'USD' };
    await rejectedBy('pledges_one_live_per_backer', db.insertInto('pledges').values(again).execute());
    await db.updateTable('pledges').set({ status: 'cancelled' }).where('id', '=', first.id).execute();
    await expect(db.insertInto('pledges').values(again).execute()).resolves.toBeDefined();
  });

  it('the same PaymentIntent cannot back two pledges', async () => {
    const { id } = await campaign();
    await pledge(id, { payment_intent_id: 'pi_same' });
    await rejectedBy('pledges_payment_intent_id_key', pledge(id, { payment_intent_id: 'pi_same' }));
  });

  it('ledger entries: non-negative, known kinds, one per Stripe object and kind, append-only', async () => {
    const { id } = await campaign();
    const entry = { campaign_id: id, kind: 'capture' as const, amount: 5_000, currency: 'USD', stripe_object_id: 'ch_1' };
    const inserted = await db.insertInto('ledger_entries').values(entry).returningAll().executeTakeFirstOrThrow();
    await rejectedBy('ledger_entries_once', db.insertInto('ledger_entries').values(entry).execute());
    await rejectedBy('ledger_amount_non_negative', db.insertInto('ledger_entries').values({ ...entry, stripe_object_id: 'ch_2', amount: -1 }).execute());
    await rejectedBy('ledger_kind_check', db.insertInto('ledger_entries').values({ ...entry, stripe_object_id: 'ch_3', kind: 'gift' as never }).execute());
    await expect(db.updateTable('ledger_entries').set({ amount: 1 }).where('id', '=', inserted.id).execute()).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom('ledger_entries').where('id', '=', inserted.id).execute()).rejects.toThrow(/append-only/);
  });

  it('payouts: one per campaign, unique idempotency key, a paid payout names its transfer', async () => {
    const { id } = await campaign();
    const payout = {
      campaign_id: id, destination_account_id: 'acct_1', amount: 90_000, currency: 'USD', gross_captured: 100_000,
      refunded: 0, platform_fee: 6_000, processing_fees: 4_000, idempotency_key: `payout-${id}`,
    };
    await rejectedBy('payouts_paid_has_transfer', db.insertInto('payouts').values({ ...payout, status: 'paid' }).execute());
    await rejectedBy('payouts_amounts_non_negative', db.insertInto('payouts').values({ ...payout, amount: -1 }).execute());
    await db.insertInto('payouts').values(payout).execute();
    await rejectedBy('payouts_campaign_id_key', db.insertInto('payouts').values({ ...payout, idempotency_key: 'other' }).execute());
    const { id: other } = await campaign();
    await rejectedBy('payouts_idempotency_key_key', db.insertInto('payouts').values({ ...payout, campaign_id: other }).execute());
  });

  it('refunds: positive, unique idempotency key, a succeeded refund names its Stripe refund', async () => {
    const { id } = await campaign();
    const { id: pledgeId } = await pledge(id, { status: 'captured', amount_captured: 5_000 });
    const refund = { pledge_id: pledgeId, amount: 1_000, currency: 'USD', reason: 'damaged', idempotency_key: 'refund-1' };
    await rejectedBy('refunds_amount_positive', db.insertInto('refunds').values({ ...refund, amount: 0 }).execute());
    await rejectedBy('refunds_succeeded_has_stripe_id', db.insertInto('refunds').values({ ...refund, status: 'succeeded' }).execute());
    await db.insertInto('refunds').values(refund).execute();
    await rejectedBy('refunds_idempotency_key_key', db.insertInto('refunds').values(refund).execute());
  });

  it('webhook events are recorded once', async () => {
    const event = { id: 'evt_1', type: 'payment_intent.succeeded', payload: '{}' };
    await db.insertInto('stripe_events').values(event).execute();
    await rejectedBy('stripe_events_pkey', db.insertInto('stripe_events').values(event).execute());
  });

  it('notifications are written once per business event', async () => {
    const { id } = await user();
    const notification = { recipient_id: id, template: 'pledge_receipt', payload: '{}', dedupe_key: 'pledge-1-receipt' };
    await db.insertInto('notifications').values(notification).execute();
    await rejectedBy('notifications_dedupe_key_key', db.insertInto('notifications').values(notification).execute());
  });

  it('idempotency keys are unique per user', async () => {
    const { id } = await user();
    const key = { user_id: id, key: 'k1', method: 'POST', path: '/x', request_hash: 'h' };
    await db.insertInto('idempotency_keys').values(key).execute();
    await rejectedBy('idempotency_keys_pk', db.insertInto('idempotency_keys').values(key).execute());
    await rejectedBy('idempotency_keys_key_length', db.insertInto('idempotency_keys').values({ ...key, key: '' }).execute());
  });
});
