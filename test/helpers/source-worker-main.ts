/**
 * A worker process for kill drills of work the prebuilt `dist/` does not have yet: the product's two workers
 * (src/worker/workers.ts, every workflow and activity) run from the TypeScript sources, with the workflow bundle the
 * test prepared (WORKFLOW_BUNDLE_PATH), configured from the environment like `npm run worker`. Unlike the product's
 * main it starts no housekeeping workflows, and its mailer keeps nothing (workflow tests do not deliver mail).
 * Started by ./source-worker-process.ts; prints `worker polling` once it polls.
 */
import { NativeConnection } from '@temporalio/worker';
import { AppDatabase } from '../../db/database';
import { loadConfig } from '../../src/config';
import { createStripeClient } from '../../src/payments/stripe-client';
import { createWorkers, runWorkers } from '../../src/worker/workers';

async function main(): Promise<void> {
  const config = loadConfig();
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  if (!config.temporal.address || !config.stripe.secretKey || !bundlePath) throw new Error('TEMPORAL_ADDRESS, STRIPE_SECRET_KEY and WORKFLOW_BUNDLE_PATH are required');
  const database = new AppDatabase({ connectionString: config.database.url, poolSize: config.database.poolSize });
  const stripe = createStripeClient({ secretKey: config.stripe.secretKey, ...(config.stripe.apiBase ? { apiBase: config.stripe.apiBase } : {}) });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const workers = await createWorkers({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    stripeTaskQueue: config.temporal.stripeTaskQueue,
    stripeActivitiesPerSecond: config.temporal.stripeActivitiesPerSecond,
    deps: { database, stripe, config, mailer: { send: async () => undefined, close: () => undefined } },
    workflows: { workflowBundle: { codePath: bundlePath } },
    // A task left on a killed worker's sticky queue goes to the others after a second rather than ten: the drill's
    // duration, not its outcome.
    overrides: { stickyQueueScheduleToStartTimeout: '1 second' },
  });
  console.log(`worker polling ${config.temporal.taskQueue}`);
  await runWorkers(workers);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
