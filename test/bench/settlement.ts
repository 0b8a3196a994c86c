/**
 * `npm run bench -- settlement [--pledges 1000] [--rates 25,100] [--overall 100] [--latency 150,300,600] [--naive 300]`:
 * a funded all-or-nothing campaign with N held pledges settled at its deadline against the Stripe stand-in as Stripe
 * behaves: each answer delayed by a draw from min,median,max ms (`--latency`, 0 for none) and R requests/s per
 * endpoint (each of `--rates`) with `--overall` requests/s to all endpoints together (Stripe's live defaults: 25 and
 * 100). The product's workers run in this process with the Stripe task queue paced at R; the Temporal stand-in runs
 * in real time as a separate process (as a server is). Each option can also be given in the environment
 * (BENCH_PLEDGES, BENCH_RATES, BENCH_OVERALL, BENCH_LATENCY, BENCH_NAIVE_PLEDGES).
 *
 * Then the naive peer: the original design's sequential capture loop (naive-settlement.ts) against the same stand-in,
 * latency and limits, over the first `--naive` pledges of a campaign of its own ("all" for N; it is steady, so a
 * sample gives its rate and the time for N is projected). Prints both side by side with the ratio, and writes the plot
 * (settled pledges over time) to docs/settlement-<N>.svg (`--plot` for another path).
 *
 * Reports for each run: wall time from the deadline to the last pledge settled, pledges settled/s and Stripe calls/s
 * as fractions of R (settlement should be bound by Stripe's limit, not by us), 429s, the longest history of any
 * workflow run, this process's peak RSS (the worker), and double captures counted from the stand-in's request log.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config';
import { createStripeClient } from '../../src/payments/stripe-client';
import { STANDIN_SECRET_KEY, standinControls, type StandinControls } from '@crowdfund/stripe-standin';
import { CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { createWorkers, installRuntimeLogger, workflowsPath } from '../../src/worker/workers';
import { bundleWorkflowCode } from '@temporalio/worker';
import { type CampaignState } from '../../workflows/messages';
import { CAMPAIGN_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { type Db } from '../../db/database';
import { createTestDatabase, TEST_DATABASE_URL } from '../helpers/db';
import { TEMPORAL_STANDIN_BIN } from '@crowdfund/temporal-standin/testing';
import { MACHINE, startStripeProcess } from './processes';
import { settleSequentially } from './naive-settlement';
import { type PlotLine, settlementPlot } from './settlement-plot';

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { pledges: { type: 'string' }, rates: { type: 'string' }, overall: { type: 'string' }, latency: { type: 'string' }, naive: { type: 'string' }, plot: { type: 'string' } },
});
const numbers = (text: string) => text.split(',').map(Number);
const SIZES = numbers(args.pledges ?? process.env.BENCH_PLEDGES ?? '1000');
const RATES = numbers(args.rates ?? process.env.BENCH_RATES ?? process.env.BENCH_RATE ?? '25,100');
const OVERALL = Number(args.overall ?? process.env.BENCH_OVERALL ?? 100);
const [LATENCY_MIN, LATENCY_MEDIAN, LATENCY_MAX] = numbers(args.latency ?? process.env.BENCH_LATENCY ?? '150,300,600');
const NAIVE = args.naive ?? process.env.BENCH_NAIVE_PLEDGES ?? '300';
const SEED_CONCURRENCY = 32;
// dist/test/bench -> the repository root
const ROOT = join(__dirname, '..', '..', '..');

function peakRss() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return { read: () => peak, reset: () => (peak = process.memoryUsage().rss), stop: () => clearInterval(timer) };
}

async function main(): Promise<void> {
  if (![...SIZES, ...RATES, OVERALL].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--pledges, --rates and --overall take positive integers');
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

type Stripe = ReturnType<typeof createStripeClient>;

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
  const workflows = new CampaignWorkflows(temporal.client, config);
  const creator = await db.insertInto('users').values({ email: `creator-${randomUUID()}@bench.test`, name: 'Creator', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
  const latency = LATENCY_MAX! > 0 ? { minMs: LATENCY_MIN!, medianMs: LATENCY_MEDIAN!, maxMs: LATENCY_MAX! } : undefined;
  const latencyText = latency ? `latency ${latency.minMs}-${latency.maxMs} ms (median ${latency.medianMs})` : 'no added latency';

  /** Seeds a campaign of `pledges` holds with Stripe unlimited and undelayed, then puts Stripe's conditions on. */
  async function seed(pledges: number, rate: number, deadlineInMs: number): Promise<{ campaignId: string; endsAt: Date }> {
    await controls.setRateLimit(0);
    await controls.clearFaults();
    const campaignId = randomUUID();
    const intents = await seedHolds(stripe, campaignId, pledges);
    const endsAt = new Date(Date.now() + deadlineInMs);
    await sql`insert into users (id, email, name, password_hash)
              select md5(${campaignId} || g)::uuid, ${campaignId} || '-' || g || '@bench.test', 'Backer', 'x' from generate_series(1, ${pledges}) g`.execute(db);
    await db
      .insertInto('campaigns')
      .values({ id: campaignId, creator_id: creator.id, title: `Bench ${pledges}`, slug: `bench-${campaignId}`, goal_amount: 100, currency: 'USD', model: 'aon', starts_at: new Date(Date.now() - 60_000), ends_at: endsAt, status: 'active' })
      .execute();
    await sql`insert into pledges (campaign_id, backer_id, amount, currency, status, payment_intent_id, payment_method_id, authorized_at)
              select ${campaignId}::uuid, md5(${campaignId} || g)::uuid, ${intents.amount}, 'USD', 'authorized', (${intents.ids}::text[])[g], 'pm_card_visa', now()
              from generate_series(1, ${pledges}) g`.execute(db);
    await stripeConditions(controls, rate, latency);
    await controls.clearRequests();
    return { campaignId, endsAt };
  }

  const results = [];
  for (const pledges of SIZES) {
    const plot: PlotLine[] = [];
    const ours = [];
    for (const rate of RATES) {
      const workers = await createWorkers({
        connection: temporal.nativeConnection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        stripeTaskQueue: config.temporal.stripeTaskQueue,
        stripeActivitiesPerSecond: rate,
        deps: { database: testDb.database, stripe, config, mailer: { send: async () => undefined, close: () => undefined } },
        workflows: { workflowBundle },
      });
      const running = Promise.all(workers.map((worker) => worker.run()));
      try {
        const { campaignId, endsAt } = await seed(pledges, rate, 3_000 + pledges);
        rss.reset();
        await workflows.start({ id: campaignId, title: `Bench ${pledges}`, creatorId: creator.id, model: 'aon', endsAt });
        const handle = temporal.client.workflow.getHandle(`campaign-${campaignId}`);
        let state: CampaignState;
        do {
          await new Promise((resolve) => setTimeout(resolve, 250));
          state = await handle.query<CampaignState>('campaignState');
        } while (state.phase === 'scheduled' || state.phase === 'active' || state.phase === 'settling');
        const settledAt = Date.now();
        const stripeFigures = await stripeLog(controls, rate);
        const times = await settledTimes(db, campaignId, endsAt.getTime());
        const ledger = await db.selectFrom('ledger_entries').select(sql<number>`count(*)::int`.as('n')).where('campaign_id', '=', campaignId).where('kind', '=', 'capture').executeTakeFirstOrThrow();
        const histories = await maxHistoryLength(temporal, campaignId);
        await handle.terminate('benchmark finished');
        const wallSeconds = (settledAt - endsAt.getTime()) / 1000;
        const figures = {
          peer: 'ours',
          pledges,
          rateLimit: rate,
          overallRateLimit: OVERALL,
          wallSeconds: round(wallSeconds),
          // From the deadline to the last capture recorded (the phase is polled every 250 ms).
          pledgesPerSecond: round(times.length / (times.at(-1) ?? NaN)),
          fractionOfRate: round(times.length / (times.at(-1) ?? NaN) / rate),
          ...stripeFigures,
          maxHistoryLength: histories.max,
          workflowRuns: histories.runs,
          peakWorkerRssMb: Math.round(rss.read() / 2 ** 20),
          captured: times.length,
          ledgerCaptures: ledger.n,
        };
        console.log(
          `ours, ${pledges} pledges at ${rate}/s per endpoint (${OVERALL}/s overall), ${latencyText}: settled in ${figures.wallSeconds} s, ` +
            `${figures.pledgesPerSecond} pledges/s (${pct(figures.fractionOfRate)} of the limit), ${figures.stripeCallsPerSecond} Stripe calls/s, ${figures.stripe429s} 429s, ` +
            `longest history ${figures.maxHistoryLength} events over ${figures.workflowRuns} runs, peak worker RSS ${figures.peakWorkerRssMb} MB, ` +
            `${figures.captured} captured, ${figures.doubleCaptures} double captures`,
        );
        ours.push(figures);
        plot.push({ label: `ours at ${rate}/s per endpoint: ${figures.wallSeconds} s`, times });
      } finally {
        for (const worker of workers) worker.shutdown();
        await running;
      }
    }

    // The naive peer, under the strictest limit (it is far below any of them).
    const rate = Math.min(...RATES);
    const sample = NAIVE === 'all' ? pledges : Math.min(pledges, Number(NAIVE));
    const { campaignId: naiveCampaign } = await seed(sample, rate, 86_400_000);
    const loop = await settleSequentially(db, stripe, naiveCampaign, sample);
    const naiveTimes = await settledTimes(db, naiveCampaign, loop.startedAt);
    const naiveRate = loop.captured / loop.seconds;
    const naive = {
      peer: 'sequential loop',
      pledges,
      sampled: loop.captured,
      rateLimit: rate,
      overallRateLimit: OVERALL,
      sampleSeconds: round(loop.seconds),
      wallSeconds: round(pledges / naiveRate),
      projected: loop.captured < pledges,
      pledgesPerSecond: round(naiveRate),
      fractionOfRate: round(naiveRate / rate),
      ...(await stripeLog(controls, rate)),
    };
    const projection = naive.projected ? `projected from ${loop.captured} captured in ${naive.sampleSeconds} s` : 'measured';
    console.log(
      `sequential loop, ${pledges} pledges, ${latencyText}: ${naive.wallSeconds} s (${projection}), ${naive.pledgesPerSecond} pledges/s ` +
        `(${pct(naive.fractionOfRate)} of a ${rate}/s limit), ${naive.stripe429s} 429s, ${naive.doubleCaptures} double captures`,
    );
    plot.push({
      label: `sequential loop: ${naive.wallSeconds} s${naive.projected ? ' (dashed: projected)' : ''}`,
      times: naiveTimes,
      ...(naive.projected ? { projectTo: { seconds: naive.wallSeconds, pledges } } : {}),
    });

    console.log(`\n${pledges} pledges, ${latencyText}:`);
    console.log('| peer | limit per endpoint | wall time | pledges/s | fraction of the limit | times faster than the sequential loop |');
    console.log('|---|---|---|---|---|---|');
    const rows = ours.map((o) => ({ ...o, speedup: round(naive.wallSeconds / o.wallSeconds, 1) }));
    for (const o of rows) console.log(`| ours | ${o.rateLimit}/s | ${o.wallSeconds} s | ${o.pledgesPerSecond} | ${o.fractionOfRate} | ${o.speedup} |`);
    console.log(`| sequential loop | ${naive.rateLimit}/s | ${naive.wallSeconds} s${naive.projected ? ' (projected)' : ''} | ${naive.pledgesPerSecond} | ${naive.fractionOfRate} | 1 |`);
    for (const o of rows) console.log(`At ${o.rateLimit}/s per endpoint: ${o.speedup} times faster than a sequential capture loop.`);

    const plotPath = resolve(ROOT, args.plot ?? join('docs', `settlement-${pledges}.svg`));
    writeFileSync(plotPath, settlementPlot(`${pledges.toLocaleString('en')} held pledges settled, Stripe stand-in with ${latencyText}`, plot));
    console.log(`plot: ${plotPath}\n`);
    results.push({ pledges, latency: latency ?? null, ours: rows, naive, plot: plotPath });
  }
  console.log(JSON.stringify({ benchmark: 'settlement', machine: MACHINE, results }));
}

