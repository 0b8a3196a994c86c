import { AppDatabase } from '../../db/database';
import { loadConfig } from '../config';
import { runCli } from './run';

runCli(async () => {
  const config = loadConfig();
  const database = new AppDatabase({ connectionString: config.database.url, applicationName: 'crowdfund-migrate' });
  try {
    const applied = await database.migrateToLatest();
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await database.close();
  }
});
