/**
 * Paces the Stripe requests of one process under Stripe's rate limits, counting requests rather than activities
 * (one activity may make several calls): a bucket for all requests and one per endpoint (method and path with the
 * object ids collapsed, `POST /v1/payment_intents/:id/capture`), since some of Stripe's limits are per endpoint.
 * The buckets are per process; the Stripe task queue's activity rate, which the Temporal server enforces across all
 * worker processes, stays the outer bound.
 *
 * The pace adapts (AIMD, as TCP does): a 429 (a rate limit, or a `lock_timeout`) rests the bucket it names (Stripe's
 * `Stripe-Rate-Limited-Reason`: the endpoint's, or the overall one for `global-*`) for Stripe's `Retry-After`, or a
 * second, and cuts its rate multiplicatively, once however many requests in flight come back 429 together; the rate
 * then climbs back linearly to the configured one. So a limit lower than configured (another process sharing the
 * account, Stripe lowering it) costs a few 429s and then a pace under it, never a storm of retries.
 *
 * Written here rather than taken from a library: it has to run inside the SDK's HttpClient (./stripe-client.ts),
 * where only method and path are known, take a token from two buckets at once (the overall one and the endpoint's,
 * created on first use), and slow one bucket on a 429; the common limiters are one fixed-rate bucket per instance
 * and would need one instance per endpoint plus our own code to combine and adapt them anyway.
 */

export interface StripeRequestRates {
  /** Requests per second to the whole API. */
  overall: number;
  /** Requests per second to any one endpoint. */
  perEndpoint: number;
}

/** How long a bucket rests after Stripe answered 429 without saying for how long (no `Retry-After`). */
export const PAUSE_AFTER_RATE_LIMIT_MS = 1_000;
/** The longest `Retry-After` honoured: a longer one is most likely a mistake, and activities have timeouts. */
const MAX_RETRY_AFTER_MS = 60_000;
/** A 429 multiplies the bucket's rate by this... */
export const RATE_DECREASE_FACTOR = 0.7;
/** ...at most once in this long (the requests already in flight when the first 429 came back meet the same limit)... */
export const DECREASE_HOLD_MS = 1_000;
/** ...and the rate climbs back by this fraction of the configured rate per second without a 429... */
export const RATE_RECOVERY_PER_SECOND = 0.02;
/** ...from never lower than this fraction of it. */
const MIN_RATE_FRACTION = 0.05;

/**
 * One bucket, paced: after a request it holds no token for one interval at the current rate, so requests are spread
 * evenly with no burst, and Stripe's own bucket never runs dry even when ours reach it a little bunched up.
 */
class Bucket {
  nextAt = 0;
  pausedUntil = 0;
  /** The rate right after the last decrease, and when that was: the current rate climbs from there. */
  private reducedRate: number;
  private reducedAt = -Infinity;

  constructor(readonly configuredRate: number) {
    this.reducedRate = configuredRate;
  }

  /** Requests per second allowed at `now`. */
  rate(now: number): number {
    const recovered = this.reducedRate + ((now - this.reducedAt) / 1000) * RATE_RECOVERY_PER_SECOND * this.configuredRate;
    return Math.min(this.configuredRate, recovered);
  }

  intervalMs(now: number): number {
    return 1000 / this.rate(now);
  }

  readyAt(): number {
    return Math.max(this.nextAt, this.pausedUntil);
  }

  /** Stripe said this bucket's limit was reached: rest for `restMs`, and slow down unless that was just done. */
  backOff(now: number, restMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, now + restMs);
    if (now - this.reducedAt < DECREASE_HOLD_MS) return;
    this.reducedRate = Math.max(this.configuredRate * MIN_RATE_FRACTION, this.rate(now) * RATE_DECREASE_FACTOR);
    this.reducedAt = now;
  }
}

/** What a 429 answer says about itself, from its headers (names in lower case, as Node gives them). */
export type RateLimitedAnswerHeaders = Record<string, unknown>;

interface Waiter {
  bucket: Bucket;
  release: () => void;
}

