/**
 * Migration 0017 on a database that already holds accounts: they count as verified (they were made before the
 * platform asked), an account made after starts unverified whatever writes it, the staff audit log takes the TOTP
 * actions, and down and up again round-trip with TOTP entries in the append-only log.
 */
import { Migrator } from 'kysely';
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

const verifiedAt = async (email: string) => (await db.selectFrom('users').select('email_verified_at').where('email', '=', email).executeTakeFirstOrThrow()).email_verified_at;

test('accounts made before it are verified, accounts made after are not; down and up again round-trip', async () => {
  await migrateTo('0016_retention');
  await db.insertInto('users').values({ email: 'before@example.com', name: 'B', password_hash: 'x' }).execute();

  await migrateTo('0017_email_verification_totp');
  expect(await verifiedAt('before@example.com')).toBeInstanceOf(Date);
  await db.insertInto('users').values({ email: 'after@example.com', name: 'A', password_hash: 'x' }).execute();
  expect(await verifiedAt('after@example.com')).toBeNull();

  const { id } = await db.selectFrom('users').select('id').where('email', '=', 'after@example.com').executeTakeFirstOrThrow();
  await db.insertInto('staff_audit_log').values({ actor_id: null, actor_role: null, actor_label: 'cli', action: 'totp.reset', object_type: 'user', object_id: id, details: '{}', request_id: null }).execute();
  await expect(
    db.insertInto('staff_audit_log').values({ actor_id: null, actor_role: null, actor_label: 'cli', action: 'totp.deleted' as never, object_type: 'user', object_id: id, details: '{}', request_id: null }).execute(),
  ).rejects.toMatchObject({ constraint: 'staff_audit_action_check' });

  await migrateTo('0016_retention');
  await migrateTo('0017_email_verification_totp');
  // Everyone there when it ran again counts as verified: the backfill is the migration's, not the accounts'.
  expect(await verifiedAt('after@example.com')).toBeInstanceOf(Date);
  expect(await db.selectFrom('staff_audit_log').select('action').execute()).toEqual([{ action: 'totp.reset' }]);
});
