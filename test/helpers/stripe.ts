/**
 * A Stripe stand-in for one test file, a `stripe` client pointed at it, and its test controls (driven over HTTP, as
 * any process would): clock, faults, request log, 3-D Secure completion.
 */
import type Stripe from 'stripe';
import { createStripeClient } from '../../src/payments/stripe-client';
import { type Fault, type LoggedRequest, type RunningStripeStandin, startStripeStandin, type StripeStandinOptions } from '../../src/standins/stripe/server';

export const TEST_STRIPE_KEY = 'sk_test_standin';

export interface TestStripe {
  standin: RunningStripeStandin;
  stripe: Stripe;
  url: string;
  advanceClock(seconds: number): Promise<void>;
  injectFault(fault: Fault): Promise<void>;
  clearFaults(): Promise<void>;
  requests(): Promise<LoggedRequest[]>;
  /** Completes (or fails) the 3-D Secure step of an intent, as the backer's browser would. */
  authenticate(kind: 'payment_intents' | 'setup_intents', id: string, options?: { fail?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export async function startTestStripe(options: StripeStandinOptions & { maxNetworkRetries?: number } = {}): Promise<TestStripe> {
  const standin = await startStripeStandin({ webhookRetryMs: 50, ...options });
  const stripe = createStripeClient({ secretKey: TEST_STRIPE_KEY, apiBase: standin.url, maxNetworkRetries: options.maxNetworkRetries ?? 2 });
  const control = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${standin.url}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<unknown>;
  };
  return {
    standin,
    stripe,
    url: standin.url,
    advanceClock: async (seconds) => void (await control('POST', '/_standin/clock/advance', { seconds })),
    injectFault: async (fault) => void (await control('POST', '/_standin/faults', fault)),
    clearFaults: async () => void (await control('DELETE', '/_standin/faults')),
    requests: () => control('GET', '/_standin/requests') as Promise<LoggedRequest[]>,
    authenticate: async (kind, id, authOptions = {}) => void (await control('POST', `/_standin/${kind}/${id}/authenticate`, { fail: Boolean(authOptions.fail) })),
    close: () => standin.close(),
  };
}
