/**
 * Latency drawn from a distribution (a `latency` fault's `latency: { minMs, medianMs, maxMs }`), as Stripe's answers
 * take a few hundred milliseconds that vary: what the settlement benchmark measures against.
 */
import { startTestStripe, type TestStripe } from './harness';

let t: TestStripe;
beforeAll(async () => {
  t = await startTestStripe();
});
afterAll(() => t.close());
afterEach(() => t.clearFaults());

async function timed(request: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await request();
  return performance.now() - started;
}

it('delays each matching request by a draw between min and max, half below the median and half above', async () => {
  // What a request takes undelayed, so that the draws can be told apart from it.
  const undelayed: number[] = [];
  for (let i = 0; i < 8; i++) undelayed.push(await timed(() => t.stripe.customers.create({})));
  const overhead = Math.min(...undelayed) + 3;
  await t.injectFault({ kind: 'latency', path: '^/v1/customers$', latency: { minMs: 50, medianMs: 100, maxMs: 200 } });
  const delays: number[] = [];
  for (let i = 0; i < 40; i++) delays.push(await timed(() => t.stripe.customers.create({})));
  expect(Math.min(...delays)).toBeGreaterThanOrEqual(49);
  expect(Math.max(...delays)).toBeLessThan(200 + overhead + 20);
  const belowMedian = delays.filter((d) => d < 100 + overhead).length;
  // Binomial(40, 0.5): outside 8..32 about once in 10^4 runs.
  expect(belowMedian).toBeGreaterThanOrEqual(8);
  expect(belowMedian).toBeLessThanOrEqual(32);
  // Other endpoints are not delayed.
  expect(await timed(() => t.stripe.paymentIntents.list())).toBeLessThan(49);
});

it('refuses a range that is not ordered', async () => {
  await expect(t.injectFault({ kind: 'latency', latency: { minMs: 300, medianMs: 150, maxMs: 600 } })).rejects.toThrow(/400.*minMs <= medianMs <= maxMs/);
});
