/**
 * Settlement currency and every presentment currency, through the official `stripe` package: conversion into the
 * platform's settlement currency with Stripe's `exchange_rate`, decimal rules, minimums after conversion, balances
 * and transfers in the settlement currency (https://docs.stripe.com/currencies, /connect/currencies).
 */
import { spawn } from 'node:child_process';
import Stripe from 'stripe';
import { STRIPE_STANDIN_BIN } from '../src';
import { SUPPORTED_CURRENCIES } from '../src/currencies';
import { startTestStripe, type TestStripe } from './harness';

let t: TestStripe;
let stripe: Stripe;
beforeAll(async () => {
  t = await startTestStripe({ realTimeFallbackMs: Infinity });
  stripe = t.stripe;
});
afterAll(() => t.close());

const DAY = 86_400;

async function chargeTransaction(client: Stripe, amount: number, currency: string, payment_method = 'pm_card_visa') {
  const intent = await client.paymentIntents.create({ amount, currency, payment_method, confirm: true, expand: ['latest_charge.balance_transaction'] });
  const charge = intent.latest_charge as Stripe.Charge;
  return { intent, charge, transaction: charge.balance_transaction as Stripe.BalanceTransaction };
}

describe('the platform account', () => {
  it('accounts.retrieve() without an id is the platform, settling in usd by default', async () => {
    const platform = await stripe.accounts.retrieve(null);
    expect(platform).toMatchObject({ object: 'account', default_currency: 'usd', charges_enabled: true });
    expect(platform.id).toMatch(/^acct_/);
    expect((await stripe.accounts.retrieveCurrent()).id).toBe(platform.id);
  });

  it('settles in the currency it was started with', async () => {
    const eur = await startTestStripe({ settlementCurrency: 'eur' });
    try {
      expect((await eur.stripe.accounts.retrieve(null)).default_currency).toBe('eur');
      const balance = await eur.stripe.balance.retrieve();
      expect(balance.available.map((b) => b.currency)).toEqual(['eur']);
    } finally {
      await eur.close();
    }
  });

  it('the executable takes --settlement-currency', async () => {
    const child = spawn(STRIPE_STANDIN_BIN, ['--port', '0', '--settlement-currency', 'gbp'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString()));
        child.once('exit', (code) => reject(new Error(`stripe-standin exited with ${code}`)));
      });
      const { port } = JSON.parse(line) as { port: number };
      const client = new Stripe('sk_test_bin', { host: '127.0.0.1', port, protocol: 'http' });
      expect((await client.accounts.retrieve(null)).default_currency).toBe('gbp');
    } finally {
      child.kill();
    }
  });
});

