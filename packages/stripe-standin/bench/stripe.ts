/**
 * `npm run bench -- stripe`: requests per second the Stripe stand-in serves to the official SDK on this machine, for
 * the hold-then-capture sequence settlement performs (create + confirm, then capture). Last line: JSON figures.
 */
import Stripe from 'stripe';
import { startStripeStandin } from '../src/server';

const SEQUENCES = Number(process.env.BENCH_SEQUENCES ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);

async function main(): Promise<void> {
  const standin = await startStripeStandin({ port: 0 });
  const stripe = new Stripe('sk_test_bench', { host: '127.0.0.1', port: standin.port, protocol: 'http', maxNetworkRetries: 0 });
  let next = 0;
  const latencies: number[] = [];
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SEQUENCES) {
        const i = next++;
        const at = Date.now();
        const intent = await stripe.paymentIntents.create(
          { amount: 1_000 + (i % 100), currency: 'usd', payment_method: 'pm_card_visa', capture_method: 'manual', confirm: true },
          { idempotencyKey: `bench-${i}-authorize` },
        );
        await stripe.paymentIntents.capture(intent.id, {}, { idempotencyKey: `bench-${i}-capture` });
        latencies.push(Date.now() - at);
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  await standin.close();
  latencies.sort((a, b) => a - b);
  const figures = {
    benchmark: 'stripe-standin',
    sequences: SEQUENCES,
    concurrency: CONCURRENCY,
    requestsPerSecond: Math.round((SEQUENCES * 2) / seconds),
    sequencesPerSecond: Math.round(SEQUENCES / seconds),
    p50Ms: latencies[Math.floor(latencies.length * 0.5)],
    p99Ms: latencies[Math.floor(latencies.length * 0.99)],
  };
  console.log(`create+confirm then capture: ${figures.sequencesPerSecond} sequences/s, ${figures.requestsPerSecond} requests/s (p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms)`);
  console.log(JSON.stringify(figures));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
