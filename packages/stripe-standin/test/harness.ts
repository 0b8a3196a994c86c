/**
 * A stand-in for one conformance file, the official `stripe` package pointed at it (host, port and protocol, as any
 * user of the stand-in points it), and its test controls: clock, faults, request log, 3-D Secure completion.
 */
import Stripe from 'stripe';
import { STANDIN_SECRET_KEY, standinControls } from '../src/controls';
import { startStripeStandin, type StripeStandinOptions } from '../src/server';

export const TEST_STRIPE_KEY = STANDIN_SECRET_KEY;

export async function startTestStripe(options: StripeStandinOptions & { maxNetworkRetries?: number } = {}) {
  const standin = await startStripeStandin({ webhookRetryMs: 50, ...options });
  const stripe = new Stripe(TEST_STRIPE_KEY, {
    host: '127.0.0.1',
    port: standin.port,
    protocol: 'http',
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    // What the product's client waits: a lost response is retried within the test's time.
    timeout: 20_000,
  });
  return { standin, stripe, url: standin.url, ...standinControls(standin.url), close: () => standin.close() };
}

export type TestStripe = Awaited<ReturnType<typeof startTestStripe>>;
