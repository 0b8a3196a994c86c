/**
 * `npm run bench -- settlement [--pledges 1000] [--rates 25,100] [--overall 100] [--latency 150,300,600] [--naive 300]
 * [--window 200] [--page 500] [--standin-limit 15]`:
 * a funded all-or-nothing campaign with N held pledges settled at its deadline against the Stripe stand-in as Stripe
 * behaves: each answer delayed by a draw from min,median,max ms (`--latency`, 0 for none) and R requests/s per
 * endpoint (each of `--rates`) with `--overall` requests/s to all endpoints together (Stripe's live defaults: 25 and
 * 100). The product's workers run in this process, their Stripe client paced at R per endpoint and `--overall` in
 * all (the worker's rate limiter, as STRIPE_ENDPOINT_REQUESTS_PER_SECOND and STRIPE_REQUESTS_PER_SECOND set it) and
 * the Stripe task queue at R activities/s; the Temporal stand-in runs in real time as a separate process (as a server
 * is). `--window` and `--page` are the product's SETTLEMENT_WINDOW_SIZE and SETTLEMENT_PAGE_SIZE. `--standin-limit L`
 * makes Stripe's own limit L per endpoint, below the R the worker is configured with: the worker meets 429s and must
 * adapt its pace. Each option can also be given in the environment (BENCH_PLEDGES, BENCH_RATES, BENCH_OVERALL,
 * BENCH_LATENCY, BENCH_NAIVE_PLEDGES, BENCH_STANDIN_LIMIT, SETTLEMENT_WINDOW_SIZE, SETTLEMENT_PAGE_SIZE).
 *
 * Then the naive peer: the original design's sequential capture loop (naive-settlement.ts) against the same stand-in,
 * latency and limits, over the first `--naive` pledges of a campaign of its own ("all" for N, 0 for none; it is
 * steady, so a sample gives its rate and the time for N is projected). Prints both side by side with the ratio, and
 * writes the plot (settled pledges over time) to docs/settlement-<N>.svg (with `--standin-limit L`,
 * docs/settlement-<N>-stripe-limit-<L>.svg; `--plot` for another path).
 *
 * Reports for each run: wall time from the deadline to the last pledge settled, pledges settled/s and Stripe calls/s
 * as fractions of the limiting rate (R, or L when lower: settlement should be bound by Stripe's limit, not by us),
 * 429s, the longest history of any workflow run, this process's peak RSS (the worker), double captures counted from
 * the stand-in's request log, and the machine's load average while it ran (the machine may be shared). While a run
 * settles it prints the campaign query's progress (done, rate, ETA) every 10 s.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
import { childPids, cpuSecondsOf, MACHINE, startStripeProcess, threadCpuSeconds } from './processes';
import { settleSequentially } from './naive-settlement';
import { type PlotLine, settlementPlot } from './settlement-plot';

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    pledges: { type: 'string' },
    rates: { type: 'string' },
    overall: { type: 'string' },
    latency: { type: 'string' },
    naive: { type: 'string' },
    plot: { type: 'string' },
    window: { type: 'string' },
    page: { type: 'string' },
    'standin-limit': { type: 'string' },
  },
});
const numbers = (text: string) => text.split(',').map(Number);
const SIZES = numbers(args.pledges ?? process.env.BENCH_PLEDGES ?? '1000');
const RATES = numbers(args.rates ?? process.env.BENCH_RATES ?? process.env.BENCH_RATE ?? '25,100');
const OVERALL = Number(args.overall ?? process.env.BENCH_OVERALL ?? 100);
const [LATENCY_MIN, LATENCY_MEDIAN, LATENCY_MAX] = numbers(args.latency ?? process.env.BENCH_LATENCY ?? '150,300,600');
const NAIVE = args.naive ?? process.env.BENCH_NAIVE_PLEDGES ?? '300';
const WINDOW = args.window ?? process.env.SETTLEMENT_WINDOW_SIZE;
const PAGE = args.page ?? process.env.SETTLEMENT_PAGE_SIZE;
const STANDIN_LIMIT = args['standin-limit'] ?? process.env.BENCH_STANDIN_LIMIT;
const SEED_CONCURRENCY = 32;
// dist/test/bench -> the repository root
const ROOT = join(__dirname, '..', '..', '..');

function peakRss() {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  return { read: () => peak, reset: () => (peak = process.memoryUsage.rss()), stop: () => clearInterval(timer) };
}

/**
 * CPU seconds used while a run goes on: this process (the worker), its main thread and its busiest other thread
 * (the workflow thread, where the SDK runs workflow code), and the stand-ins' processes. Postgres is shared with
 * other work on the machine and not counted.
 */
