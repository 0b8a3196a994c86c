/**
 * The lists the product looks things up with (transfers, their reversals, SetupIntents, charges, balance
 * transactions) and Stripe's per-endpoint rate limits (https://docs.stripe.com/rate-limits), through the official
 * `stripe` package.
 */
import Stripe from 'stripe';
import { startTestStripe, type TestStripe } from './harness';

let t: TestStripe;
let stripe: Stripe;
beforeAll(async () => {
  t = await startTestStripe();
  stripe = t.stripe;
});
afterAll(() => t.close());

async function onboardedAccount(): Promise<Stripe.Account> {
  const account = await stripe.accounts.create({ type: 'express', country: 'US' });
  await fetch((await stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://r' })).url);
  return account;
}

describe('lists', () => {
  it('lists transfers by transfer_group and destination, and a transfer reversals', async () => {
    const [a, b] = [await onboardedAccount(), await onboardedAccount()];
    await stripe.paymentIntents.create({ amount: 50_000, currency: 'usd', payment_method: 'pm_card_bypassPending', confirm: true });
    const first = await stripe.transfers.create({ amount: 1_000, currency: 'usd', destination: a.id, transfer_group: 'campaign-7' });
    const second = await stripe.transfers.create({ amount: 2_000, currency: 'usd', destination: b.id, transfer_group: 'campaign-7' });
    await stripe.transfers.create({ amount: 3_000, currency: 'usd', destination: a.id, transfer_group: 'campaign-8' });
    expect((await stripe.transfers.list({ transfer_group: 'campaign-7' })).data.map((x) => x.id)).toEqual([second.id, first.id]);
    expect((await stripe.transfers.list({ destination: b.id })).data.map((x) => x.id)).toEqual([second.id]);

    const r1 = await stripe.transfers.createReversal(first.id, { amount: 100 });
    const r2 = await stripe.transfers.createReversal(first.id, { amount: 200 });
    const reversals = await stripe.transfers.listReversals(first.id);
    expect(reversals.data.map((r) => r.id)).toEqual([r2.id, r1.id]);
    expect((await stripe.transfers.retrieveReversal(first.id, r1.id)).amount).toBe(100);
    await expect(stripe.transfers.listReversals('tr_missing')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('lists SetupIntents by customer', async () => {
    const customer = await stripe.customers.create({});
    const setup = await stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_visa', confirm: true, usage: 'off_session' });
    await stripe.setupIntents.create({ customer: (await stripe.customers.create({})).id });
    expect((await stripe.setupIntents.list({ customer: customer.id })).data.map((s) => s.id)).toEqual([setup.id]);
  });

  it('lists charges by payment_intent and balance transactions by source, expanding inside the list', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 2_500, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    const charges = await stripe.charges.list({ payment_intent: intent.id, expand: ['data.balance_transaction'] });
    expect(charges.data).toHaveLength(1);
    expect(charges.data[0]!.balance_transaction).toMatchObject({ object: 'balance_transaction', amount: 2_500 });
    const transactions = await stripe.balanceTransactions.list({ source: intent.latest_charge as string } as Stripe.BalanceTransactionListParams);
    expect(transactions.data.map((x) => x.type)).toEqual(['charge']);
  });
});

describe('per-endpoint rate limits', () => {
  it('limits each endpoint on its own, ids collapsed, with Stripe rate_limit error', async () => {
    const limited = await startTestStripe({ rateLimit: 3, maxNetworkRetries: 0 });
    try {
      const customers = await Promise.all([0, 1, 2].map(() => limited.stripe.customers.create({})));
      // The creation endpoint is spent for this second.
      const refused = await limited.stripe.customers.create({}).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
      expect(refused).toMatchObject({ statusCode: 429, code: 'rate_limit' });
      // Another endpoint still answers; retrieving three different customers is one endpoint, limited together.
      const retrieved = await Promise.allSettled([...customers, customers[0]!].map((c) => limited.stripe.customers.retrieve(c.id)));
      expect(retrieved.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      expect(retrieved.filter((r) => r.status === 'rejected')).toHaveLength(1);
      expect((await limited.stripe.paymentIntents.list()).object).toBe('list');
    } finally {
      await limited.close();
    }
  });

  it('all endpoints together are limited overall (4 x the endpoint limit unless set), as Stripe limits an account', async () => {
    const limited = await startTestStripe({ rateLimit: 5, overallRateLimit: 6, maxNetworkRetries: 0 });
    try {
      const customers = await Promise.allSettled(Array.from({ length: 5 }, () => limited.stripe.customers.create({})));
      expect(customers.every((r) => r.status === 'fulfilled')).toBe(true);
      const reads = await Promise.allSettled(Array.from({ length: 3 }, () => limited.stripe.balance.retrieve()));
      expect(reads.filter((r) => r.status === 'rejected')).toHaveLength(2);
      const post = () => fetch(`${limited.url}/v1/balance`, { headers: { authorization: 'Bearer sk_test_x' } });
      expect((await post()).headers.get('stripe-rate-limited-reason')).toBe('global-rate');
      // At run time: 2 per endpoint, 8 overall by default.
      await limited.setRateLimit(2);
      const burst = await Promise.allSettled([...Array.from({ length: 4 }, () => limited.stripe.customers.create({})), ...Array.from({ length: 2 }, () => limited.stripe.balance.retrieve())]);
      expect(burst.filter((r) => r.status === 'rejected')).toHaveLength(2);
    } finally {
      await limited.close();
    }
  });

  it('the limit can be set and lifted at run time', async () => {
    const limited = await startTestStripe({ maxNetworkRetries: 0 });
    try {
      await limited.setRateLimit(2);
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => limited.stripe.customers.create({})));
      expect(results.filter((r) => r.status === 'rejected').length).toBeGreaterThanOrEqual(2);
      await limited.setRateLimit(0);
      const lifted = await Promise.allSettled(Array.from({ length: 10 }, () => limited.stripe.customers.create({})));
      expect(lifted.every((r) => r.status === 'fulfilled')).toBe(true);
    } finally {
      await limited.close();
    }
  });

  it('the 429 carries Stripe shape and reason header', async () => {
    const limited = await startTestStripe({ rateLimit: 1 });
    try {
      const post = () => fetch(`${limited.url}/v1/customers`, { method: 'POST', headers: { authorization: 'Bearer sk_test_x' } });
      await post();
      const response = await post();
      expect(response.status).toBe(429);
      expect(response.headers.get('stripe-rate-limited-reason')).toBe('endpoint-rate');
      expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'rate_limit' } });
    } finally {
      await limited.close();
    }
  });
});