export class StripeRateLimiter {
  private readonly overall: Bucket;
  private readonly endpoints = new Map<string, Bucket>();
  /** Requests waiting for a token, oldest first. */
  private waiting: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly rates: StripeRequestRates) {
    if (!(rates.overall > 0 && rates.perEndpoint > 0)) throw new RangeError('Stripe request rates must be positive');
    this.overall = new Bucket(rates.overall);
  }

  /** Resolves when a request to `endpoint` (see `stripeEndpoint`) may be sent. */
  acquire(endpoint: string): Promise<void> {
    return new Promise((release) => {
      this.waiting.push({ bucket: this.bucket(endpoint), release });
      this.releaseReady();
    });
  }

  /**
   * Stripe answered 429 on `endpoint` (its answer's `headers`): the bucket it names rests (requests already waiting
   * for it included) and slows down. `global-rate` and `global-concurrency` name the overall bucket; any other
   * reason, or none (a `lock_timeout`), the endpoint's.
   */
  pause(endpoint: string, headers: RateLimitedAnswerHeaders = {}): void {
    const now = Date.now();
    const reason = headerText(headers['stripe-rate-limited-reason'])?.toLowerCase();
    const bucket = reason?.startsWith('global') ? this.overall : this.bucket(endpoint);
    bucket.backOff(now, retryAfterMs(headers['retry-after'], now) ?? PAUSE_AFTER_RATE_LIMIT_MS);
    this.releaseReady();
  }

  /** The requests per second `endpoint` (or, without one, the whole API) is paced at now. */
  currentRate(endpoint?: string): number {
    const now = Date.now();
    return endpoint === undefined ? this.overall.rate(now) : Math.min(this.bucket(endpoint).rate(now), this.overall.rate(now));
  }

  /**
   * Lets through, oldest first, each waiting request whose endpoint and the whole API both have a token now, and
   * charges both at that moment. Tokens are never reserved ahead: a request held back by its own endpoint (busy or
   * paused) takes nothing from the overall bucket, so it does not hold up requests to other endpoints.
   */
  private releaseReady(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    this.waiting = this.waiting.filter((waiter) => {
      if (Math.max(waiter.bucket.readyAt(), this.overall.readyAt()) > now) return true;
      waiter.bucket.nextAt = now + waiter.bucket.intervalMs(now);
      this.overall.nextAt = now + this.overall.intervalMs(now);
      waiter.release();
      return false;
    });
    if (this.waiting.length === 0) return;
    const wakeAt = Math.max(this.overall.readyAt(), Math.min(...this.waiting.map((waiter) => waiter.bucket.readyAt())));
    this.timer = setTimeout(() => this.releaseReady(), Math.max(1, Math.ceil(wakeAt - now)));
  }

  private bucket(endpoint: string): Bucket {
    let bucket = this.endpoints.get(endpoint);
    if (!bucket) {
      bucket = new Bucket(this.rates.perEndpoint);
      this.endpoints.set(endpoint, bucket);
    }
    return bucket;
  }
}

function headerText(value: unknown): string | undefined {
  const first: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  return typeof first === 'string' && first.trim() !== '' ? first.trim() : undefined;
}

/** `Retry-After` as seconds or as an HTTP date (RFC 9110), in ms from `now`, capped; undefined if absent or unreadable. */
function retryAfterMs(value: unknown, now: number): number | undefined {
  const text = headerText(value);
  if (text === undefined) return undefined;
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/**
 * Stripe object ids are a lowercase prefix, an underscore and a random part with digits or capitals
 * (`pi_3NqL...`, `acct_1Nx...`, `cs_test_a1B...`); the names of resources and actions never have either.
 */
const STRIPE_ID = /^[a-z]+_[A-Za-z0-9_]*[0-9A-Z][A-Za-z0-9_]*$/;

/** The rate-limit key of a request: `POST /v1/payment_intents/:id/capture` (query string dropped). */
export function stripeEndpoint(method: string, path: string): string {
  const [pathname = ''] = path.split('?');
  const collapsed = pathname
    .split('/')
    .map((segment) => (STRIPE_ID.test(segment) ? ':id' : segment))
    .join('/');
  return `${method.toUpperCase()} ${collapsed}`;
}