function cpuTime(stand: { temporal: number | undefined; stripe: number }) {
  const of = (pid: number | undefined) => (pid === undefined ? NaN : cpuSecondsOf(pid));
  const start = { process: process.cpuUsage(), threads: threadCpuSeconds(), temporal: of(stand.temporal), stripe: of(stand.stripe) };
  return {
    stop() {
      const used = process.cpuUsage(start.process);
      const threads = [...threadCpuSeconds()].map(([tid, seconds]) => ({ tid, seconds: seconds - (start.threads.get(tid) ?? 0) }));
      const main = threads.find((thread) => thread.tid === process.pid)?.seconds ?? NaN;
      const busiestOther = Math.max(...threads.filter((thread) => thread.tid !== process.pid).map((thread) => thread.seconds));
      return {
        workerProcess: round((used.user + used.system) / 1e6, 1),
        workerMainThread: round(main, 1),
        workflowThread: round(busiestOther, 1),
        temporalStandin: round(of(stand.temporal) - start.temporal, 1),
        stripeStandin: round(of(stand.stripe) - start.stripe, 1),
      };
    },
  };
}

/** A full garbage collection now (`global.gc`, made available without a command-line flag). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** The machine's 1-minute load average while a run goes on (other work shares the cores): at its start, mean, max. */
function loadAverage() {
  const samples = [loadavg()[0]!];
  const timer = setInterval(() => samples.push(loadavg()[0]!), 1_000);
  return {
    stop() {
      clearInterval(timer);
      const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
      return { start: round(samples[0]!), mean: round(mean), max: round(Math.max(...samples)) };
    },
  };
}

