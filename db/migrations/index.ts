import { type Migration, type MigrationProvider } from 'kysely';
import * as m0001 from './0001_initial';
import * as m0002 from './0002_progress_notify';
import * as m0003 from './0003_pledge_placement';
import * as m0004 from './0004_pledge_revision';

/** Every migration, in order. Exported from code rather than read from disk, so build output and tests agree. */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_progress_notify': m0002,
  '0003_pledge_placement': m0003,
  '0004_pledge_revision': m0004,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