describe('conversion into the settlement currency', () => {
  it('a charge in the settlement currency has exchange_rate null', async () => {
    const { transaction } = await chargeTransaction(stripe, 10_000, 'usd');
    expect(transaction).toMatchObject({ currency: 'usd', amount: 10_000, exchange_rate: null, fee: 320, net: 9_680 });
  });

  it('10.00 EUR converted to 12.34 USD has exchange_rate 1.234; the fee is reckoned on the converted amount', async () => {
    await t.setExchangeRates({ eur: 1.234 });
    const { charge, transaction } = await chargeTransaction(stripe, 1_000, 'eur');
    expect(charge).toMatchObject({ amount: 1_000, currency: 'eur' });
    const fee = Math.round(1_234 * 0.029) + 30;
    expect(transaction).toMatchObject({ currency: 'usd', amount: 1_234, exchange_rate: 1.234, fee, net: 1_234 - fee });
    expect(transaction.fee_details).toEqual([expect.objectContaining({ amount: fee, currency: 'usd', type: 'stripe_fee' })]);
  });

  it('minds the exponents: zero-decimal JPY and three-decimal KWD', async () => {
    await t.setExchangeRates({ jpy: 0.0067, kwd: 3.2573 });
    // ¥10,000 (amount 10000) -> 67.00 USD
    const jpy = await chargeTransaction(stripe, 10_000, 'jpy');
    expect(jpy.transaction).toMatchObject({ currency: 'usd', amount: 6_700, exchange_rate: 0.0067 });
    // 10.000 KWD (amount 10000) -> 32.573 USD -> 32.57
    const kwd = await chargeTransaction(stripe, 10_000, 'kwd');
    expect(kwd.transaction).toMatchObject({ currency: 'usd', amount: 3_257, exchange_rate: 3.2573 });
  });

  it('converts a USD charge into a EUR platform and a zero-decimal JPY platform', async () => {
    const eur = await startTestStripe({ settlementCurrency: 'eur' });
    const jpy = await startTestStripe({ settlementCurrency: 'jpy' });
    try {
      await eur.setExchangeRates({ usd: 0.9 });
      expect((await chargeTransaction(eur.stripe, 2_000, 'usd')).transaction).toMatchObject({ currency: 'eur', amount: 1_800, exchange_rate: 0.9 });
      await jpy.setExchangeRates({ usd: 150.5 });
      // 20.00 USD -> ¥3,010
      expect((await chargeTransaction(jpy.stripe, 2_000, 'usd')).transaction).toMatchObject({ currency: 'jpy', amount: 3_010, exchange_rate: 150.5 });
    } finally {
      await Promise.all([eur.close(), jpy.close()]);
    }
  });

  it('refunds a converted charge at the charge rate, even after the rates change', async () => {
    await t.setExchangeRates({ eur: 1.1 });
    const { intent, transaction } = await chargeTransaction(stripe, 5_000, 'eur');
    expect(transaction.amount).toBe(5_500);
    await t.setExchangeRates({ eur: 2 });
    const refund = await stripe.refunds.create({ payment_intent: intent.id, amount: 1_000, expand: ['balance_transaction'] });
    expect(refund).toMatchObject({ amount: 1_000, currency: 'eur' });
    expect(refund.balance_transaction).toMatchObject({ currency: 'usd', amount: -1_100, exchange_rate: 1.1, type: 'refund' });
  });

  it('keeps the balance in the settlement currency alone; a transfer in another currency finds no funds', async () => {
    const account = await stripe.accounts.create({ type: 'express', country: 'US' });
    await fetch((await stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://r', return_url: 'http://r' })).url);
    await t.setExchangeRates({ eur: 1.08 });
    await stripe.paymentIntents.create({ amount: 10_000, currency: 'eur', payment_method: 'pm_card_bypassPending', confirm: true });
    const balance = await stripe.balance.retrieve();
    expect([...balance.available, ...balance.pending].every((b) => b.currency === 'usd')).toBe(true);
    await expect(stripe.transfers.create({ amount: 1_000, currency: 'eur', destination: account.id })).rejects.toMatchObject({ code: 'balance_insufficient' });
    expect((await stripe.transfers.create({ amount: 1_000, currency: 'usd', destination: account.id })).currency).toBe('usd');
  });
});

describe('presentment currencies', () => {
  it('accepts every presentment currency Stripe lists, RUB included', async () => {
    expect(SUPPORTED_CURRENCIES.length).toBeGreaterThanOrEqual(135);
    expect((await stripe.paymentIntents.create({ amount: 10_000, currency: 'rub' })).currency).toBe('rub');
    expect((await stripe.paymentIntents.create({ amount: 10_000, currency: 'BRL' })).currency).toBe('brl');
  });

  it('refuses an unknown currency with a 400 on currency', async () => {
    const error = await stripe.paymentIntents.create({ amount: 1_000, currency: 'xyz' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError', param: 'currency' });
  });

  it('three-decimal currencies must end in 0', async () => {
    for (const currency of ['bhd', 'jod', 'kwd', 'omr', 'tnd']) {
      await expect(stripe.paymentIntents.create({ amount: 10_005, currency })).rejects.toMatchObject({ statusCode: 400, param: 'amount' });
      expect((await stripe.paymentIntents.create({ amount: 10_000, currency })).amount).toBe(10_000);
    }
  });

  it('zero-decimal amounts are whole units: ¥75 is enough on a USD platform, ¥50 is not', async () => {
    await t.setExchangeRates({ jpy: 0.0067 });
    await expect(stripe.paymentIntents.create({ amount: 50, currency: 'jpy' })).rejects.toMatchObject({ code: 'amount_too_small', param: 'amount' });
    expect((await stripe.paymentIntents.create({ amount: 75, currency: 'jpy' })).amount).toBe(75);
  });

  it('the minimum is the settlement currency minimum after conversion', async () => {
    await t.setExchangeRates({ gbp: 1.27, mxn: 0.0543 });
    // 0.30 GBP is Stripe's GBP minimum, but converts to 0.38 USD
    await expect(stripe.paymentIntents.create({ amount: 30, currency: 'gbp' })).rejects.toMatchObject({ code: 'amount_too_small' });
    expect((await stripe.paymentIntents.create({ amount: 40, currency: 'gbp' })).amount).toBe(40);
    // 9.00 MXN converts to 0.49 USD; 10.00 MXN is Stripe's MXN minimum anyway
    await expect(stripe.paymentIntents.create({ amount: 900, currency: 'mxn' })).rejects.toMatchObject({ code: 'amount_too_small' });
    const eur = await startTestStripe({ settlementCurrency: 'eur' });
    try {
      await eur.setExchangeRates({ usd: 0.9 });
      // 0.50 USD is 0.45 EUR: below Stripe's 0.50 EUR minimum
      await expect(eur.stripe.paymentIntents.create({ amount: 50, currency: 'usd' })).rejects.toMatchObject({ code: 'amount_too_small' });
      expect((await eur.stripe.paymentIntents.create({ amount: 56, currency: 'usd' })).amount).toBe(56);
    } finally {
      await eur.close();
    }
  });

  it('keeps the maximum amount', async () => {
    await expect(stripe.paymentIntents.create({ amount: 100_000_000, currency: 'eur' })).rejects.toMatchObject({ code: 'amount_too_large' });
  });
});

describe('funds of a converted charge', () => {
  it('become available after 2 days in the settlement currency', async () => {
    await t.setExchangeRates({ chf: 1.1299 });
    const before = (await stripe.balance.retrieve()).available.find((b) => b.currency === 'usd')?.amount ?? 0;
    const { transaction } = await chargeTransaction(stripe, 10_000, 'chf');
    expect(transaction).toMatchObject({ status: 'pending', amount: 11_299 });
    await t.advanceClock(2 * DAY);
    const after = (await stripe.balance.retrieve()).available.find((b) => b.currency === 'usd')!.amount;
    expect(after - before).toBeGreaterThanOrEqual(transaction.net);
  });
});