/** Stripe's limits as the account has them, and its answers delayed by `latency`, on every API request. */
async function stripeConditions(controls: StandinControls, rate: number, latency: { minMs: number; medianMs: number; maxMs: number } | undefined): Promise<void> {
  await controls.setRateLimit(rate, { overall: Math.max(OVERALL, rate) });
  if (latency) await controls.injectFault({ kind: 'latency', path: '^/v1/', latency });
}

/** Stripe calls/s while settlement ran, 429s and double captures, from the stand-in's request log. */
async function stripeLog(controls: StandinControls, rate: number) {
  const log = await controls.requests();
  const captures = log.filter((r) => r.method === 'POST' && r.path.endsWith('/capture'));
  const firstCall = log.reduce((min, r) => Math.min(min, r.at), Infinity);
  const lastCall = log.reduce((max, r) => Math.max(max, r.at), 0);
  const applied = new Map<string, number>();
  for (const r of captures) if (r.status === 200 && !r.replayed) applied.set(r.path, (applied.get(r.path) ?? 0) + 1);
  const accepted = log.filter((r) => r.status !== 429).length;
  const callsPerSecond = accepted / ((lastCall - firstCall) / 1000);
  return {
    stripeCalls: log.length,
    stripe429s: log.length - accepted,
    stripeCallsPerSecond: round(callsPerSecond),
    callsFractionOfRate: round(callsPerSecond / rate),
    doubleCaptures: [...applied.values()].filter((n) => n > 1).length,
  };
}

/** Seconds from `origin` (ms) at which each pledge of the campaign was recorded captured, ascending. */
async function settledTimes(db: Db, campaignId: string, origin: number): Promise<number[]> {
  const rows = await db.selectFrom('pledges').select('captured_at').where('campaign_id', '=', campaignId).where('status', '=', 'captured').orderBy('captured_at').execute();
  return rows.map((row) => (row.captured_at!.getTime() - origin) / 1000);
}

/** N manual-capture PaymentIntents, placed as the pledge API places holds. */
async function seedHolds(stripe: Stripe, campaignId: string, count: number) {
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

const round = (value: number, places = 2) => Math.round(value * 10 ** places) / 10 ** places;
const pct = (fraction: number) => `${Math.round(fraction * 100)}%`;

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
