/**
 * `npm start`: the whole platform in one process, with no configuration and no network. What is configured is
 * used (DATABASE_URL, TEMPORAL_ADDRESS, STRIPE_SECRET_KEY); what is not is started locally by the development
 * platform (@crowdfund/dev-platform): an embedded Postgres under ./.data, the Temporal stand-in (real time) with
 * Temporal UI on :8233 (TEMPORAL_UI_PORT), and the Stripe stand-in, whose webhook is pointed at the API here.
 * Ctrl-C stops everything in reverse order. While it runs, .data/platform.json tells `npm run demo` where it is.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { startDevPlatform } from '@crowdfund/dev-platform';
import ms from 'ms';
import { AppDatabase } from '../../db/database';
import { startApiServer } from '../api/server';
import { ProgressHub } from '../progress/progress-hub';
import { loadConfig } from '../config';
import { createLogger } from '../logger';
import { createMailer } from '../notifications/mailer';
import { createStripeClient } from '../payments/stripe-client';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { CampaignWorkflows } from '../temporal/campaign-workflows';
import { connectTemporalClient } from '../temporal/connection';
import { installRuntimeLogger, runWorkers, startConfiguredWorkers } from '../worker/workers';
import { removePlatformFile, writePlatformFile } from './platform-file';
import { runCli } from './run';

/**
 * With the Stripe stand-in no real money moves, so a campaign may run for a minute and the windows after the
 * deadline are short: the platform can be watched from publication to payout (`npm run demo`). Anything set in
 * the environment wins.
 */
const LOCAL_TIMESCALE = {
  CAMPAIGN_MIN_DURATION: '1m',
  GRACE_WINDOW: '30s',
  PAYOUT_DELAY: '15s',
  REFUND_WINDOW: '1h',
  PAYOUT_FUNDS_RETRY_INTERVAL: '10s',
  ONBOARDING_REMINDER_INTERVAL: '1m',
  STUCK_RETRY_INTERVAL: '15s',
  // Only used when PAYOUT_RESERVE_PERCENT is set: the reserve comes back within the one-hour refund window.
  PAYOUT_RESERVE_DAYS: '10m',
};

runCli(async () => {
  const env = { ...process.env };
  const stops: Array<() => Promise<void> | void> = [];
  const started: string[] = [];
  const dataDir = join(process.cwd(), '.data');
  mkdirSync(dataDir, { recursive: true });

  try {
    const platform = await startDevPlatform({
      dataDir,
      ...(env.DATABASE_URL ? {} : { postgres: { port: Number(env.EMBEDDED_POSTGRES_PORT ?? 54329) } }),
      ...(env.TEMPORAL_ADDRESS
        ? {}
        : { temporal: { port: Number(env.TEMPORAL_STANDIN_PORT ?? 7233), searchAttributes: CAMPAIGN_SEARCH_ATTRIBUTES, uiPort: Number(env.TEMPORAL_UI_PORT ?? 8233) } }),
      ...(env.STRIPE_SECRET_KEY ? {} : { stripe: { port: Number(env.STRIPE_STANDIN_PORT ?? 12111), ...(env.STRIPE_STANDIN_SETTLEMENT_CURRENCY ? { settlementCurrency: env.STRIPE_STANDIN_SETTLEMENT_CURRENCY } : {}) } }),
    });
    stops.push(() => platform.close());
    if (platform.postgres) {
      env.DATABASE_URL = platform.postgres.url;
      started.push(`Postgres (embedded)   ${platform.postgres.url}  data in .data/postgres`);
    }
    if (platform.temporal) {
      env.TEMPORAL_ADDRESS = platform.temporal.address;
      started.push(`Temporal (stand-in)   ${platform.temporal.address}`);
      if (platform.temporal.uiUrl) started.push(`Temporal UI           ${platform.temporal.uiUrl}`);
    }
    const stripeStandin = platform.stripe;
    if (stripeStandin) {
      env.STRIPE_SECRET_KEY = stripeStandin.secretKey;
      env.STRIPE_API_BASE = stripeStandin.url;
      started.push(`Stripe (stand-in)     ${stripeStandin.url}`);
      for (const [name, value] of Object.entries(LOCAL_TIMESCALE)) env[name] ??= value;
    }

    let config = loadConfig(env);
    installRuntimeLogger(config.logLevel);
    const logger = createLogger(config.logLevel, 'crowdfund');
    const stripe = createStripeClient({ secretKey: config.stripe.secretKey!, ...(config.stripe.apiBase ? { apiBase: config.stripe.apiBase } : {}) });
    if (stripeStandin) {
      const endpoint = await stripe.webhookEndpoints.create({ url: `${config.http.publicUrl}/api/webhooks/stripe`, enabled_events: ['*'] });
      env.STRIPE_WEBHOOK_SECRET = endpoint.secret;
      config = loadConfig(env);
    }

    const database = new AppDatabase({ connectionString: config.database.url, poolSize: config.database.poolSize, applicationName: 'crowdfund' });
    stops.push(() => database.close());
    await database.migrateToLatest();

    const temporal = await connectTemporalClient(config.temporal.address!, config.temporal.namespace);
    stops.push(() => temporal.close());
    const progress = new ProgressHub(database.db, config.database.url);
    await progress.start();
    const api = await startApiServer({ config, database, logger, campaignWorkflows: new CampaignWorkflows(temporal.client, config), stripe, progress }, config.http.host, config.http.port);
    stops.push(() => api.close());
    stops.push(() => progress.stop());
    started.push(`API                   ${api.url}`);

    const connection = await NativeConnection.connect({ address: config.temporal.address! });
    stops.push(() => connection.close());
    const mailer = createMailer(config.mail);
    stops.push(() => mailer.close());
    // The worker's client paces its requests, as `npm run worker`'s does; the API's stays unpaced, as `npm run api`'s.
    const workerStripe = createStripeClient({
      secretKey: config.stripe.secretKey!,
      ...(config.stripe.apiBase ? { apiBase: config.stripe.apiBase } : {}),
      requestsPerSecond: config.temporal.stripeRequestsPerSecond,
    });
    const workers = await startConfiguredWorkers(config, connection, temporal.client, { database, stripe: workerStripe, config, mailer }, { shutdownGraceTime: '5 seconds' });
    started.push(`Worker                task queues ${config.temporal.taskQueue}, ${config.temporal.stripeTaskQueue}`);

    if (stripeStandin) {
      const { minDurationMs, graceWindowMs, payoutDelayMs } = config.campaigns;
      started.push(`Local timescale       campaigns from ${ms(minDurationMs)}, grace window ${ms(graceWindowMs)}, payout ${ms(payoutDelayMs)} after settlement`);
    }
    writePlatformFile(dataDir, {
      apiUrl: api.url,
      databaseUrl: config.database.url,
      stripeStandinUrl: stripeStandin?.url ?? null,
      campaignMinDurationMs: config.campaigns.minDurationMs,
    });
    stops.push(() => removePlatformFile(dataDir));

    console.log(['Crowdfund platform is running:', ...started.map((line) => `  ${line}`), 'Try it: npm run demo (in another terminal). Press Ctrl-C to stop.'].join('\n'));
    // The SDK's runtime shuts the workers down on SIGINT/SIGTERM; run() then resolves.
    await runWorkers(workers);
    console.log('stopping...');
  } finally {
    for (const stop of stops.reverse()) {
      await Promise.resolve(stop()).catch((error: unknown) => console.error('while stopping:', error));
    }
  }
});
