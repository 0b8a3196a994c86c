/**
 * `npm run bench -- pledges`: pledge placement through HTTP at rising arrival rates (goal: p99 under 100 ms at
 * 100 pledges/s). The API runs as `npm run api` in its own process against a database of its own and the Stripe
 * stand-in (a process too); every pledge is a new backer placing a hold on an all-or-nothing campaign: a Stripe
 * customer, a PaymentIntent, two transactions and the idempotency record.
 *
 * Arrivals are open-loop (one every 1/rate s, whatever the answers), and latency counts from when a request was
 * due, so a server that falls behind shows it in its percentiles. BENCH_RATES (default 25,50,100,150,200) and
 * BENCH_SECONDS per rate (default 10). Last line: JSON figures.
 */
import { sql } from 'kysely';
import { MACHINE, openLoop, percentile, placePledge, round, rssOf, runBenchmark, seedActiveCampaign, seedBackers, startApiWithStripe } from './processes';

const RATES = (process.env.BENCH_RATES ?? '25,50,100,150,200').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

runBenchmark(async (stops) => {
  const { db, api } = await startApiWithStripe(stops);

  const backers = await seedBackers(db, RATES.reduce((sum, rate) => sum + rate * SECONDS, 0) + 10);
  let nextBacker = 0;
  const place = (campaignId: string) => placePledge(api.url, campaignId, backers[nextBacker++]!.token);

  // Warm-up: connections, JIT and the database's caches, outside the figures.
  const warmup = await seedActiveCampaign(db, 'Warm-up');
  for (let i = 0; i < 10; i++) await place(warmup);

  const results = [];
  for (const rate of RATES) {
    const campaignId = await seedActiveCampaign(db, `Bench at ${rate}/s`);
    const outcomes = await openLoop(rate, SECONDS, async () => place(campaignId));
    const placed = await db
      .selectFrom('pledges')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('campaign_id', '=', campaignId)
      .where('status', '=', 'authorized')
      .executeTakeFirstOrThrow();
    const latencies = outcomes.map((o) => o.latencyMs);
    const failures = outcomes.filter((o) => o.status !== 201);
    const figures = {
      offeredPerSecond: rate,
      requests: outcomes.length,
      created: outcomes.length - failures.length,
      failures: Object.fromEntries([...new Set(failures.map((f) => f.status))].map((status) => [status, failures.filter((f) => f.status === status).length])),
      authorizedRows: placed.n,
      achievedPerSecond: round((outcomes.length - failures.length) / SECONDS),
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      maxMs: round(percentile(latencies, 100)),
      apiRssMb: Math.round(rssOf(api.pid) / 2 ** 20),
    };
    console.log(
      `${rate} pledges/s offered: ${figures.created}/${figures.requests} created, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, max ${figures.maxMs} ms, API RSS ${figures.apiRssMb} MB`,
    );
    results.push(figures);
  }
  console.log(JSON.stringify({ benchmark: 'pledges', machine: MACHINE, secondsPerRate: SECONDS, results }));
});