async function main(): Promise<void> {
  const integers = [...SIZES, ...RATES, OVERALL, ...[WINDOW, PAGE, STANDIN_LIMIT].filter((n) => n !== undefined).map(Number)];
  if (!integers.every((n) => Number.isInteger(n) && n > 0)) throw new Error('--pledges, --rates, --overall, --window, --page and --standin-limit take positive integers');
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
  const standins = { temporal: childPids('temporal-standin')[0], stripe: stripeProcess.pid };
  // As many connections as the worker has by default (DATABASE_POOL_SIZE).
  const testDb = await createTestDatabase({ poolSize: 10 });
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
    ...(WINDOW ? { SETTLEMENT_WINDOW_SIZE: WINDOW } : {}),
    ...(PAGE ? { SETTLEMENT_PAGE_SIZE: PAGE } : {}),
  });
  // Seeding and the sequential loop (one request at a time, far below any limit) need no pacing.
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

  /** The sequential loop over a sample of `pledges` (or all of them), its figures, and its line on the plot. */
  async function runNaive(pledges: number, rate: number, plot: PlotLine[]) {
    const sample = NAIVE === 'all' ? pledges : Math.min(pledges, Number(NAIVE));
    const { campaignId: naiveCampaign } = await seed(sample, rate, 86_400_000);
    const naiveLoad = loadAverage();
    const loop = await settleSequentially(db, stripe, naiveCampaign, sample);
    const naiveTimes = await settledTimes(db, naiveCampaign, loop.startedAt);
    const naiveRate = loop.captured / loop.seconds;
    const naiveLoadAverage = naiveLoad.stop();
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
      loadAverage: naiveLoadAverage,
    };
    const projection = naive.projected ? `projected from ${loop.captured} captured in ${naive.sampleSeconds} s` : 'measured';
    console.log(
      `sequential loop, ${pledges} pledges, ${latencyText}: ${naive.wallSeconds} s (${projection}), ${naive.pledgesPerSecond} pledges/s ` +
        `(${pct(naive.fractionOfRate)} of a ${rate}/s limit), ${naive.stripe429s} 429s, ${naive.doubleCaptures} double captures, load average ${naiveLoadAverage.mean}`,
    );
    plot.push({
      label: `sequential loop: ${naive.wallSeconds} s${naive.projected ? ' (dashed: projected)' : ''}`,
      times: naiveTimes,
      ...(naive.projected ? { projectTo: { seconds: naive.wallSeconds, pledges } } : {}),
    });
    return naive;
  }

  const results = [];
  for (const pledges of SIZES) {
    const plot: PlotLine[] = [];
    const ours = [];
    for (const rate of RATES) {
      // The worker's client as production makes it: every request paced by the process's rate limiter.
      const workerStripe = createStripeClient({ secretKey: STANDIN_SECRET_KEY, apiBase: stripeProcess.url, requestsPerSecond: { overall: OVERALL, perEndpoint: rate } });
      const workers = await createWorkers({
        connection: temporal.nativeConnection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        stripeTaskQueue: config.temporal.stripeTaskQueue,
        stripeActivitiesPerSecond: rate,
        deps: { database: testDb.database, stripe: workerStripe, config, mailer: { send: async () => undefined, close: () => undefined } },
        workflows: { workflowBundle },
      });
      const running = Promise.all(workers.map((worker) => worker.run()));
      try {
        const { campaignId, endsAt } = await seed(pledges, rate, 5_000);
        const limiting = Math.min(rate, stripeLimit(rate));
        // The seeding's garbage (this process made the N holds) is not the worker's: collected before measuring.
        collectGarbage();
        rss.reset();
        const load = loadAverage();
        const cpu = cpuTime(standins);
        await workflows.start({ id: campaignId, title: `Bench ${pledges}`, creatorId: creator.id, model: 'aon', endsAt });
        const handle = temporal.client.workflow.getHandle(`campaign-${campaignId}`);
        let state: CampaignState;
        let shownAt = Date.now();
        do {
          await new Promise((resolve) => setTimeout(resolve, 250));
          state = await handle.query<CampaignState>('campaignState');
          if (state.settlement && Date.now() - shownAt >= 10_000) {
            shownAt = Date.now();
            const { done, total, ratePerSecond, etaSeconds } = state.settlement;
            console.log(`  ${Math.round((shownAt - endsAt.getTime()) / 1000)} s: ${done} of ${total} settled, ${ratePerSecond ?? '-'}/s, ETA ${etaSeconds ?? '-'} s, load ${loadavg()[0]!.toFixed(1)}, RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`);
          }
        } while (state.phase === 'scheduled' || state.phase === 'active' || state.phase === 'settling');
        const settledAt = Date.now();
        // Read before this process reads N rows and the stand-in's request log back.
        const peakWorkerRss = rss.read();
        const loadAverages = load.stop();
        const cpuSeconds = cpu.stop();
        const stripeFigures = await stripeLog(controls, limiting);
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
          standinRateLimit: stripeLimit(rate),
          window: config.temporal.settlementWindowSize,
          page: config.temporal.settlementPageSize,
          pledgesPerSecond: round(times.length / (times.at(-1) ?? NaN)),
          // Of the limiting rate: the configured R, or Stripe's own limit where that is lower.
          fractionOfRate: round(times.length / (times.at(-1) ?? NaN) / limiting),
          // From the first capture to the last: without closing pledging, the tally and the outcome's notifications.
          capturingSeconds: round((times.at(-1) ?? NaN) - (times[0] ?? NaN)),
          capturingPledgesPerSecond: round((times.length - 1) / ((times.at(-1) ?? NaN) - (times[0] ?? NaN))),
          ...stripeFigures,
          maxHistoryLength: histories.max,
          workflowRuns: histories.runs,
          peakWorkerRssMb: Math.round(peakWorkerRss / 2 ** 20),
          captured: times.length,
          ledgerCaptures: ledger.n,
          loadAverage: loadAverages,
          cpuSeconds,
        };
        const standin = stripeLimit(rate) < rate ? ` (Stripe's own limit ${stripeLimit(rate)}/s)` : '';
        console.log(
          `ours, ${pledges} pledges at ${rate}/s per endpoint${standin} (${OVERALL}/s overall), window ${figures.window}, page ${figures.page}, ${latencyText}: settled in ${figures.wallSeconds} s, ` +
            `${figures.pledgesPerSecond} pledges/s (${pct(figures.fractionOfRate)} of the limit; ${figures.capturingPledgesPerSecond}/s from the first capture to the last), ` +
            `${figures.stripeCallsPerSecond} Stripe calls/s, ${figures.stripe429s} 429s, ` +
            `longest history ${figures.maxHistoryLength} events over ${figures.workflowRuns} runs, peak worker RSS ${figures.peakWorkerRssMb} MB, ` +
            `${figures.captured} captured, ${figures.doubleCaptures} double captures, load average ${loadAverages.mean} (max ${loadAverages.max}); ` +
            `CPU s: worker ${cpuSeconds.workerProcess} (main thread ${cpuSeconds.workerMainThread}, workflow thread ${cpuSeconds.workflowThread}), ` +
            `Temporal stand-in ${cpuSeconds.temporalStandin}, Stripe stand-in ${cpuSeconds.stripeStandin}`,
        );
        ours.push(figures);
        plot.push({ label: `ours at ${rate}/s per endpoint: ${figures.wallSeconds} s`, times });
      } finally {
        for (const worker of workers) worker.shutdown();
        await running;
      }
    }

    // The naive peer, under the strictest limit (it is far below any of them); `--naive 0` skips it.
    const naive = NAIVE === '0' ? undefined : await runNaive(pledges, Math.min(...RATES), plot);
    console.log(`\n${pledges} pledges, ${latencyText}:`);
    console.log('| peer | limit per endpoint | wall time | pledges/s | fraction of the limit | times faster than the sequential loop | longest history | peak worker RSS | 429s | double captures | load average (mean, max) |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    const rows = ours.map((o) => ({ ...o, speedup: naive ? round(naive.wallSeconds / o.wallSeconds, 1) : null }));
    const limitText = (o: { rateLimit: number; standinRateLimit: number }) => (o.standinRateLimit < o.rateLimit ? `${o.rateLimit}/s (Stripe's ${o.standinRateLimit}/s)` : `${o.rateLimit}/s`);
    for (const o of rows) {
      console.log(
        `| ours | ${limitText(o)} | ${o.wallSeconds} s | ${o.pledgesPerSecond} | ${o.fractionOfRate} | ${o.speedup ?? '-'} | ${o.maxHistoryLength} | ${o.peakWorkerRssMb} MB | ${o.stripe429s} | ${o.doubleCaptures} | ${o.loadAverage.mean}, ${o.loadAverage.max} |`,
      );
    }
    if (naive) {
      console.log(
        `| sequential loop | ${naive.rateLimit}/s | ${naive.wallSeconds} s${naive.projected ? ' (projected)' : ''} | ${naive.pledgesPerSecond} | ${naive.fractionOfRate} | 1 | - | - | ${naive.stripe429s} | ${naive.doubleCaptures} | ${naive.loadAverage.mean}, ${naive.loadAverage.max} |`,
      );
      for (const o of rows) console.log(`At ${o.rateLimit}/s per endpoint: ${o.speedup} times faster than a sequential capture loop.`);
    }

    const plotName = STANDIN_LIMIT === undefined ? `settlement-${pledges}.svg` : `settlement-${pledges}-stripe-limit-${STANDIN_LIMIT}.svg`;
    const plotPath = resolve(ROOT, args.plot ?? join('docs', plotName));
    writeFileSync(plotPath, settlementPlot(`${pledges.toLocaleString('en')} held pledges settled, Stripe stand-in with ${latencyText}`, plot));
    console.log(`plot: ${plotPath}\n`);
    results.push({ pledges, latency: latency ?? null, ours: rows, naive: naive ?? null, plot: plotPath });
  }
  console.log(JSON.stringify({ benchmark: 'settlement', machine: MACHINE, results }));
}

/** Stripe's own limit per endpoint: R, or `--standin-limit` (below the R the worker is configured with). */
function stripeLimit(rate: number): number {
  return STANDIN_LIMIT === undefined ? rate : Number(STANDIN_LIMIT);
}

/** Stripe's limits as the account has them, and its answers delayed by `latency`, on every API request. */
async function stripeConditions(controls: StandinControls, rate: number, latency: { minMs: number; medianMs: number; maxMs: number } | undefined): Promise<void> {
  await controls.setRateLimit(stripeLimit(rate), { overall: Math.max(OVERALL, stripeLimit(rate)) });
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

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
