/**
 * `npm run bench -- progress`: BENCH_SUBSCRIBERS (default 1,000) Server-Sent-Events subscribers on one campaign
 * while pledges arrive through the API at BENCH_RATE (default 50/s) for BENCH_SECONDS (default 20). Goal: delivery
 * lag p99 under 1 s. The API is `npm run api` in its own process (one LISTEN connection feeds every stream).
 *
 * Lag: the k-th pledge answered 201 had been committed by then, so a subscriber has it once a snapshot counts k
 * backers; lag = when that snapshot reached the subscriber - when the k-th 201 arrived (0 if the snapshot came
 * first, as it can: the NOTIFY fires at commit, before the answer). Memory per connection: the API's RSS with
 * every stream open, less its RSS before, over the number of streams. Last line: JSON figures.
 */
import { request, type IncomingMessage } from 'node:http';
import { MACHINE, openLoop, percentile, placePledge, round, rssOf, runBenchmark, seedActiveCampaign, seedBackers, startApiWithStripe } from './processes';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1_000);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);

/** One SSE stream: every snapshot it received, as [backers, performance.now()]. */
interface Subscriber {
  receipts: Array<[number, number]>;
  close(): void;
}

function subscribe(url: string): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const receipts: Array<[number, number]> = [];
    const req = request(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) return reject(new Error(`progress stream answered ${res.statusCode}`));
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(event);
          if (event.startsWith('event: progress') && data) receipts.push([(JSON.parse(data[1]!) as { backers: number }).backers, performance.now()]);
        }
      });
      resolve({ receipts, close: () => req.destroy() });
    });
    req.on('error', (error) => (receipts.length === 0 ? reject(error) : undefined));
    req.end();
  });
}

runBenchmark(async (stops) => {
  const { db, api } = await startApiWithStripe(stops);
  const backers = await seedBackers(db, Math.round(RATE * SECONDS));
  const campaignId = await seedActiveCampaign(db, 'Watched by many');

  const rssBefore = rssOf(api.pid);
  const subscribers: Subscriber[] = [];
  stops.push(() => subscribers.forEach((s) => s.close()));
  for (let i = 0; i < SUBSCRIBERS; i += 50) {
    subscribers.push(...(await Promise.all(Array.from({ length: Math.min(50, SUBSCRIBERS - i) }, () => subscribe(`${api.url}/api/campaigns/${campaignId}/progress`)))));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const rssConnected = rssOf(api.pid);

  let next = 0;
  const outcomes = await openLoop(RATE, SECONDS, () => placePledge(api.url, campaignId, backers[next++]!.token));
  await new Promise((resolve) => setTimeout(resolve, 2_000)); // the last snapshots' way to every subscriber
  const rssAfter = rssOf(api.pid);

  const answered = outcomes.filter((o) => o.status === 201).map((o) => o.answeredAt).sort((a, b) => a - b);
  const lags: number[] = [];
  let missed = 0;
  for (const subscriber of subscribers) {
    let receipt = 0;
    for (let k = 1; k <= answered.length; k++) {
      while (receipt < subscriber.receipts.length && subscriber.receipts[receipt]![0] < k) receipt++;
      const seen = subscriber.receipts[receipt];
      if (!seen) {
        missed += answered.length - k + 1;
        break;
      }
      lags.push(Math.max(0, seen[1] - answered[k - 1]!));
    }
  }
  const snapshots = subscribers.reduce((sum, s) => sum + s.receipts.length, 0);
  const figures = {
    benchmark: 'progress',
    machine: MACHINE,
    subscribers: SUBSCRIBERS,
    pledgesPerSecond: RATE,
    seconds: SECONDS,
    pledgesCreated: answered.length,
    snapshotsDelivered: snapshots,
    snapshotsPerSubscriber: round(snapshots / SUBSCRIBERS),
    pledgeDeliveriesMissed: missed,
    lagP50Ms: round(percentile(lags, 50)),
    lagP99Ms: round(percentile(lags, 99)),
    lagMaxMs: round(percentile(lags, 100)),
    apiRssBeforeMb: Math.round(rssBefore / 2 ** 20),
    apiRssConnectedMb: Math.round(rssConnected / 2 ** 20),
    apiRssAfterMb: Math.round(rssAfter / 2 ** 20),
    kbPerConnection: round((rssConnected - rssBefore) / SUBSCRIBERS / 1024),
  };
  console.log(
    `${SUBSCRIBERS} subscribers, ${figures.pledgesCreated} pledges at ${RATE}/s: lag p50 ${figures.lagP50Ms} ms, p99 ${figures.lagP99Ms} ms, max ${figures.lagMaxMs} ms; ` +
      `${figures.snapshotsPerSubscriber} snapshots each, ${missed} deliveries missed; ${figures.kbPerConnection} KB per connection (API RSS ${figures.apiRssBeforeMb} -> ${figures.apiRssConnectedMb} MB)`,
  );
  console.log(JSON.stringify(figures));
});
