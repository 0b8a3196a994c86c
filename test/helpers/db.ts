/**
 * Each test file gets its own Postgres schema with every migration applied, so files run in parallel against
 * the one real Postgres and the code under test may open its own transactions.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { AppDatabase } from '../../db/database';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  database: AppDatabase;
  schema: string;
  /** Drops the schema and closes the pool. */
  drop(): Promise<void>;
}

export async function createTestDatabase(options: { migrate?: boolean; poolSize?: number } = {}): Promise<TestDatabase> {
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const database = new AppDatabase({ connectionString: TEST_DATABASE_URL, schema, poolSize: options.poolSize ?? 5 });
  if (options.migrate ?? true) await migrateBesideOtherFiles(database);
  else await sql`create schema ${sql.id(schema)}`.execute(database.db);
  return {
    database,
    schema,
    async drop() {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(database.db);
      await database.close();
    },
  };
}

/**
 * kysely's Migrator first lists the tables of every schema in the database; another test file dropping its schema at
 * that moment makes the listing fail (3F000, naming the other schema) before any migration ran. Try again then.
 */
async function migrateBesideOtherFiles(database: AppDatabase): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await database.migrateToLatest();
      return;
    } catch (error) {
      const code = ((error as Error).cause as { code?: string } | undefined)?.code;
      if (code !== '3F000' || attempt === 3) throw error;
    }
  }
}

export interface DedicatedDatabase extends TestDatabase {
  name: string;
  url: string;
}

/**
 * A whole database of its own on the test server (`scratch_<random>`), migrated, for processes that reach it by
 * URL alone (a worker or API in another process cannot be given a schema); `drop()` closes the pool and drops it.
 */
export async function createDedicatedDatabase(): Promise<DedicatedDatabase> {
  const name = `scratch_${randomBytes(6).toString('hex')}`;
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const admin = new AppDatabase({ connectionString: TEST_DATABASE_URL, poolSize: 1 });
  try {
    await sql`create database ${sql.id(name)}`.execute(admin.db);
  } finally {
    await admin.close();
  }
  const database = new AppDatabase({ connectionString: url.toString(), poolSize: 5 });
  await database.migrateToLatest();
  return {
    name,
    url: url.toString(),
    database,
    schema: 'public',
    async drop() {
      await database.close();
      const dropper = new AppDatabase({ connectionString: TEST_DATABASE_URL, poolSize: 1 });
      try {
        await sql`drop database if exists ${sql.id(name)} with (force)`.execute(dropper.db);
      } finally {
        await dropper.close();
      }
    },
  };
}
