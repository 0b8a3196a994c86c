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

/** The dispute Stripe opens on a payment a minute after its charge (or, with the stand-in's clock still, a moment of real time). */
export async function disputeOfPayment(stripe: Stripe, paymentIntentId: string): Promise<Stripe.Dispute> {
  for (let waited = 0; waited < 10_000; waited += 100) {
    const [dispute] = (await stripe.disputes.list({ payment_intent: paymentIntentId })).data;
    if (dispute) return dispute;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`payment ${paymentIntentId} was not disputed`);
}
