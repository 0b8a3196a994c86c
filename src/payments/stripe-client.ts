/**
 * The one Stripe client factory. With `STRIPE_API_BASE` set (the local stand-in, or stripe-mock), the official
 * SDK is pointed at it through its host/port/protocol options; otherwise it talks to api.stripe.com. With
 * `requestsPerSecond` every request the SDK makes (its own retries included) first waits for a token of the
 * process's rate limiter, through the SDK's `httpClient` option.
 */
import Stripe from 'stripe';
import { type StripeRequestRates, StripeRateLimiter, stripeEndpoint } from './stripe-rate-limiter';

export interface StripeClientOptions {
  secretKey: string;
  apiBase?: string;
  /** The SDK retries network errors, 409s and 5xx with the same idempotency key. */
  maxNetworkRetries?: number;
  timeoutMs?: number;
  /** Paces requests under Stripe's rate limits (the worker's client; see ./stripe-rate-limiter.ts). */
  requestsPerSecond?: StripeRequestRates;
}

export function createStripeClient(options: StripeClientOptions): Stripe {
  const base = options.apiBase ? new URL(options.apiBase) : undefined;
  return new Stripe(options.secretKey, {
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 20_000,
    appInfo: { name: 'crowdfund-backend' },
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
    ...(options.requestsPerSecond ? { httpClient: rateLimitedHttpClient(new StripeRateLimiter(options.requestsPerSecond)) } : {}),
  });
}

/**
 * How often a request answered 429 is sent again here, after its endpoint's pause. The SDK does not retry 429s
 * (unless Stripe's `Stripe-Should-Retry` says so), and a 429 means Stripe did nothing, so sending the same request
 * (same idempotency key) again is safe; past these tries the 429 reaches the caller as `StripeRateLimitError`.
 */
const RATE_LIMITED_RETRIES = 2;

/** The SDK's own Node HTTP client, each request of which first waits for the limiter. */
function rateLimitedHttpClient(limiter: StripeRateLimiter): Stripe.HttpClient {
  const inner = Stripe.createNodeHttpClient();
  return {
    getClientName: () => inner.getClientName(),
    async makeRequest(host, port, path, method, headers, requestData, protocol, timeout) {
      const endpoint = stripeEndpoint(method, path);
      for (let retry = 0; ; retry++) {
        await limiter.acquire(endpoint);
        const response = await inner.makeRequest(host, port, path, method, headers, requestData, protocol, timeout);
        if (response.getStatusCode() !== 429) return response;
        limiter.pause(endpoint, response.getHeaders());
        if (retry === RATE_LIMITED_RETRIES) return response;
        // Read the discarded answer to the end, so its connection goes back to the agent.
        await response.toJSON().catch(() => undefined);
      }
    },
  };
}
