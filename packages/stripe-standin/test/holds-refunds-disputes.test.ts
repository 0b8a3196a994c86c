/**
 * What Stripe does later, through the official `stripe` package: holds that lapse at `capture_before`, refunds of
 * `pm_card_refundFail` that fail, and disputes of `pm_card_createDispute` with their evidence, fee and outcome
 * (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method, /refunds, /disputes, /testing).
 */
import Stripe from 'stripe';
import { startTestStripe, type TestStripe } from './harness';

let t: TestStripe;
let stripe: Stripe;
beforeAll(async () => {
  // Only the clock moves things here, so every step is seen before the next.
  t = await startTestStripe({ realTimeFallbackMs: Infinity });
  stripe = t.stripe;
});
afterAll(() => t.close());

const DAY = 86_400;
const HOUR = 3_600;

const usdBalance = async (client = stripe) => {
  const balance = await client.balance.retrieve();
  const sum = (funds: Stripe.Balance.Available[]) => funds.filter((f) => f.currency === 'usd').reduce((total, f) => total + f.amount, 0);
  return sum(balance.available) + sum(balance.pending);
};

const eventsFor = async (id: string, client = stripe) =>
  (await client.events.list({ limit: 100 })).data.filter((event) => (event.data.object as { id?: string }).id === id).map((event) => event.type).reverse();

async function savedCard(card: string) {
  const customer = await stripe.customers.create({});
  const method = await stripe.paymentMethods.attach(card, { customer: customer.id });
  return { customer: customer.id, payment_method: method.id };
}

async function hold(params: Partial<Stripe.PaymentIntentCreateParams>) {
  const intent = await stripe.paymentIntents.create({ amount: 5_000, currency: 'usd', capture_method: 'manual', confirm: true, ...params, expand: ['latest_charge'] });
  return { intent, charge: intent.latest_charge as Stripe.Charge };
}

describe('capture_before', () => {
  it('a customer-initiated hold can be captured for 7 days', async () => {
    const { intent, charge } = await hold({ payment_method: 'pm_card_visa' });
    expect(intent.status).toBe('requires_capture');
    expect(charge.payment_method_details?.card?.capture_before).toBe(charge.created + 7 * DAY);
  });

  it('a merchant-initiated Visa hold lapses after 4 days and 18 hours: the intent is canceled automatically', async () => {
    const { intent, charge } = await hold({ ...(await savedCard('pm_card_visa')), off_session: true });
    const captureBefore = charge.payment_method_details!.card!.capture_before!;
    expect(captureBefore).toBe(charge.created + 4 * DAY + 18 * HOUR);
    await t.advanceClock(4 * DAY + 18 * HOUR - 60);
    expect((await stripe.paymentIntents.retrieve(intent.id)).status).toBe('requires_capture');
    await t.advanceClock(60);
    expect(await stripe.paymentIntents.retrieve(intent.id)).toMatchObject({ status: 'canceled', cancellation_reason: 'automatic', canceled_at: captureBefore });
    await expect(stripe.paymentIntents.capture(intent.id)).rejects.toMatchObject({ code: 'payment_intent_unexpected_state' });
  });

  it.each(['pm_card_mastercard', 'pm_card_amex'])('a merchant-initiated %s hold keeps 7 days', async (card) => {
    const { charge } = await hold({ ...(await savedCard(card)), off_session: true });
    expect(charge.payment_method_details?.card?.capture_before).toBe(charge.created + 7 * DAY);
  });

  it('an automatic-capture charge has no capture_before', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 5_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true, expand: ['latest_charge'] });
    expect((intent.latest_charge as Stripe.Charge).payment_method_details?.card?.capture_before).toBeUndefined();
  });
});

