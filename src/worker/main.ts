/** `npm run worker`: the Temporal workers against the configured Postgres, Temporal and Stripe. */
import { NativeConnection } from '@temporalio/worker';
import { AppDatabase } from '../../db/database';
import { runCli, UsageError } from '../cli/run';
import { loadConfig } from '../config';
import { createMailer } from '../notifications/mailer';
import { createStripeClient } from '../payments/stripe-client';
import { connectTemporalClient } from '../temporal/connection';
import { installRuntimeLogger, runWorkers, startConfiguredWorkers } from './workers';

runCli(async () => {
  const config = loadConfig();
  if (!config.temporal.address) throw new UsageError('TEMPORAL_ADDRESS is required to run the worker alone (npm start runs a local Temporal)');
  if (!config.stripe.secretKey) throw new UsageError('STRIPE_SECRET_KEY is required to run the worker alone (npm start runs a local Stripe)');

  installRuntimeLogger(config.logLevel);
  const database = new AppDatabase({ connectionString: config.database.url, poolSize: config.database.poolSize, applicationName: 'crowdfund-worker' });
  const mailer = createMailer(config.mail);
  const stripe = createStripeClient({
    secretKey: config.stripe.secretKey,
    ...(config.stripe.apiBase ? { apiBase: config.stripe.apiBase } : {}),
    // Every Stripe request of this process is paced; the Stripe task queue's activity rate bounds all workers.
    requestsPerSecond: config.temporal.stripeRequestsPerSecond,
  });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const temporal = await connectTemporalClient(config.temporal.address, config.temporal.namespace);
  try {
    const workers = await startConfiguredWorkers(config, connection, temporal.client, { database, stripe, config, mailer });
    console.log(`worker polling ${config.temporal.taskQueue} and ${config.temporal.stripeTaskQueue} on ${config.temporal.address}`);
    await runWorkers(workers);
  } finally {
    await temporal.close();
    await connection.close();
    await database.close();
    mailer.close();
  }
});
