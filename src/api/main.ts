/** `npm run api`: the HTTP API against the configured Postgres, Temporal and Stripe. */
import { once } from 'node:events';
import { AppDatabase } from '../../db/database';
import { runCli } from '../cli/run';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { createApp } from './app';

runCli(async () => {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'api');
  const database = new AppDatabase({ connectionString: config.database.url, poolSize: config.database.poolSize, applicationName: 'crowdfund-api' });
  const app = createApp({ config, database, logger });
  const server = app.listen(config.http.port, config.http.host);
  await once(server, 'listening');
  logger.info({ url: `http://${config.http.host}:${config.http.port}` }, 'API listening');

  const signal = await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  logger.info({ signal }, 'shutting down: finishing in-flight requests');
  server.closeIdleConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await database.close();
});
