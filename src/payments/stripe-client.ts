/**
 * The one Stripe client factory. With `STRIPE_API_BASE` set (the local stand-in, or stripe-mock), the official
 * SDK is pointed at it through its host/port/protocol options; otherwise it talks to api.stripe.com.
 */
import Stripe from 'stripe';

export interface StripeClientOptions {
  secretKey: string;
  apiBase?: string;
  /** The SDK retries network errors, 409s and 5xx with the same idempotency key. */
  maxNetworkRetries?: number;
  timeoutMs?: number;
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
  });
}