describe('refunds that fail later', () => {
  it('pm_card_refundFail: the refund is accepted, then fails, and the money comes back', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 4_000, currency: 'usd', payment_method: 'pm_card_refundFail', confirm: true });
    expect(intent.status).toBe('succeeded');
    const before = await usdBalance();
    const refund = await stripe.refunds.create({ payment_intent: intent.id, amount: 1_500 });
    expect(['succeeded', 'pending']).toContain(refund.status);
    expect(await usdBalance()).toBe(before - 1_500);
    expect((await stripe.charges.retrieve(intent.latest_charge as string)).amount_refunded).toBe(1_500);

    await t.advanceClock(DAY);
    const failed = await stripe.refunds.retrieve(refund.id, { expand: ['failure_balance_transaction'] });
    expect(failed.status).toBe('failed');
    expect(failed.failure_reason).toEqual(expect.any(String));
    expect(failed.failure_balance_transaction).toMatchObject({ type: 'refund_failure', amount: 1_500, currency: 'usd' });
    expect(await usdBalance()).toBe(before);
    expect(await stripe.charges.retrieve(intent.latest_charge as string)).toMatchObject({ amount_refunded: 0, refunded: false });
    expect(await eventsFor(refund.id)).toEqual(expect.arrayContaining(['refund.created', 'refund.updated', 'refund.failed']));
    // What failed can be refunded again.
    expect((await stripe.refunds.create({ payment_intent: intent.id })).amount).toBe(4_000);
  });

  it('an ordinary card refund stays succeeded', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 4_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    const refund = await stripe.refunds.create({ payment_intent: intent.id });
    await t.advanceClock(DAY);
    expect((await stripe.refunds.retrieve(refund.id)).status).toBe('succeeded');
  });

  it('fails after a little real time too, without the clock moving', async () => {
    const quick = await startTestStripe({ realTimeFallbackMs: 100 });
    try {
      const intent = await quick.stripe.paymentIntents.create({ amount: 4_000, currency: 'usd', payment_method: 'pm_card_refundFail', confirm: true });
      const refund = await quick.stripe.refunds.create({ payment_intent: intent.id });
      let status: string | null = refund.status;
      for (let i = 0; i < 50 && status !== 'failed'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        status = (await quick.stripe.refunds.retrieve(refund.id)).status;
      }
      expect(status).toBe('failed');
    } finally {
      await quick.close();
    }
  });
});

