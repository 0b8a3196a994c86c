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

/** SQLSTATEs of a database that is gone for now (connection exceptions, shutting down or starting up, full). */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
const UNAVAILABLE_NETWORK_CODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** What pg and pg-pool throw, without a code, for a connection that ended or never came. */
const UNAVAILABLE_MESSAGE = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|timeout expired)/;

/**
 * Whether an error means Postgres could not be reached or dropped the connection (a restart, a failover, the
 * network) rather than that the query was wrong: the same request may succeed once the database is back.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  // Duck-typed: errors made by Node's own modules are not `instanceof` another realm's Error (jest's, a vm's).
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const { code, message, errors, cause } = error as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NETWORK_CODE.has(code))) return true;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
  // Node reports a failed connection to a host with several addresses as an AggregateError of each attempt.
  if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(cause, depth + 1);
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
    // Nor may a checked-out one: kysely listens to no client, and Postgres ending a session between two queries of
    // a request (a restart's FATAL 57P01) is otherwise an unhandled 'error' event. The request's next query fails
    // instead, and the pool discards the client when it is released.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
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
