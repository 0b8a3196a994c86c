/**
 * The Stripe request limiter on jest's fake clock: requests to one endpoint are spread at its rate, two endpoints
 * have buckets of their own but share the overall one, and a 429 rests one endpoint only.
 */
import { loadConfig } from '../../src/config';
import { PAUSE_AFTER_RATE_LIMIT_MS, StripeRateLimiter, stripeEndpoint } from '../../src/payments/stripe-rate-limiter';

beforeEach(() => jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') }));
afterEach(() => jest.useRealTimers());

/** Starts every request at once; returns when each was let through, in ms from the start. */
async function acquireAll(limiter: StripeRateLimiter, endpoints: string[]) {
  const start = Date.now();
  const granted: Array<{ endpoint: string; at: number }> = [];
  const all = Promise.all(endpoints.map((endpoint) => limiter.acquire(endpoint).then(() => void granted.push({ endpoint, at: Date.now() - start }))));
  await jest.runAllTimersAsync();
  await all;
  return granted;
}

/** The most requests let through in any window of `windowMs` (half-open, starting at a request). */
function mostInWindow(times: number[], windowMs = 1000) {
  return Math.max(...times.map((from) => times.filter((at) => at >= from && at < from + windowMs).length));
}

const capture = 'POST /v1/payment_intents/:id/capture';
const cancel = 'POST /v1/payment_intents/:id/cancel';

test('concurrent requests to one endpoint are spread evenly at the endpoint rate', async () => {
  const limiter = new StripeRateLimiter({ overall: 100, perEndpoint: 5 });
  const granted = await acquireAll(limiter, Array<string>(12).fill(capture));
  const times = granted.map((g) => g.at);
  expect(times).toEqual([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2200]);
  expect(mostInWindow(times)).toBe(5);
});

test('two endpoints do not share an endpoint bucket, but do share the overall one', async () => {
  const limiter = new StripeRateLimiter({ overall: 8, perEndpoint: 5 });
  const endpoints = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? capture : cancel));
  const granted = await acquireAll(limiter, endpoints);

  const all = granted.map((g) => g.at);
  const ofCapture = granted.filter((g) => g.endpoint === capture).map((g) => g.at);
  const ofCancel = granted.filter((g) => g.endpoint === cancel).map((g) => g.at);
  // Overall: 8 per second, one every 125 ms.
  expect(mostInWindow(all)).toBeLessThanOrEqual(8);
  for (let i = 1; i < all.length; i++) expect(all[i]! - all[i - 1]!).toBeGreaterThanOrEqual(125);
  // Each endpoint: 5 per second.
  expect(mostInWindow(ofCapture)).toBeLessThanOrEqual(5);
  expect(mostInWindow(ofCancel)).toBeLessThanOrEqual(5);
  // Sixteen requests in 15 overall intervals: the overall rate binds, not one shared endpoint bucket (15 x 200 ms).
  expect(all.at(-1)).toBe(15 * 125);
});

test('requests queued on a busy endpoint do not hold up another endpoint', async () => {
  const limiter = new StripeRateLimiter({ overall: 100, perEndpoint: 5 });
  const granted = await acquireAll(limiter, [...Array<string>(12).fill(capture), cancel]);
  // The twelve captures need 2.2 s at 5/s; the cancel, queued behind them, goes out after one overall interval.
  expect(granted.find((g) => g.endpoint === cancel)?.at).toBe(10);
  expect(granted.filter((g) => g.endpoint === capture).at(-1)?.at).toBe(2200);
});

test('a 429 rests its endpoint, requests already waiting for it included, and no other', async () => {
  const limiter = new StripeRateLimiter({ overall: 100, perEndpoint: 10 });
  const start = Date.now();
  const granted: Array<{ endpoint: string; at: number }> = [];
  const acquire = (endpoint: string) => limiter.acquire(endpoint).then(() => void granted.push({ endpoint, at: Date.now() - start }));

  const first = [acquire(capture), acquire(capture), acquire(cancel)];
  await jest.advanceTimersByTimeAsync(50);
  // Stripe answered the first capture 429 at 50 ms; the second capture (due at 100 ms) waits for the pause too.
  limiter.pause(capture);
  const later = [acquire(capture), acquire(cancel)];
  await jest.runAllTimersAsync();
  await Promise.all([...first, ...later]);

  const ofCapture = granted.filter((g) => g.endpoint === capture).map((g) => g.at);
  const ofCancel = granted.filter((g) => g.endpoint === cancel).map((g) => g.at);
  expect(ofCapture[0]).toBe(0);
  for (const at of ofCapture.slice(1)) expect(at).toBeGreaterThanOrEqual(50 + PAUSE_AFTER_RATE_LIMIT_MS);
  expect(ofCancel.every((at) => at < 200)).toBe(true);
});

test('endpoints are keyed by method and path, with object ids and the query string collapsed', () => {
  expect(stripeEndpoint('POST', '/v1/payment_intents/pi_3NqLfT2eZvKYlo2C1xYzAbCd/capture')).toBe(capture);
  expect(stripeEndpoint('post', '/v1/payment_intents/pi_Zx9kQ2mN4pR7sT1v/capture')).toBe(capture);
  expect(stripeEndpoint('GET', '/v1/payment_intents/pi_Zx9kQ2mN4pR7sT1v')).toBe('GET /v1/payment_intents/:id');
  expect(stripeEndpoint('GET', '/v1/payment_intents?limit=10&customer=cus_9s6XKzkNRiz8i3')).toBe('GET /v1/payment_intents');
  expect(stripeEndpoint('GET', '/v1/payment_intents/search?query=metadata')).toBe('GET /v1/payment_intents/search');
  expect(stripeEndpoint('POST', '/v1/transfers/tr_1MiN3gLkdIwHu7ix/reversals')).toBe('POST /v1/transfers/:id/reversals');
  expect(stripeEndpoint('GET', '/v1/accounts/acct_1032D82eZvKYlo2C')).toBe('GET /v1/accounts/:id');
  expect(stripeEndpoint('GET', '/v1/balance_transactions')).toBe('GET /v1/balance_transactions');
  expect(stripeEndpoint('POST', '/v1/test_helpers/test_clocks/clock_1Mr3I2LkdIwHu7ix/advance')).toBe('POST /v1/test_helpers/test_clocks/:id/advance');
});

test("the worker's rates default to Stripe's limit for the key's mode, and can be set", () => {
  expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_test_abc' }).temporal.stripeRequestsPerSecond).toEqual({ overall: 25, perEndpoint: 25 });
  expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_live_abc' }).temporal.stripeRequestsPerSecond).toEqual({ overall: 100, perEndpoint: 100 });
  expect(
    loadConfig({ STRIPE_SECRET_KEY: 'sk_live_abc', STRIPE_REQUESTS_PER_SECOND: '80', STRIPE_ENDPOINT_REQUESTS_PER_SECOND: '20' }).temporal.stripeRequestsPerSecond,
  ).toEqual({ overall: 80, perEndpoint: 20 });
});
