/**
 * Money in two currencies, end to end through the campaign workflow: EUR, JPY and KWD campaigns on a platform that
 * settles in USD, and a USD campaign on one that settles in EUR. Each is funded, paid out, refunded in part after the
 * payout, and reconciled in both currencies to the minor unit. The expected figures are worked out here from the
 * Stripe stand-in's fixed rates (`exchange_rate`: settlement major units per presentment major unit, six significant
 * digits) and its pricing rule (2.9% + 30 minor units of the settlement currency, on the converted amount).
 */
import request from 'supertest';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { reconciliationView } from '../../src/reconciliation/report';
import { campaignStateQuery } from '../../workflows/messages';
import { campaignRow, createCampaign, createUser, days, placePledge, pledgeRow, publishCampaign } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';

const EXPONENT: Record<string, number> = { USD: 2, EUR: 2, JPY: 0, KWD: 3 };

/**
 * Stripe's conversion: presentment minor units -> settlement minor units at `rate` (a decimal string, major units per
 * major unit), rounded half up; exact integer arithmetic.
 */
function convert(amount: number, from: string, to: string, rate: string): number {
  const [whole, fraction = ''] = rate.split('.');
  const scaledRate = BigInt(whole + fraction);
  const numerator = BigInt(amount) * scaledRate * 10n ** BigInt(EXPONENT[to]!);
  const denominator = 10n ** BigInt(fraction.length + EXPONENT[from]!);
  return Number((2n * numerator + denominator) / (2n * denominator));
}
/** The stand-in's price: 2.9% + 30 of the settlement amount, half up. */
const stripeFee = (settled: number) => Math.floor((settled * 290 + 5_000) / 10_000) + 30;
/** The platform's commission: 6% of the net collected, half up. */
const commission = (net: number) => Math.floor((net * 600 + 5_000) / 10_000);

interface Scenario {
  currency: string;
  settlementCurrency: string;
  /** As the stand-in states it: settlement-currency units per unit of `currency`. */
  rate: string;
  model: 'aon' | 'kia';
  pledges: [number, number];
  /** Refunded of the second pledge after the payout, in the campaign's minor units. */
  refund: number;
}

async function expectBalanced(p: TestPlatform, campaignId: string) {
  const report = await reconcileCampaign(p.testDb.database.db, campaignId, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.balanced).toBe(true);
  return report;
}

