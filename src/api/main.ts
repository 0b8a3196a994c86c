/** `npm run api`: the HTTP API against the configured Postgres, Temporal and Stripe. */
import { once } from 'node:events';
import { AppDatabase } from '../../db/database';
import { runCli } from '../cli/run';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { createStripeClient } from '../payments/stripe-client';
import { CampaignWorkflows } from '../temporal/campaign-workflows';
import { connectTemporalClient } from '../temporal/connection';
import { ProgressHub } from '../progress/progress-hub';
import { startApiServer } from './server';

runCli(async () => {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, 'api');
  const database = new AppDatabase({ connectionString: config.database.url, poolSize: config.database.poolSize, applicationName: 'crowdfund-api' });
  const temporal = config.temporal.address ? await connectTemporalClient(config.temporal.address, config.temporal.namespace) : undefined;
  if (!temporal) logger.warn('TEMPORAL_ADDRESS is not set: publishing, cancelling and refunds answer 503');
  const stripe = config.stripe.secretKey
    ? createStripeClient({ secretKey: config.stripe.secretKey, ...(config.stripe.apiBase ? { apiBase: config.stripe.apiBase } : {}) })
    : undefined;
  const progress = new ProgressHub(database.db, config.database.url);
  await progress.start();
  const api = await startApiServer(
    { config, database, logger, progress, ...(temporal ? { campaignWorkflows: new CampaignWorkflows(temporal.client, config) } : {}), ...(stripe ? { stripe } : {}) },
    config.http.host,
    config.http.port,
  );
  logger.info({ url: api.url }, 'API listening');

  const signal = await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  logger.info({ signal }, 'shutting down: finishing in-flight requests');
  await progress.stop();
  await api.close();
  await temporal?.close();
  await database.close();
});
