/**
 * The one way the app reaches Postgres: a pool, a kysely instance, migrations, transactions and a readiness ping.
 */
import { Kysely, Migrator, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations';
import { type Database } from './schema';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

export interface DatabaseOptions {
  connectionString: string;
  /** Postgres schema to use instead of `public` (tests isolate each file in its own). */
  schema?: string;
  poolSize?: number;
  applicationName?: string;
}

/**
 * int8 (bigint money, counts) becomes a JS number, and a value beyond 2^53 is an error rather than a silently
 * rounded amount. numeric stays a string: nothing here stores money as numeric. Dates stay 'YYYY-MM-DD' text,
 * so a calendar day never shifts with the server's time zone.
 */
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return parseInt8;
    if (oid === pg.types.builtins.DATE) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function parseInt8(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`int8 value ${value} does not fit a safe integer`);
  return parsed;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export class AppDatabase {
  readonly db: Db;
  readonly pool: pg.Pool;

  constructor(readonly options: DatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'crowdfund',
      types: typeParsers,
      ...(options.schema ? { options: `-c search_path=${quoteIdentifier(options.schema)}` } : {}),
    });
    // An idle client losing its connection (Postgres restarted) must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
    this.db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });
  }

  /** Applies every pending migration; throws with the failing migration's error. */
  async migrateToLatest(): Promise<string[]> {
    if (this.options.schema) {
      await sql`create schema if not exists ${sql.id(this.options.schema)}`.execute(this.db);
    }
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider,
      ...(this.options.schema ? { migrationTableSchema: this.options.schema } : {}),
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`migration ${failed} failed`, { cause: error });
    }
    return (results ?? []).map((result) => result.migrationName);
  }

  transaction<T>(fn: (trx: Tx) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  /** True when Postgres answers; used by readiness checks. */
  async ping(): Promise<boolean> {
    try {
      await sql`select 1`.execute(this.db);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
