/**
 * The Stripe request limiter's adaptive pace on jest's fake clock: a 429 cuts the rate of the bucket Stripe names
 * (once for a burst of them), honours Retry-After, and the rate climbs back to the configured one; against a
 * simulated Stripe whose limit is below the configured rate, it converges under that limit with a handful of 429s
 * rather than a storm of retries.
 */
import {
  DECREASE_HOLD_MS,
  PAUSE_AFTER_RATE_LIMIT_MS,
  RATE_DECREASE_FACTOR,
  RATE_RECOVERY_PER_SECOND,
  StripeRateLimiter,
} from '../../src/payments/stripe-rate-limiter';

beforeEach(() => jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') }));
afterEach(() => jest.useRealTimers());

const capture = 'POST /v1/payment_intents/:id/capture';
const cancel = 'POST /v1/payment_intents/:id/cancel';

test('a 429 cuts its endpoint rate multiplicatively, once for 429s that come back together, and it climbs back linearly', async () => {
  const limiter = new StripeRateLimiter({ overall: 100, perEndpoint: 20 });
  expect(limiter.currentRate(capture)).toBe(20);
  limiter.pause(capture);
  // Requests in flight when Stripe's limit was reached meet it too: their 429s do not cut the rate again.
  await jest.advanceTimersByTimeAsync(DECREASE_HOLD_MS / 2);
  limiter.pause(capture);
  limiter.pause(capture);
  expect(limiter.currentRate(capture)).toBeCloseTo(20 * RATE_DECREASE_FACTOR + (DECREASE_HOLD_MS / 2 / 1000) * RATE_RECOVERY_PER_SECOND * 20, 5);
  // Another 429 later is another cut.
  await jest.advanceTimersByTimeAsync(DECREASE_HOLD_MS);
  const before = limiter.currentRate(capture);
  limiter.pause(capture);
  expect(limiter.currentRate(capture)).toBeCloseTo(before * RATE_DECREASE_FACTOR, 5);
  // The other endpoint and the API as a whole keep their pace.
  expect(limiter.currentRate(cancel)).toBe(20);
  expect(limiter.currentRate()).toBe(100);

  // Additive recovery: back at the configured rate after (20 - rate) / (20 x RATE_RECOVERY_PER_SECOND) seconds.
  const low = limiter.currentRate(capture);
  await jest.advanceTimersByTimeAsync(5_000);
  expect(limiter.currentRate(capture)).toBeCloseTo(low + 5 * RATE_RECOVERY_PER_SECOND * 20, 5);
  await jest.advanceTimersByTimeAsync(((20 - low) / (20 * RATE_RECOVERY_PER_SECOND)) * 1000);
  expect(limiter.currentRate(capture)).toBe(20);
});

test('requests are spread at the lowered rate after a 429', async () => {
  const limiter = new StripeRateLimiter({ overall: 100, perEndpoint: 10 });
  limiter.pause(capture);
  const start = Date.now();
  const granted: number[] = [];
  const all = Promise.all(Array.from({ length: 6 }, () => limiter.acquire(capture).then(() => void granted.push(Date.now() - start))));
  await jest.runAllTimersAsync();
  await all;
  // After the rest, about 7/s rather than 10/s: gaps of ~140 ms, not 100.
  expect(granted[0]).toBe(PAUSE_AFTER_RATE_LIMIT_MS);
  for (let i = 1; i < granted.length; i++) expect(granted[i]! - granted[i - 1]!).toBeGreaterThanOrEqual(135);
});

test("Stripe's Retry-After is honoured (in seconds or as a date), capped at a minute", async () => {
  const limiter = new StripeRateLimiter({ overall: 100, perEndpoint: 10 });
  const start = Date.now();
  limiter.pause(capture, { 'retry-after': '3' });
  let at = 0;
  const first = limiter.acquire(capture).then(() => (at = Date.now() - start));
  await jest.runAllTimersAsync();
  await first;
  expect(at).toBe(3_000);

  const later = Date.now();
  limiter.pause(cancel, { 'retry-after': new Date(later + 5_000).toUTCString() });
  const second = limiter.acquire(cancel).then(() => (at = Date.now() - later));
  await jest.runAllTimersAsync();
  await second;
  expect(at).toBeGreaterThanOrEqual(4_000); // HTTP dates have whole seconds
  expect(at).toBeLessThanOrEqual(5_000);

  const capped = Date.now();
  limiter.pause(capture, { 'retry-after': '86400' });
  const third = limiter.acquire(capture).then(() => (at = Date.now() - capped));
  await jest.runAllTimersAsync();
  await third;
  expect(at).toBe(60_000);
});

test('Stripe-Rate-Limited-Reason picks the bucket: global-* slows every endpoint, endpoint-* only its own', () => {
  const limiter = new StripeRateLimiter({ overall: 50, perEndpoint: 20 });
  limiter.pause(capture, { 'stripe-rate-limited-reason': 'endpoint-rate' });
  expect(limiter.currentRate(capture)).toBeCloseTo(20 * RATE_DECREASE_FACTOR, 5);
  expect(limiter.currentRate()).toBe(50);

  const other = new StripeRateLimiter({ overall: 50, perEndpoint: 20 });
  other.pause(capture, { 'stripe-rate-limited-reason': 'global-rate' });
  expect(other.currentRate()).toBeCloseTo(50 * RATE_DECREASE_FACTOR, 5);
  expect(other.currentRate(capture)).toBe(20);
  expect(other.currentRate(cancel)).toBe(20);
});

/** Stripe's token bucket as the stand-in keeps it: `limit` tokens, refilled continuously; a 429 takes none. */
function stripeBucket(limit: number) {
  let tokens = limit;
  let refilledAt = Date.now();
  return () => {
    const now = Date.now();
    tokens = Math.min(limit, tokens + ((now - refilledAt) / 1000) * limit);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

test('against a Stripe limit below the configured rate the pace converges under it with a few 429s, never a storm', async () => {
  const configured = 25;
  const stripeLimit = 15;
  const seconds = 120;
  const limiter = new StripeRateLimiter({ overall: 100, perEndpoint: configured });
  const take = stripeBucket(stripeLimit);
  const start = Date.now();
  const accepted: number[] = [];
  const rateLimited: number[] = [];
  let stop = false;
  // Fifty settlements at once, each sending its request again after a 429 as the Stripe client does.
  const senders = Array.from({ length: 50 }, async () => {
    while (!stop) {
      await limiter.acquire(capture);
      if (stop) return;
      if (take()) accepted.push(Date.now() - start);
      else {
        rateLimited.push(Date.now() - start);
        limiter.pause(capture, { 'stripe-rate-limited-reason': 'endpoint-rate' });
      }
    }
  });
  await jest.advanceTimersByTimeAsync(seconds * 1000);
  stop = true;
  await jest.runAllTimersAsync();
  await Promise.all(senders);

  // Stripe's bucket starts full (15 tokens) and refills at 15/s: nothing can do better than 15/s plus that burst.
  const achieved = accepted.length / seconds;
  expect(achieved).toBeLessThanOrEqual(stripeLimit + stripeLimit / seconds);
  expect(achieved).toBeGreaterThanOrEqual(0.85 * stripeLimit);
  // A handful of 429s over two minutes (about one each time the rate climbs back over the limit), a small share
  // of the requests, and never a burst of them.
  expect(rateLimited.length).toBeGreaterThan(0);
  expect(rateLimited.length).toBeLessThan(0.02 * (accepted.length + rateLimited.length));
  const mostInASecond = Math.max(...rateLimited.map((at) => rateLimited.filter((other) => other >= at && other < at + 1000).length));
  expect(mostInASecond).toBeLessThanOrEqual(2);
  // Without adapting (a fixed 25/s), 10 of every 25 requests a second would be answered 429 once the burst is spent.
});
