/**
 * Connect onboarding and transfers, the balance they draw on, signed webhook deliveries, fault injection and the
 * rate limit, through the official `stripe` package.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { STRIPE_STANDIN_BIN } from '../src';
import { startTestStripe, type TestStripe } from './harness';

let t: TestStripe;
let stripe: Stripe;
beforeAll(async () => {
  t = await startTestStripe();
  stripe = t.stripe;
});
afterAll(() => t.close());

const DAY = 86_400;

async function onboardedAccount(): Promise<Stripe.Account> {
  const account = await stripe.accounts.create({ type: 'express', country: 'US', email: 'creator@example.com', capabilities: { transfers: { requested: true } } });
  const link = await stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://app/refresh', return_url: 'http://app/return' });
  expect((await fetch(link.url)).status).toBe(200);
  return stripe.accounts.retrieve(account.id);
}

describe('Connect', () => {
  it('creates Express accounts that cannot receive transfers until onboarding is completed through the link', async () => {
    const account = await stripe.accounts.create({ type: 'express', country: 'US', email: 'c@example.com' });
    expect(account).toMatchObject({ charges_enabled: false, payouts_enabled: false, details_submitted: false });
    await expect(stripe.transfers.create({ amount: 100, currency: 'usd', destination: account.id })).rejects.toMatchObject({
      code: 'insufficient_capabilities_for_transfer',
    });
    const link = await stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://ret' });
    expect(link.url).toContain('/_standin/onboarding/');
    await fetch(link.url);
    expect(await stripe.accounts.retrieve(account.id)).toMatchObject({ charges_enabled: true, payouts_enabled: true, details_submitted: true });
  });

  it('transfers only from the available balance: funds are pending for 2 days, at once for pm_card_bypassPending', async () => {
    const account = await onboardedAccount();
    await stripe.paymentIntents.create({ amount: 10_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    const balance = await stripe.balance.retrieve();
    expect(balance.pending.find((b) => b.currency === 'usd')?.amount).toBe(10_000 - 320);
    await expect(stripe.transfers.create({ amount: 5_000, currency: 'usd', destination: account.id })).rejects.toMatchObject({ code: 'balance_insufficient' });
    await t.advanceClock(2 * DAY);
    const transfer = await stripe.transfers.create({ amount: 5_000, currency: 'usd', destination: account.id, transfer_group: 'campaign-1', metadata: { campaign_id: '1' } });
    expect(transfer).toMatchObject({ amount: 5_000, destination: account.id, transfer_group: 'campaign-1' });
    expect((await stripe.balance.retrieve()).available.find((b) => b.currency === 'usd')?.amount).toBe(10_000 - 320 - 5_000);

    await stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', payment_method: 'pm_card_bypassPending', confirm: true });
    expect((await stripe.balance.retrieve()).available.find((b) => b.currency === 'usd')?.amount).toBe(10_000 - 320 - 5_000 + 2_000 - 88);
  });

  it('reverses transfers in part, never beyond what remains', async () => {
    const account = await onboardedAccount();
    await stripe.paymentIntents.create({ amount: 10_000, currency: 'usd', payment_method: 'pm_card_bypassPending', confirm: true });
    const transfer = await stripe.transfers.create({ amount: 6_000, currency: 'usd', destination: account.id });
    const reversal = await stripe.transfers.createReversal(transfer.id, { amount: 1_500 });
    expect(reversal).toMatchObject({ amount: 1_500, transfer: transfer.id });
    expect((await stripe.transfers.retrieve(transfer.id)).amount_reversed).toBe(1_500);
    await expect(stripe.transfers.createReversal(transfer.id, { amount: 5_000 })).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  });
});

describe('webhooks', () => {
  let server: Server;
  const received: Array<{ event: Stripe.Event; attempt: number }> = [];
  let failFirst = 0;
  let secret = '';

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        try {
          const event = stripe.webhooks.constructEvent(body, req.headers['stripe-signature'] as string, secret);
          if (failFirst > 0) {
            failFirst--;
            res.writeHead(500).end();
            return;
          }
          received.push({ event, attempt: received.length });
          res.writeHead(200).end();
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = await stripe.webhookEndpoints.create({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, enabled_events: ['payment_intent.succeeded', 'payment_intent.amount_capturable_updated', 'charge.refunded', 'account.updated'] });
    secret = endpoint.secret!;
    expect(secret).toMatch(/^whsec_/);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const waitFor = async (predicate: () => boolean) => {
    for (let i = 0; i < 100 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(predicate()).toBe(true);
  };

  it('delivers the events an endpoint asked for, signed so that constructEvent accepts them, in order', async () => {
    const hold = await stripe.paymentIntents.create({ amount: 2_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, capture_method: 'manual' });
    await stripe.paymentIntents.capture(hold.id);
    await stripe.refunds.create({ payment_intent: hold.id });
    await waitFor(() => received.filter((r) => (r.event.data.object as { id: string }).id === hold.id || (r.event.data.object as { payment_intent?: string }).payment_intent === hold.id).length === 3);
    const types = received.filter((r) => [hold.id, hold.latest_charge].includes((r.event.data.object as { id: string }).id)).map((r) => r.event.type);
    expect(types).toEqual(['payment_intent.amount_capturable_updated', 'payment_intent.succeeded', 'charge.refunded']);
    const listed = await stripe.events.list({ type: 'charge.refunded', limit: 1 });
    expect(listed.data[0]!.type).toBe('charge.refunded');
    expect((await stripe.events.retrieve(listed.data[0]!.id)).id).toBe(listed.data[0]!.id);
  });

  it('retries a delivery the endpoint did not accept', async () => {
    failFirst = 2;
    const before = received.length;
    await onboardedAccount();
    await waitFor(() => received.length === before + 1);
    expect(received[received.length - 1]!.event.type).toBe('account.updated');
    expect(failFirst).toBe(0);
  });
});

describe('faults, request log and rate limit', () => {
  it('a 500 is retried by the SDK with the same idempotency key and succeeds once', async () => {
    await t.injectFault({ kind: '500', path: '^/v1/customers$', count: 1 });
    const customer = await stripe.customers.create({ email: 'retry@example.com' });
    expect(customer.id).toMatch(/^cus_/);
    const log = (await t.requests()).filter((r) => r.path === '/v1/customers');
    const [failed, succeeded] = log.slice(-2);
    expect(failed).toMatchObject({ status: 500, fault: '500' });
    expect(succeeded).toMatchObject({ status: 200 });
    expect(succeeded!.idempotencyKey).toBe(failed!.idempotencyKey);
  });

  it('a response lost after Stripe applied the request is replayed on retry, not applied twice', async () => {
    const before = t.standin.state.paymentIntents.size;
    await t.injectFault({ kind: 'lost', path: '^/v1/payment_intents$', count: 1 });
    const intent = await stripe.paymentIntents.create({ amount: 1_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true }, { idempotencyKey: `lost-${Date.now()}` });
    expect(intent.status).toBe('succeeded');
    expect(t.standin.state.paymentIntents.size).toBe(before + 1);
    const log = (await t.requests()).filter((r) => r.path === '/v1/payment_intents').slice(-2);
    expect(log.map((r) => [r.fault, r.replayed])).toEqual([['lost', false], [undefined, true]]);
  });

  it('a dropped connection and added latency are survived by the SDK retry', async () => {
    await t.injectFault({ kind: 'reset', path: '^/v1/customers$', count: 1 });
    await t.injectFault({ kind: 'latency', path: '^/v1/customers$', count: 1, latencyMs: 200 });
    const started = Date.now();
    expect((await stripe.customers.create({})).id).toMatch(/^cus_/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    await t.clearFaults();
  });

  it('answers 429 over the configured rate, which the SDK raises as StripeRateLimitError', async () => {
    const limited = await startTestStripe({ rateLimit: 5, maxNetworkRetries: 0 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => limited.stripe.customers.create({})));
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected.length).toBeGreaterThanOrEqual(6);
      expect(rejected[0]!.reason).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    } finally {
      await limited.close();
    }
  });

  it('the executable prints {"port": N} once it accepts requests', async () => {
    const child = spawn(STRIPE_STANDIN_BIN, ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      const { port } = JSON.parse(line) as { port: number };
      const client = new Stripe('sk_test_bin', { host: '127.0.0.1', port, protocol: 'http' });
      expect((await client.customers.create({})).id).toMatch(/^cus_/);
    } finally {
      child.kill();
    }
  });
});
