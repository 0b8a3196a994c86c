/**
 * `npm run bench -- settlement`: a funded all-or-nothing campaign with N held pledges (1,000 and 10,000; or
 * BENCH_PLEDGES) settled against the Stripe stand-in limited to R requests/s (BENCH_RATE, default 100), with the
 * product's workers in this process and the Temporal stand-in in real time as a separate process (as a server is).
 *
 * Reports wall time from the deadline to the last pledge settled, Stripe calls/s achieved during settlement as a
 * fraction of R (settlement should be bound by Stripe's limit, not by us), the longest history of any workflow run,
 * this process's peak RSS (the worker), and double captures counted from the stand-in's request log.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config';
import { createStripeClient } from '../../src/payments/stripe-client';
import { STANDIN_SECRET_KEY, standinControls } from '@crowdfund/stripe-standin';
import { CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { createWorkers, installRuntimeLogger, workflowsPath } from '../../src/worker/workers';
import { bundleWorkflowCode } from '@temporalio/worker';
import { type CampaignState } from '../../workflows/messages';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { createTestDatabase, TEST_DATABASE_URL } from '../helpers/db';
import { TEMPORAL_STANDIN_BIN } from '@crowdfund/temporal-standin/testing';
import { MACHINE, startStripeProcess } from './processes';

const RATE = Number(process.env.BENCH_RATE ?? 100);
const SIZES = process.env.BENCH_PLEDGES ? [Number(process.env.BENCH_PLEDGES)] : [1_000, 10_000];
const SEED_CONCURRENCY = 32;

function peakRss() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return { read: () => peak, reset: () => (peak = process.memoryUsage().rss), stop: () => clearInterval(timer) };
}

async function main(): Promise<void> {
  installRuntimeLogger('warn');
  const rss = peakRss();
  // Whatever started is stopped, in reverse order, however the run ends.
  const stops: Array<() => unknown> = [rss.stop];
  try {
    await run(rss, stops);
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch((error: unknown) => console.error('while stopping:', error));
  }
}

async function run(rss: ReturnType<typeof peakRss>, stops: Array<() => unknown>): Promise<void> {
  const stripeProcess = await startStripeProcess();
  stops.push(stripeProcess.stop);
  const controls = standinControls(stripeProcess.url);
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: TEMPORAL_STANDIN_BIN },
      extraArgs: Object.entries(CAMPAIGN_SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    },
  });
  stops.push(() => temporal.teardown());
  const testDb = await createTestDatabase();
  stops.push(() => testDb.drop());
  const db = testDb.database.db;
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: TEST_DATABASE_URL,
    LOG_LEVEL: 'warn',
    STRIPE_SECRET_KEY: STANDIN_SECRET_KEY,
    STRIPE_API_BASE: stripeProcess.url,
    PAYOUT_DELAY: '1h',
    // The product's settlement settings, as an operator would tune them.
    ...pick(process.env, ['SETTLEMENT_WINDOW_SIZE', 'SETTLEMENT_PAGE_SIZE']),
  });
  // Retries with Stripe's backoff on 429s, as in production.
  const stripe = createStripeClient({ secretKey: STANDIN_SECRET_KEY, apiBase: stripeProcess.url, maxNetworkRetries: 5 });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
  const workers = await createWorkers({
    connection: temporal.nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    stripeTaskQueue: config.temporal.stripeTaskQueue,
    stripeActivitiesPerSecond: RATE,
    deps: { database: testDb.database, stripe, config, mailer: { send: async () => undefined, close: () => undefined } },
    workflows: { workflowBundle },
  });
  const running = Promise.all(workers.map((worker) => worker.run()));
  stops.push(async () => {
    for (const worker of workers) worker.shutdown();
    await running;
  });
  const workflows = new CampaignWorkflows(temporal.client, config);
  const creator = await db.insertInto('users').values({ email: `creator-${randomUUID()}@bench.test`, name: 'Creator', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();

  const results = [];
  for (const pledges of SIZES) {
    // Holds placed with no limit (seeding is not what is measured), then Stripe's limit for settlement.
    await controls.setRateLimit(0);
    const campaignId = randomUUID();
    const intents = await seedHolds(stripe, campaignId, pledges);
    await sql`insert into users (id, email, name, password_hash)
              select md5(${campaignId} || g)::uuid, ${campaignId} || '-' || g || '@bench.test', 'Backer', 'x' from generate_series(1, ${pledges}) g`.execute(db);
    const endsAt = new Date(Date.now() + 3_000);
    await db
      .insertInto('campaigns')
      .values({ id: campaignId, creator_id: creator.id, title: `Bench ${pledges}`, slug: `bench-${campaignId}`, goal_amount: 100, currency: 'USD', model: 'aon', starts_at: new Date(Date.now() - 60_000), ends_at: endsAt, status: 'active' })
      .execute();
    await sql`insert into pledges (campaign_id, backer_id, amount, currency, status, payment_intent_id, payment_method_id, authorized_at)
              select ${campaignId}::uuid, md5(${campaignId} || g)::uuid, ${intents.amount}, 'USD', 'authorized', (${intents.ids}::text[])[g], 'pm_card_visa', now()
              from generate_series(1, ${pledges}) g`.execute(db);
    await controls.setRateLimit(RATE, { overall: RATE });
    await controls.clearRequests();
    rss.reset();

    await workflows.start({ id: campaignId, title: `Bench ${pledges}`, creatorId: creator.id, model: 'aon', endsAt });
    const handle = temporal.client.workflow.getHandle(`campaign-${campaignId}`);
    let state: CampaignState;
    do {
      await new Promise((resolve) => setTimeout(resolve, 250));
      state = await handle.query<CampaignState>('campaignState');
    } while (state.phase === 'scheduled' || state.phase === 'active' || state.phase === 'settling');
    const settledAt = Date.now();

    const log = await controls.requests();
    const captures = log.filter((r) => r.method === 'POST' && r.path.endsWith('/capture'));
    const firstCall = log.reduce((min, r) => Math.min(min, r.at), Infinity);
    const lastCall = log.reduce((max, r) => Math.max(max, r.at), 0);
    const applied = new Map<string, number>();
    for (const r of captures) if (r.status === 200 && !r.replayed) applied.set(r.path, (applied.get(r.path) ?? 0) + 1);
    const stripeSeconds = (lastCall - firstCall) / 1000;
    const accepted = log.filter((r) => r.status !== 429).length;
    const captured = await db.selectFrom('pledges').select(sql<number>`count(*)::int`.as('n')).where('campaign_id', '=', campaignId).where('status', '=', 'captured').executeTakeFirstOrThrow();
    const ledger = await db.selectFrom('ledger_entries').select(sql<number>`count(*)::int`.as('n')).where('campaign_id', '=', campaignId).where('kind', '=', 'capture').executeTakeFirstOrThrow();
    const histories = await maxHistoryLength(temporal, campaignId);
    await handle.terminate('benchmark finished');

    const figures = {
      pledges,
      rateLimit: RATE,
      wallSeconds: round((settledAt - endsAt.getTime()) / 1000),
      stripeCalls: log.length,
      stripe429s: log.length - accepted,
      stripeCallsPerSecond: round(accepted / stripeSeconds),
      fractionOfRate: round(accepted / stripeSeconds / RATE),
      maxHistoryLength: histories.max,
      workflowRuns: histories.runs,
      peakWorkerRssMb: Math.round(rss.read() / 2 ** 20),
      captured: captured.n,
      ledgerCaptures: ledger.n,
      doubleCaptures: [...applied.values()].filter((n) => n > 1).length,
    };
    console.log(
      `${pledges} pledges at ${RATE}/s: settled in ${figures.wallSeconds} s, ${figures.stripeCallsPerSecond} Stripe calls/s (${Math.round(figures.fractionOfRate * 100)}% of the limit, ${figures.stripe429s} 429s), ` +
        `longest history ${figures.maxHistoryLength} events over ${figures.workflowRuns} runs, peak worker RSS ${figures.peakWorkerRssMb} MB, ` +
        `${figures.captured} captured, ${figures.doubleCaptures} double captures`,
    );
    results.push(figures);
  }
  console.log(JSON.stringify({ benchmark: 'settlement', machine: MACHINE, results }));
}

/** N manual-capture PaymentIntents, placed as the pledge API places holds. */
async function seedHolds(stripe: ReturnType<typeof createStripeClient>, campaignId: string, count: number) {
  const amount = 2_500;
  const ids: string[] = new Array<string>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: SEED_CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const intent = await stripe.paymentIntents.create(
          { amount, currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true, metadata: { campaign_id: campaignId } },
          { idempotencyKey: `bench-${campaignId}-${i}` },
        );
        ids[i] = intent.id;
      }
    }),
  );
  return { ids, amount };
}

/** The longest history among every run of the campaign's workflow and its pledge children. */
async function maxHistoryLength(temporal: TestWorkflowEnvironment, campaignId: string) {
  let max = 0;
  let runs = 0;
  for await (const execution of temporal.client.workflow.list()) {
    if (!execution.workflowId.startsWith(`campaign-${campaignId}`)) continue;
    runs++;
    max = Math.max(max, execution.historyLength);
  }
  return { max, runs };
}

const round = (value: number) => Math.round(value * 100) / 100;

function pick(env: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
