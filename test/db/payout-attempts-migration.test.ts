/**
 * Migration 0007 on a database that already holds payouts: each becomes its own version 1 with the key it was sent
 * with, so a payout waiting at deploy time is retried as the same request; and the schema keeps one live version.
 */
import { Migrator, sql } from 'kysely';
import { type Db } from '../../db/database';
import { migrationProvider } from '../../db/migrations';
import { createTestDatabase, type TestDatabase } from '../helpers/db';

let testDb: TestDatabase;
let db: Db;
let migrator: Migrator;

beforeAll(async () => {
  testDb = await createTestDatabase({ migrate: false });
  db = testDb.database.db;
  migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema: testDb.schema });
});
afterAll(() => testDb.drop());

async function migrateTo(name: string) {
  const { error } = await migrator.migrateTo(name);
  if (error) throw error;
}

test('existing payouts become version 1 with their key; down and up again round-trip', async () => {
  await migrateTo('0006_notification_backoff');
  const creator = await db.insertInto('users').values({ email: 'creator@example.com', name: 'C', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
  const campaign = (id: string) => ({
    creator_id: creator.id, title: 'C', slug: `c-${id}`, goal_amount: 1_000, currency: 'USD', model: 'aon' as const,
    starts_at: new Date('2030-01-01T00:00:00Z'), ends_at: new Date('2030-02-01T00:00:00Z'),
  });
  const waiting = await db.insertInto('campaigns').values(campaign('waiting')).returning('id').executeTakeFirstOrThrow();
  const paid = await db.insertInto('campaigns').values(campaign('paid')).returning('id').executeTakeFirstOrThrow();
  // Written as the code before versions wrote them: one key per campaign, `payout-<campaignId>`.
  await sql`insert into payouts (campaign_id, destination_account_id, amount, currency, gross_captured, refunded, platform_fee, processing_fees, idempotency_key)
            values (${waiting.id}, 'acct_1', 9080, 'USD', 10000, 0, 600, 320, ${`payout-${waiting.id}`})`.execute(db);
  await sql`insert into payouts (campaign_id, destination_account_id, amount, currency, gross_captured, refunded, platform_fee, processing_fees, idempotency_key, status, stripe_transfer_id, paid_at)
            values (${paid.id}, 'acct_1', 9080, 'USD', 10000, 0, 600, 320, ${`payout-${paid.id}`}, 'paid', 'tr_1', now())`.execute(db);

  await migrateTo('0007_payout_attempts');
  const attempts = await db
    .selectFrom('payout_attempts')
    .innerJoin('payouts', 'payouts.id', 'payout_attempts.payout_id')
    .select(['payouts.campaign_id', 'payouts.version as payout_version', 'payout_attempts.version', 'payout_attempts.amount', 'payout_attempts.platform_fee', 'payout_attempts.idempotency_key', 'payout_attempts.status', 'payout_attempts.stripe_transfer_id'])
    .orderBy('payout_attempts.status')
    .execute();
  expect(attempts).toEqual([
    { campaign_id: paid.id, payout_version: 1, version: 1, amount: 9_080, platform_fee: 600, idempotency_key: `payout-${paid.id}`, status: 'paid', stripe_transfer_id: 'tr_1' },
    { campaign_id: waiting.id, payout_version: 1, version: 1, amount: 9_080, platform_fee: 600, idempotency_key: `payout-${waiting.id}`, status: 'pending', stripe_transfer_id: null },
  ]);

  // While a version may still go through (pending or paid), no other version of that payout can exist.
  const waitingPayout = await db.selectFrom('payouts').select('id').where('campaign_id', '=', waiting.id).executeTakeFirstOrThrow();
  const next = { payout_id: waitingPayout.id, version: 2, amount: 8_000, platform_fee: 500, idempotency_key: `payout-${waiting.id}-v2` };
  await expect(db.insertInto('payout_attempts').values(next).execute()).rejects.toMatchObject({ constraint: 'payout_attempts_one_live' });
  await db.updateTable('payout_attempts').set({ status: 'refused' }).where('payout_id', '=', waitingPayout.id).execute();
  await db.insertInto('payout_attempts').values(next).execute();
  await expect(db.insertInto('payout_attempts').values({ ...next, version: 3, idempotency_key: 'other' }).execute()).rejects.toMatchObject({ constraint: 'payout_attempts_one_live' });

  await migrateTo('0006_notification_backoff');
  const columns = await sql<{ column_name: string }>`
    select column_name from information_schema.columns where table_schema = ${testDb.schema} and table_name in ('payouts', 'ledger_entries')`.execute(db);
  expect(columns.rows.map((row) => row.column_name)).not.toEqual(expect.arrayContaining(['version']));
  expect(columns.rows.map((row) => row.column_name)).not.toEqual(expect.arrayContaining(['available_on']));
  await migrateTo('0007_payout_attempts');
  expect(await db.selectFrom('payout_attempts').select('idempotency_key').orderBy('idempotency_key').execute()).toHaveLength(2);
});