/** Funds, pays out, refunds in part after the payout and reconciles one campaign; checks every figure on the way. */
async function fundRefundReconcile(p: TestPlatform, scenario: Scenario) {
  const { currency, settlementCurrency, rate, model, pledges: amounts, refund } = scenario;
  const settled = amounts.map((amount) => convert(amount, currency, settlementCurrency, rate));
  const fees = settled.map(stripeFee);
  const captured = settled[0]! + settled[1]!;
  const totalFees = fees[0]! + fees[1]!;
  const transfer = captured - commission(captured) - totalFees;
  const refundSettled = convert(refund, currency, settlementCurrency, rate);
  const netAfter = captured - refundSettled;
  const commissionReversal = commission(captured) - commission(netAfter);
  const transferReversal = refundSettled - commissionReversal;

  const creator = await createUser(p, { connect: 'onboarded' });
  const support = await createUser(p, { role: 'support' });
  const campaign = await createCampaign(p, creator, { model, goal: amounts[0], durationMs: days(5), currency });
  await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    const style = model === 'kia' ? 'charge' : 'hold';
    const placed = [];
    for (const amount of amounts) placed.push(await placePledge(p, campaign, { amount, style }));
    await p.env.sleep(days(6));
    // Keep-it-all pledges were charged at pledge time: settlement captures nothing more.
    expect(await handle.query(campaignStateQuery)).toMatchObject({ outcome: 'funded', totals: { captured: model === 'kia' ? 0 : amounts[0] + amounts[1] } });

    // Each capture in both currencies, as its balance transaction says.
    for (const [i, { pledge }] of placed.entries()) {
      const row = await pledgeRow(p, pledge.id);
      expect(row).toMatchObject({ status: 'captured', amount_captured: amounts[i], currency, processing_fee: fees[i] });
      const entries = await p.testDb.database.db.selectFrom('ledger_entries').selectAll().where('pledge_id', '=', pledge.id).orderBy('id').execute();
      expect(entries.map(({ kind, amount, currency: c, settlement_amount, settlement_currency, exchange_rate }) => ({ kind, amount, c, settlement_amount, settlement_currency, exchange_rate: exchange_rate === null ? null : Number(exchange_rate) }))).toEqual([
        { kind: 'capture', amount: amounts[i], c: currency, settlement_amount: settled[i], settlement_currency: settlementCurrency, exchange_rate: Number(rate) },
        { kind: 'processing_fee', amount: fees[i], c: settlementCurrency, settlement_amount: fees[i], settlement_currency: settlementCurrency, exchange_rate: null },
      ]);
      const intent = await p.stripe.paymentIntents.retrieve(row.payment_intent_id!, { expand: ['latest_charge.balance_transaction'] });
      expect(intent.currency).toBe(currency.toLowerCase());
    }

    // The payout: reckoned and transferred in the settlement currency.
    await p.env.sleep(days(15));
    const paid = await handle.query(campaignStateQuery);
    expect(paid.payout).toMatchObject({ state: 'paid', amount: transfer });
    const payout = await p.testDb.database.db.selectFrom('payouts').selectAll().where('campaign_id', '=', campaign.id).executeTakeFirstOrThrow();
    expect(payout).toMatchObject({ amount: transfer, currency: settlementCurrency, gross_captured: captured, processing_fees: totalFees, platform_fee: commission(captured) });
    expect(await p.stripe.transfers.retrieve(paid.payout!.transferId!)).toMatchObject({ amount: transfer, currency: settlementCurrency.toLowerCase() });

    // Support refunds part of the second pledge, in the campaign's currency, after the payout.
    const second = placed[1]!.pledge;
    const asked = await request(p.app)
      .post(`/api/support/pledges/${second.id}/refunds`)
      .set(support.auth)
      .set('Idempotency-Key', `partial-${campaign.id}`)
      .send({ amount: formatAmount(refund, currency), reason: 'item damaged' })
      .expect(202);
    await p.env.sleep(days(1));
    const made = await p.testDb.database.db.selectFrom('refunds').selectAll().where('id', '=', asked.body.refundId as string).executeTakeFirstOrThrow();
    expect(made).toMatchObject({ status: 'succeeded', amount: refund, currency, transfer_reversal_amount: transferReversal, reversal_status: 'succeeded' });
    const refundEntry = await p.testDb.database.db.selectFrom('ledger_entries').selectAll().where('kind', '=', 'refund').where('stripe_object_id', '=', made.stripe_refund_id!).executeTakeFirstOrThrow();
    expect(refundEntry).toMatchObject({ amount: refund, currency, settlement_amount: refundSettled, settlement_currency: settlementCurrency });
    expect(Number(refundEntry.exchange_rate)).toBe(Number(rate));
    const stripeRefund = await p.stripe.refunds.retrieve(made.stripe_refund_id!, { expand: ['balance_transaction'] });
    expect(stripeRefund.balance_transaction).toMatchObject({ amount: -refundSettled, currency: settlementCurrency.toLowerCase() });
    expect(await p.stripe.transfers.retrieve(paid.payout!.transferId!)).toMatchObject({ amount_reversed: transferReversal });
  });

  // Reconciled in both columns, against the rows and Stripe's balance transactions.
  const report = await expectBalanced(p, campaign.id);
  expect(report).toMatchObject({
    currency,
    settlementCurrency,
    presentment: { captured: amounts[0] + amounts[1], refunded: refund, netCollected: amounts[0] + amounts[1] - refund },
    breakdown: { netCollected: netAfter, transferred: transfer - transferReversal, commission: commission(netAfter), processingFees: totalFees, held: 0 },
  });
  expect((await campaignRow(p, campaign.id)).currency).toBe(currency);
  return { report, transfer, transferReversal };
}