describe('disputes', () => {
  async function disputedCharge(client = stripe, controls: TestStripe = t, amount = 10_000, currency = 'usd') {
    const intent = await client.paymentIntents.create({ amount, currency, payment_method: 'pm_card_createDispute', confirm: true });
    expect(intent.status).toBe('succeeded');
    await controls.advanceClock(10 * 60);
    const { data } = await client.disputes.list({ charge: intent.latest_charge as string });
    expect(data).toHaveLength(1);
    return { intent, dispute: data[0]! };
  }

  it('pm_card_createDispute is disputed shortly after: needs_response, fraudulent, the amount and a 15.00 USD fee withdrawn', async () => {
    const before = await usdBalance();
    const { intent, dispute } = await disputedCharge();
    expect(dispute).toMatchObject({ object: 'dispute', status: 'needs_response', reason: 'fraudulent', amount: 10_000, currency: 'usd', charge: intent.latest_charge, payment_intent: intent.id });
    expect(dispute.id).toMatch(/^dp_/);
    expect(dispute.evidence_details.due_by).toBeGreaterThan(dispute.created);
    expect(dispute.balance_transactions).toHaveLength(1);
    expect(dispute.balance_transactions[0]).toMatchObject({ amount: -10_000, fee: 1_500, net: -11_500, currency: 'usd' });
    // The charge's own fee stays with Stripe: what leaves the balance is the amount and the dispute fee.
    expect(await usdBalance()).toBe(before + (10_000 - 320) - 11_500);
    expect((await stripe.charges.retrieve(intent.latest_charge as string)).disputed).toBe(true);
    expect(await eventsFor(dispute.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn']);
    expect((await stripe.disputes.list({ payment_intent: intent.id })).data.map((d) => d.id)).toEqual([dispute.id]);
    expect((await stripe.disputes.retrieve(dispute.id)).id).toBe(dispute.id);
  });

  it('winning_evidence: under review, then won; the amount comes back, the fee does not', async () => {
    const { dispute } = await disputedCharge();
    const afterWithdrawal = await usdBalance();
    const submitted = await stripe.disputes.update(dispute.id, { evidence: { uncategorized_text: 'winning_evidence', customer_name: 'Ada' } });
    expect(submitted).toMatchObject({ status: 'under_review', evidence: { uncategorized_text: 'winning_evidence', customer_name: 'Ada' } });
    expect(submitted.evidence_details).toMatchObject({ has_evidence: true, submission_count: 1 });
    await t.advanceClock(DAY);
    const won = await stripe.disputes.retrieve(dispute.id);
    expect(won.status).toBe('won');
    expect(won.balance_transactions).toHaveLength(2);
    expect(won.balance_transactions[1]).toMatchObject({ amount: 10_000, fee: 0, net: 10_000, currency: 'usd' });
    expect(await usdBalance()).toBe(afterWithdrawal + 10_000);
    expect(await eventsFor(dispute.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.updated', 'charge.dispute.funds_reinstated', 'charge.dispute.closed']);
  });

  it('losing_evidence: under review, then lost, nothing reinstated', async () => {
    const { dispute } = await disputedCharge();
    expect((await stripe.disputes.update(dispute.id, { evidence: { uncategorized_text: 'losing_evidence' } })).status).toBe('under_review');
    await t.advanceClock(DAY);
    const lost = await stripe.disputes.retrieve(dispute.id);
    expect(lost.status).toBe('lost');
    expect(lost.balance_transactions).toHaveLength(1);
    expect(await eventsFor(dispute.id)).toContain('charge.dispute.closed');
    expect(await eventsFor(dispute.id)).not.toContain('charge.dispute.funds_reinstated');
  });

  it('evidence staged with submit: false stays with the dispute until submitted', async () => {
    const { dispute } = await disputedCharge();
    const staged = await stripe.disputes.update(dispute.id, { evidence: { product_description: 'A desk lamp' }, submit: false });
    expect(staged).toMatchObject({ status: 'needs_response', evidence_details: { has_evidence: true, submission_count: 0 } });
  });

  it('disputes.close accepts the loss at once; a closed dispute takes no evidence', async () => {
    const { dispute } = await disputedCharge();
    const closed = await stripe.disputes.close(dispute.id);
    expect(closed.status).toBe('lost');
    expect(await eventsFor(dispute.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.closed']);
    await expect(stripe.disputes.update(dispute.id, { evidence: { uncategorized_text: 'winning_evidence' } })).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  });

  it('a dispute left unanswered past evidence_details.due_by is lost', async () => {
    const { dispute } = await disputedCharge();
    await t.advanceClock(dispute.evidence_details.due_by! - dispute.created + 1);
    expect(await stripe.disputes.retrieve(dispute.id)).toMatchObject({ status: 'lost', evidence_details: { past_due: true } });
  });

  it('a disputed charge cannot be refunded', async () => {
    const { intent } = await disputedCharge();
    await expect(stripe.refunds.create({ payment_intent: intent.id })).rejects.toMatchObject({ code: 'charge_disputed' });
  });

  it('converts the withdrawal at the charge rate and the fee into a EUR settlement currency', async () => {
    const eur = await startTestStripe({ settlementCurrency: 'eur', realTimeFallbackMs: Infinity });
    try {
      await eur.setExchangeRates({ usd: 0.9, gbp: 1.2 });
      const { dispute } = await disputedCharge(eur.stripe, eur, 5_000, 'gbp');
      expect(dispute).toMatchObject({ amount: 5_000, currency: 'gbp' });
      expect(dispute.balance_transactions[0]).toMatchObject({ currency: 'eur', amount: -6_000, exchange_rate: 1.2, fee: 1_350, net: -7_350 });
    } finally {
      await eur.close();
    }
  });

  it('is disputed after a little real time too, and delivers the events', async () => {
    const quick = await startTestStripe({ realTimeFallbackMs: 100 });
    try {
      const intent = await quick.stripe.paymentIntents.create({ amount: 3_000, currency: 'usd', payment_method: 'pm_card_createDispute', confirm: true });
      let disputes: Stripe.Dispute[] = [];
      for (let i = 0; i < 50 && disputes.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        disputes = (await quick.stripe.disputes.list({ charge: intent.latest_charge as string })).data;
      }
      expect(disputes.map((d) => d.status)).toEqual(['needs_response']);
    } finally {
      await quick.close();
    }
  });
});
