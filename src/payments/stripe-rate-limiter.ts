/**
 * Paces the Stripe requests of one process under Stripe's rate limits, counting requests rather than activities
 * (one activity may make several calls): a bucket for all requests and one per endpoint (method and path with the
 * object ids collapsed, `POST /v1/payment_intents/:id/capture`), since some of Stripe's limits are per endpoint.
 * After a 429 an endpoint's bucket pauses briefly. The buckets are per process; the Stripe task queue's activity
 * rate, which the Temporal server enforces across all worker processes, stays the outer bound.
 *
 * Written here rather than taken from a library: it has to run inside the SDK's HttpClient (./stripe-client.ts),
 * where only method and path are known, take a token from two buckets at once (the overall one and the endpoint's,
 * created on first use), and pause one bucket on a 429; the common limiters are one bucket per instance and
 * would need one instance per endpoint plus our own code to combine them anyway.
 */

export interface StripeRequestRates {
  /** Requests per second to the whole API. */
  overall: number;
  /** Requests per second to any one endpoint. */
  perEndpoint: number;
}

/**
 * One bucket, paced: after a request it holds no token for `intervalMs`, so requests are spread evenly at the
 * rate with no burst, and Stripe's own bucket never runs dry even when ours reach it a little bunched up.
 */
class Bucket {
  nextAt = 0;
  pausedUntil = 0;
  constructor(readonly intervalMs: number) {}

  readyAt(): number {
    return Math.max(this.nextAt, this.pausedUntil);
  }
}

/** How long an endpoint rests after Stripe answered it 429. */
export const PAUSE_AFTER_RATE_LIMIT_MS = 1_000;

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
    this.overall = new Bucket(1000 / rates.overall);
  }

  /** Resolves when a request to `endpoint` (see `stripeEndpoint`) may be sent. */
  acquire(endpoint: string): Promise<void> {
    return new Promise((release) => {
      this.waiting.push({ bucket: this.bucket(endpoint), release });
      this.releaseReady();
    });
  }

  /** Stripe answered 429 on `endpoint`: nothing more is sent to it for a moment (requests already waiting included). */
  pause(endpoint: string, ms = PAUSE_AFTER_RATE_LIMIT_MS): void {
    const bucket = this.bucket(endpoint);
    bucket.pausedUntil = Math.max(bucket.pausedUntil, Date.now() + ms);
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
      waiter.bucket.nextAt = now + waiter.bucket.intervalMs;
      this.overall.nextAt = now + this.overall.intervalMs;
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
      bucket = new Bucket(1000 / this.rates.perEndpoint);
      this.endpoints.set(endpoint, bucket);
    }
    return bucket;
  }
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
