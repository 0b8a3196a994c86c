/**
 * The worker's Stripe client (`createStripeClient` with `requestsPerSecond`) against the stand-in, counted in the
 * stand-in's request log: requests, not activities, are paced, per endpoint and overall, and a 429 rests its
 * endpoint before the same request is sent again.
 */
import Stripe from 'stripe';
import { createStripeClient } from '../../src/payments/stripe-client';
import { PAUSE_AFTER_RATE_LIMIT_MS } from '../../src/payments/stripe-rate-limiter';
import { type LoggedRequest } from '@crowdfund/stripe-standin';
import { startTestStripe, TEST_STRIPE_KEY, type TestStripe } from '../helpers/stripe';

let t: TestStripe;
beforeAll(async () => {
  t = await startTestStripe();
});
afterAll(() => t.close());
beforeEach(async () => {
  await t.setRateLimit(0);
  await t.clearFaults();
  await t.clearRequests();
});

const rates = { overall: 20, perEndpoint: 10 };

/** Twenty customers created and twenty balance reads, all at once (as forty concurrent activity calls would). */
function burst(stripe: Stripe) {
  return Promise.allSettled([
    ...Array.from({ length: 20 }, () => stripe.customers.create({ email: 'backer@example.com' })),
    ...Array.from({ length: 20 }, () => stripe.balance.retrieve()),
  ]);
}

/**
 * The most requests that arrived within any window of `windowMs` starting at one of them. The window is a little
 * under a second: requests paced 100 ms apart can arrive a few ms closer than that, never 100 ms closer.
 */
function mostInWindow(requests: LoggedRequest[], windowMs = 950) {
  const times = requests.map((request) => request.at);
  return Math.max(...times.map((from) => times.filter((at) => at >= from && at < from + windowMs).length));
}

const apiRequests = async () => (await t.requests()).filter((request) => request.path.startsWith('/v1/'));

test('requests are spread at the per-endpoint rate, endpoints share only the overall rate, and Stripe answers no 429', async () => {
  // The stand-in limits requests like Stripe (20/s here, with its bucket's burst of 20).
  await t.setRateLimit(rates.overall, { overall: rates.overall });
  const stripe = createStripeClient({ secretKey: TEST_STRIPE_KEY, apiBase: t.url, requestsPerSecond: rates });

  const started = Date.now();
  const outcomes = await burst(stripe);
  const elapsedMs = Date.now() - started;

  expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
  const logged = await apiRequests();
  expect(logged).toHaveLength(40);
  expect(logged.filter((request) => request.status === 429)).toEqual([]);
  expect(mostInWindow(logged.filter((request) => request.path === '/v1/customers'))).toBeLessThanOrEqual(rates.perEndpoint);
  expect(mostInWindow(logged.filter((request) => request.path === '/v1/balance'))).toBeLessThanOrEqual(rates.perEndpoint);
  expect(mostInWindow(logged)).toBeLessThanOrEqual(rates.overall);
  // 40 requests at 20/s overall: ~2 s. One bucket shared by both endpoints (10/s) would take ~4 s.
  expect(elapsedMs).toBeGreaterThanOrEqual(1_900);
  expect(elapsedMs).toBeLessThan(3_500);
});

test('without the limiter the same burst reaches Stripe at once and is answered 429 (what the limiter prevents)', async () => {
  await t.setRateLimit(rates.overall, { overall: rates.overall });
  const unpaced = createStripeClient({ secretKey: TEST_STRIPE_KEY, apiBase: t.url });

  const outcomes = await burst(unpaced);

  const logged = await apiRequests();
  expect(mostInWindow(logged)).toBeGreaterThan(rates.overall);
  expect(logged.filter((request) => request.status === 429).length).toBeGreaterThan(0);
  const rejected = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
  expect(rejected.length).toBeGreaterThan(0);
  for (const error of rejected) expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
});

test('a 429 rests its endpoint, then the same request (same idempotency key) goes through; other endpoints go on', async () => {
  await t.injectFault({ kind: '429', method: 'POST', path: '^/v1/customers$', count: 1 });
  const stripe = createStripeClient({ secretKey: TEST_STRIPE_KEY, apiBase: t.url, requestsPerSecond: { overall: 50, perEndpoint: 50 } });

  const customer = stripe.customers.create({ email: 'backer@example.com' }, { idempotencyKey: 'customer-rate-limited-1' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await stripe.balance.retrieve();
  await expect(customer).resolves.toMatchObject({ object: 'customer' });

  const logged = await apiRequests();
  const creates = logged.filter((request) => request.path === '/v1/customers');
  expect(creates.map((request) => [request.status, request.idempotencyKey])).toEqual([
    [429, 'customer-rate-limited-1'],
    [200, 'customer-rate-limited-1'],
  ]);
  expect(creates[1]!.at - creates[0]!.at).toBeGreaterThanOrEqual(PAUSE_AFTER_RATE_LIMIT_MS - 5);
  const balance = logged.find((request) => request.path === '/v1/balance')!;
  expect(balance.at).toBeLessThan(creates[1]!.at);
});