/** Minor units as the API's decimal string, for the test's own requests. */
function formatAmount(minor: number, currency: string): string {
  const exponent = EXPONENT[currency]!;
  if (exponent === 0) return String(minor);
  const digits = String(minor).padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

describe('a platform settling in USD', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await createTestPlatform({}, { settlementCurrency: 'usd' });
  });
  afterAll(() => p.close());

  test('EUR campaign (holds): 40.00 + 60.00 EUR settle as 43.20 + 64.80 USD; 10.00 EUR refunded after the payout', async () => {
    const { transfer, transferReversal } = await fundRefundReconcile(p, { currency: 'EUR', settlementCurrency: 'USD', rate: '1.08', model: 'aon', pledges: [4_000, 6_000], refund: 1_000 });
    // Worked by hand: fees 155 + 218; commission 6% of 108.00 = 6.48; 10,800 - 648 - 373 = 9,779 cents.
    expect(transfer).toBe(9_779);
    // 10.00 EUR = 10.80 USD back to the backer: the commission falls 0.65 (6.48 -> 5.83), the creator returns 10.15.
    expect(transferReversal).toBe(1_015);
  });

  test('JPY campaign (charged at pledge time): zero-decimal yen settle in cents', async () => {
    const { transfer, transferReversal } = await fundRefundReconcile(p, { currency: 'JPY', settlementCurrency: 'USD', rate: '0.0067', model: 'kia', pledges: [5_000, 7_000], refund: 1_000 });
    // 5,000 JPY = 33.50 USD, 7,000 JPY = 46.90 USD; fees 127 + 166; commission 4.82.
    expect(transfer).toBe(8_040 - 482 - 293);
    expect(transferReversal).toBe(670 - 40);
  });

  test('KWD campaign (holds): three-decimal dinars, amounts ending in 0', async () => {
    const { report } = await fundRefundReconcile(p, { currency: 'KWD', settlementCurrency: 'USD', rate: '3.2573', model: 'aon', pledges: [15_000, 25_500], refund: 5_000 });
    // 15.000 KWD = 48.8595 USD -> 48.86; 25.500 KWD = 83.06115 -> 83.06; 5.000 KWD = 16.2865 -> 16.29.
    expect(report.breakdown.netCollected).toBe(4_886 + 8_306 - 1_629);
    const view = reconciliationView(report);
    expect(view.presentment).toEqual({ captured: '40.500', refunded: '5.000', netCollected: '35.500' });
    expect(view.breakdown.netCollected).toBe('115.63');
  });

  test('amounts Stripe would refuse are refused with the field named: 1.005 KWD, a yen pledge under 0.50 USD', async () => {
    const creator = await createUser(p, { connect: 'onboarded' });
    const support = await createUser(p, { role: 'support' });
    // A RUB campaign is accepted; a KWD goal with a last digit other than 0 is not.
    const body = { title: 'Samovar', model: 'aon', startsAt: new Date(Date.now() + 86_400_000).toISOString(), endsAt: new Date(Date.now() + 20 * 86_400_000).toISOString() };
    await request(p.app).post('/api/campaigns').set(creator.auth).send({ ...body, goalAmount: '150000.00', currency: 'RUB' }).expect(201);
    const badGoal = await request(p.app).post('/api/campaigns').set(creator.auth).send({ ...body, goalAmount: '100.005', currency: 'KWD' }).expect(400);
    expect(badGoal.body.error.fields).toEqual([expect.objectContaining({ path: 'goalAmount' })]);

    const kwd = await createCampaign(p, creator, { model: 'kia', goal: 10_000, durationMs: days(5), currency: 'KWD', status: 'active' });
    const { pledge } = await placePledge(p, kwd, { amount: 10_000, style: 'charge' });
    const badRefund = await request(p.app).post(`/api/support/pledges/${pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', 'kwd-1.005').send({ amount: '1.005', reason: 'odd' }).expect(400);
    expect(badRefund.body.error.fields).toEqual([expect.objectContaining({ path: 'amount' })]);

    // 60 JPY is above Stripe's yen minimum (50) but converts to 0.40 USD, under the USD platform's 0.50: Stripe says
    // amount_too_small, and the API answers 422 naming the amount.
    const jpy = await createCampaign(p, creator, { model: 'kia', goal: 10_000, durationMs: days(5), currency: 'JPY', status: 'active' });
    const backer = await createUser(p);
    const tooSmall = await request(p.app).post(`/api/campaigns/${jpy.id}/pledges`).set(backer.auth).set('Idempotency-Key', 'jpy-60').send({ amount: '60', paymentMethodId: 'pm_card_visa' }).expect(422);
    expect(tooSmall.body.error).toMatchObject({ code: 'amount_below_currency_minimum', fields: [expect.objectContaining({ path: 'amount' })] });
    // In the settlement currency itself the minimum is exact, and checked before Stripe is asked.
    const usd = await createCampaign(p, creator, { model: 'kia', goal: 10_000, durationMs: days(5), currency: 'USD', status: 'active' });
    const charges = async () => (await p.testStripe.requests()).filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents').length;
    const chargesBefore = await charges();
    const below = await request(p.app).post(`/api/campaigns/${usd.id}/pledges`).set(backer.auth).set('Idempotency-Key', 'usd-0.40').send({ amount: '0.40', paymentMethodId: 'pm_card_visa' }).expect(422);
    expect(below.body.error).toMatchObject({ code: 'amount_below_currency_minimum', fields: [{ path: 'amount', message: 'must be at least 0.50 USD' }] });
    expect(await charges()).toBe(chargesBefore);
  });
});

describe('a platform settling in EUR', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await createTestPlatform({}, { settlementCurrency: 'eur' });
  });
  afterAll(() => p.close());

  test('USD campaign (charged at pledge time): dollars settle in euros at 0.925926', async () => {
    const { transfer, transferReversal } = await fundRefundReconcile(p, { currency: 'USD', settlementCurrency: 'EUR', rate: '0.925926', model: 'kia', pledges: [5_000, 3_000], refund: 1_000 });
    // 50.00 USD = 46.30 EUR, 30.00 USD = 27.78 EUR; fees 164 + 111; commission 6% of 74.08 = 4.44.
    expect(transfer).toBe(7_408 - 444 - 275);
    // 10.00 USD = 9.26 EUR refunded: the commission falls 0.55 (4.44 -> 3.89), the creator returns 8.71.
    expect(transferReversal).toBe(871);
  });
});
