/**
 * The whole platform for workflow tests: the Temporal stand-in (time skipping), the Stripe stand-in, a Postgres
 * schema, the real activities and workers, and the API wired to the same Temporal client. Both stand-ins keep
 * their own clocks; activities move the Stripe clock up to the workflow time they were scheduled at, so a hold
 * placed "now" has expired when a workflow that slept 8 days captures it.
 */
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { type ActivityInterceptorsFactory, bundleWorkflowCode, type Worker, type WorkflowBundle } from '@temporalio/worker';
import { type Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import type Stripe from 'stripe';
import { type Express } from 'express';
import { createApp } from '../../src/api/app';
import { type ApiContext } from '../../src/api/context';
import { type Config, loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { type MailMessage, type Mailer } from '../../src/notifications/mailer';
import { createStripeClient } from '../../src/payments/stripe-client';
import { CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { createWorkers, workflowsPath } from '../../src/worker/workers';
import { createNotificationActivities } from '../../activities/notifications';
import { LIFTED_CARD_LIMITS } from './api';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './db';
import { startTestStripe, TEST_STRIPE_KEY, type TestStripe } from './stripe';
import { createTestWorkflowEnvironment } from './temporal';

/** Bundled once per test file and shared by every worker of that file. */
let bundle: Promise<WorkflowBundle> | undefined;
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: silentLogger });
  return bundle;
}

const silentLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta),
};

export interface TestPlatform {
  env: TestWorkflowEnvironment;
  config: Config;
  testDb: TestDatabase;
  stripe: Stripe;
  testStripe: TestStripe;
  mail: MailMessage[];
  app: Express;
  workflows: CampaignWorkflows;
  /** Runs the workers until `work` settles (or until `stop()` is called on them). */
  runWorkers<T>(work: () => Promise<T>): Promise<T>;
  newWorkers(): Promise<Worker[]>;
  /** Drains the notification outbox through the delivery activity (the outbox workflow is not run in tests). */
  deliverMail(): Promise<number>;
  /** Moves the Stripe stand-in's clock up to the workflow clock now, as activities do when they start. */
  syncStripeClock(): Promise<void>;
  close(): Promise<void>;
}

export interface TestPlatformOptions {
  /** Timeout of the platform's Stripe client: fault drills make it shorter than the stand-in's injected latency. */
  stripeTimeoutMs?: number;
  /** A database made by the caller (a worker in another process needs one it reaches by URL alone); dropped on close. */
  database?: TestDatabase;
  /** The Stripe stand-in platform account's settlement currency (lowercase ISO code; the stand-in's default is usd). */
  settlementCurrency?: string;
}

export async function createTestPlatform(env: Record<string, string> = {}, options: TestPlatformOptions = {}): Promise<TestPlatform> {
  const temporal = await createTestWorkflowEnvironment({ searchAttributes: true });
  const testStripe = await startTestStripe({ maxNetworkRetries: 3, ...(options.settlementCurrency ? { settlementCurrency: options.settlementCurrency } : {}) });
  const testDb = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: TEST_DATABASE_URL,
    LOG_LEVEL: 'error',
    STRIPE_SECRET_KEY: TEST_STRIPE_KEY,
    STRIPE_API_BASE: testStripe.url,
    TEMPORAL_TASK_QUEUE: `campaigns-${testDb.schema}`,
    TEMPORAL_STRIPE_TASK_QUEUE: `stripe-${testDb.schema}`,
    STRIPE_ACTIVITIES_PER_SECOND: '100',
    // Workflow suites place many pledges with the one test card from one address: card-testing limits are
    // proved in test/api/card-testing.test.ts, not here.
    ...LIFTED_CARD_LIMITS,
    ...env,
  });
  const stripe =
    options.stripeTimeoutMs === undefined
      ? testStripe.stripe
      : createStripeClient({ secretKey: TEST_STRIPE_KEY, apiBase: testStripe.url, maxNetworkRetries: 3, timeoutMs: options.stripeTimeoutMs });
  const mail: MailMessage[] = [];
  const mailer: Mailer = { send: async (message) => void mail.push(message), close: () => undefined };

  // The Stripe stand-in's clock follows the workflow clock (it never goes back).
  let stripeAdvancedMs = 0;
  let syncing: Promise<void> = Promise.resolve();
  const syncStripeClock = (workflowTimeMs: number) => {
    // One at a time, so concurrent activities do not each add the same gap.
    syncing = syncing.then(async () => {
      const behind = workflowTimeMs - (Date.now() + stripeAdvancedMs);
      if (behind <= 1_000) return;
      stripeAdvancedMs += behind;
      await testStripe.advanceClock(Math.floor(behind / 1000));
    });
    return syncing;
  };
  const clockInterceptor: ActivityInterceptorsFactory = (ctx: Context) => ({
    inbound: {
      async execute(input, next) {
        await syncStripeClock(ctx.info.currentAttemptScheduledTimestampMs);
        return next(input);
      },
    },
  });

  const deps = { database: testDb.database, stripe, config, mailer };
  const newWorkers = async () =>
    createWorkers({
      connection: temporal.nativeConnection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      stripeTaskQueue: config.temporal.stripeTaskQueue,
      stripeActivitiesPerSecond: config.temporal.stripeActivitiesPerSecond,
      deps,
      workflows: { workflowBundle: await workflowBundle() },
      overrides: { interceptors: { activity: [clockInterceptor] }, shutdownGraceTime: '1 second' },
    });

  const workflows = new CampaignWorkflows(temporal.client, config);
  const context: ApiContext = { config, database: testDb.database, logger: createLogger('silent'), campaignWorkflows: workflows, stripe };

  return {
    env: temporal,
    config,
    testDb,
    stripe,
    testStripe,
    mail,
    app: createApp(context),
    workflows,
    newWorkers,
    deliverMail: () => createNotificationActivities(deps).deliverNotifications({ limit: 10_000 }),
    syncStripeClock: async () => syncStripeClock(await temporal.currentTimeMs()),
    async runWorkers(work) {
      const workers = await newWorkers();
      const done = work();
      await Promise.all(workers.map((worker) => worker.runUntil(done.catch(() => undefined))));
      return done;
    },
    async close() {
      // Background work the API started (update sends) ends before the services it talks to.
      await context.updateSends?.drain();
      await testDb.drop();
      await testStripe.close();
      await temporal.teardown();
    },
  };
}

/**
 * Every workflow run the platform's Temporal holds, with its history: for replay checks, and (with
 * UPDATE_HISTORY_FIXTURES=1) stored under test/workflows/histories for the replay suite.
 */
export async function allHistories(p: TestPlatform): Promise<Array<{ name: string; workflowId: string; history: temporal.api.history.v1.IHistory }>> {
  const result: Array<{ name: string; workflowId: string; history: temporal.api.history.v1.IHistory }> = [];
  for await (const execution of p.env.client.workflow.list()) {
    const history = await p.env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    result.push({ name: `${execution.type}-${execution.runId}`, workflowId: execution.workflowId, history });
  }
  return result;
}

/** Histories are stored as base64 protobuf: exact, compact, and independent of JSON conventions. */
export function encodeHistory(history: temporal.api.history.v1.IHistory): string {
  return Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64');
}

export function decodeHistory(text: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.decode(Buffer.from(text, 'base64'));
}
