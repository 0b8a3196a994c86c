/**
 * A Stripe stand-in for one test file, a `stripe` client pointed at it, and its test controls (driven over HTTP, as
 * any process would): clock, faults, request log, 3-D Secure completion.
 */
import type Stripe from 'stripe';
import { createStripeClient } from '../../src/payments/stripe-client';
import { type RunningStripeStandin, STANDIN_SECRET_KEY, type StandinControls, standinControls, startStripeStandin, type StripeStandinOptions } from '@crowdfund/stripe-standin';

export const TEST_STRIPE_KEY = STANDIN_SECRET_KEY;

export interface TestStripe extends StandinControls {
  standin: RunningStripeStandin;
  stripe: Stripe;
  url: string;
  close(): Promise<void>;
}

export async function startTestStripe(options: StripeStandinOptions & { maxNetworkRetries?: number } = {}): Promise<TestStripe> {
  const standin = await startStripeStandin({ webhookRetryMs: 50, ...options });
  const stripe = createStripeClient({ secretKey: TEST_STRIPE_KEY, apiBase: standin.url, maxNetworkRetries: options.maxNetworkRetries ?? 2 });
  return { standin, stripe, url: standin.url, ...standinControls(standin.url), close: () => standin.close() };
}
