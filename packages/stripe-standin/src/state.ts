/**
 * The Stripe stand-in's state and the behaviour of each resource, in Stripe's own object shapes (the `stripe`
 * package's types). One instance per stand-in; its clock moves only when a test says so.
 */
import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { decideCharge, decideSetup, TEST_CARDS, type CardBehaviour, type ChargeDecision } from './cards';
import { checkAmountDigits, countryOf, ExchangeRates, formatAmount, parseCurrency } from './currencies';
import { invalidRequest, missing, StripeApiError, unexpectedState } from './errors';

type Params = Record<string, unknown>;

const DAY = 86_400;
const HOUR = 3_600;

/**
 * How long an authorization holds (https://docs.stripe.com/payments/place-a-hold-on-a-payment-method): 7 days,
 * except merchant-initiated Visa transactions, whose window is exactly 4 days and 18 hours.
 */
const HOLD_SECONDS = 7 * DAY;
const VISA_MERCHANT_INITIATED_HOLD_SECONDS = 4 * DAY + 18 * HOUR;
/** Stand-in time after which the test cards' later events happen (each within what the contract allows). */
const DISPUTE_AFTER_SECONDS = 60;
const REFUND_FAILS_AFTER_SECONDS = 30 * 60;
const DISPUTE_DECIDED_AFTER_SECONDS = 15 * 60;
const EVIDENCE_DUE_SECONDS = 7 * DAY;
/** Stripe's dispute fee: 15.00 USD, charged in the settlement currency. */
const DISPUTE_FEE_USD = 1500;

const EVIDENCE_FIELDS = [
  'access_activity_log', 'billing_address', 'cancellation_policy', 'cancellation_policy_disclosure', 'cancellation_rebuttal',
  'customer_communication', 'customer_email_address', 'customer_name', 'customer_purchase_ip', 'customer_signature',
  'duplicate_charge_documentation', 'duplicate_charge_explanation', 'duplicate_charge_id', 'product_description', 'receipt',
  'refund_policy', 'refund_policy_disclosure', 'refund_refusal_explanation', 'service_date', 'service_documentation',
  'shipping_address', 'shipping_carrier', 'shipping_date', 'shipping_documentation', 'shipping_tracking_number',
  'uncategorized_file', 'uncategorized_text',
] as const;

export interface FeeRule {
  percentBps: number;
  fixed: number;
}

export interface StoredPaymentMethod {
  object: Stripe.PaymentMethod;
  behaviour: CardBehaviour;
  /** Saved for off-session use with any authentication done (SetupIntent or setup_future_usage). */
  setUp: boolean;
  /** For the test cards that are disputed: the reason the cardholder gives. */
  disputeReason?: string;
}

export interface StateOptions {
  fee?: FeeRule;
  /** The platform account's settlement currency (default usd). */
  settlementCurrency?: string;
  /** Real time after which a scheduled change happens even if the stand-in clock has not reached it. */
  realTimeFallbackMs?: number;
}

/** A change Stripe makes later on its own (a dispute, a refund failing): due in stand-in time, or after real time. */
interface ScheduledChange {
  dueAt: number;
  realDueMs: number;
  apply: () => void;
}

interface BalanceTransactionDetails {
  exchangeRate?: number | null;
  reportingCategory?: string;
  description?: string | null;
  feeDescription?: string;
}

/** The currency Stripe gives a connected account by its country, for the countries this product onboards. */
const CONNECTED_ACCOUNT_CURRENCIES: Record<string, string> = {
  US: 'usd', GB: 'gbp', CA: 'cad', AU: 'aud', NZ: 'nzd', JP: 'jpy', CH: 'chf', SE: 'sek', NO: 'nok', DK: 'dkk', PL: 'pln',
  CZ: 'czk', SG: 'sgd', HK: 'hkd', MX: 'mxn', BR: 'brl', IN: 'inr', AT: 'eur', BE: 'eur', DE: 'eur', ES: 'eur', FI: 'eur',
  FR: 'eur', IE: 'eur', IT: 'eur', LU: 'eur', NL: 'eur', PT: 'eur',
};

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}

export class StripeState {
  nowSeconds = Math.floor(Date.now() / 1000);
  // Annotated, not inferred: the declaration emit cannot name Stripe's types by the paths inference finds.
  readonly customers: Map<string, Stripe.Customer> = new Map();
  readonly paymentMethods: Map<string, StoredPaymentMethod> = new Map();
  readonly setupIntents: Map<string, Stripe.SetupIntent> = new Map();
  readonly paymentIntents: Map<string, Stripe.PaymentIntent> = new Map();
  readonly charges: Map<string, Stripe.Charge> = new Map();
  readonly balanceTransactions: Map<string, Stripe.BalanceTransaction> = new Map();
  readonly refunds: Map<string, Stripe.Refund> = new Map();
  readonly accounts: Map<string, Stripe.Account> = new Map();
  readonly accountLinks: Map<string, { account: string; returnUrl: string }> = new Map();
  readonly transfers: Map<string, Stripe.Transfer> = new Map();
  readonly disputes: Map<string, Stripe.Dispute> = new Map();
  /** The exchange rate of each charge's conversion into the settlement currency (null: no conversion). */
  readonly chargeRates: Map<string, number | null> = new Map();
  readonly rates: ExchangeRates;
  readonly platformAccount: Stripe.Account;
  readonly fee: FeeRule;
  private readonly scheduled: ScheduledChange[] = [];
  private readonly realTimeFallbackMs: number;
  readonly events: Stripe.Event[] = [];
  readonly webhookEndpoints: Map<string, Stripe.WebhookEndpoint & { secret: string }> = new Map();
  onEvent: (event: Stripe.Event) => void = () => undefined;

  constructor(
    readonly baseUrl: () => string,
    options: StateOptions = {},
  ) {
    this.fee = options.fee ?? { percentBps: 290, fixed: 30 };
    this.realTimeFallbackMs = options.realTimeFallbackMs ?? 2_000;
    const settlementCurrency = parseCurrency(options.settlementCurrency ?? 'usd', 'settlementCurrency');
    this.rates = new ExchangeRates(settlementCurrency);
    this.platformAccount = {
      id: newId('acct'),
      object: 'account',
      type: 'standard',
      country: countryOf(settlementCurrency),
      email: 'platform@example.com',
      default_currency: settlementCurrency,
      charges_enabled: true,
      payouts_enabled: true,
      details_submitted: true,
      capabilities: { card_payments: 'active', transfers: 'active' },
      created: this.nowSeconds,
      metadata: {},
      business_profile: null,
    } satisfies Partial<Stripe.Account> as Stripe.Account;
  }

  get settlementCurrency(): string {
    return this.rates.settlementCurrency;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Stand-in time: changes Stripe makes later happen when the clock passes them, or after a little real time

  /** `realTime: false` for changes that only stand-in time brings (a lapsed evidence deadline). */
  schedule(afterSeconds: number, apply: () => void, options: { realTime?: boolean } = {}): void {
    this.scheduled.push({ dueAt: this.nowSeconds + afterSeconds, realDueMs: options.realTime === false ? Infinity : Date.now() + this.realTimeFallbackMs, apply });
  }

  /** Applies the changes whose real-time fallback has passed, at the stand-in's current time. */
  runDue(): void {
    const nowMs = Date.now();
    for (let next = this.nextDue((c) => c.dueAt <= this.nowSeconds || c.realDueMs <= nowMs); next; next = this.nextDue((c) => c.dueAt <= this.nowSeconds || c.realDueMs <= nowMs)) {
      next.apply();
    }
  }

  private nextDue(isDue: (change: ScheduledChange) => boolean): ScheduledChange | undefined {
    let next: ScheduledChange | undefined;
    for (const change of this.scheduled) if (isDue(change) && (!next || change.dueAt < next.dueAt)) next = change;
    if (next) this.scheduled.splice(this.scheduled.indexOf(next), 1);
    return next;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Events

  emit(type: string, object: { id?: string }): void {
    const event = {
      id: newId('evt'),
      object: 'event',
      api_version: '2026-10-28.endive',
      created: this.nowSeconds,
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: this.webhookEndpoints.size,
      request: { id: null, idempotency_key: null },
      type,
      // Stripe.Event is a union over every event type; the stand-in emits the documented subset.
    } as unknown as Stripe.Event;
    this.events.push(event);
    this.onEvent(event);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Customers and payment methods

  createCustomer(params: Params): Stripe.Customer {
    const customer = {
      id: newId('cus'),
      object: 'customer',
      created: this.nowSeconds,
      email: (params.email as string) ?? null,
      name: (params.name as string) ?? null,
      metadata: (params.metadata as Record<string, string>) ?? {},
      livemode: false,
      invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    } satisfies Partial<Stripe.Customer> as Stripe.Customer;
    this.customers.set(customer.id, customer);
    this.emit('customer.created', customer);
    return customer;
  }

  customer(id: string): Stripe.Customer {
    const customer = this.customers.get(id);
    if (!customer) throw missing('customer', id, 'customer');
    return customer;
  }

  updateCustomer(id: string, params: Params): Stripe.Customer {
    const customer = this.customer(id);
    if (params.email !== undefined) customer.email = params.email as string;
    if (params.name !== undefined) customer.name = params.name as string;
    if (params.metadata) customer.metadata = { ...customer.metadata, ...(params.metadata as Record<string, string>) };
    this.emit('customer.updated', customer);
    return customer;
  }

  /** A real PaymentMethod id, or one of Stripe's test ids, which (as on Stripe) creates a new PaymentMethod. */
  paymentMethod(idOrTestId: string, param = 'payment_method'): StoredPaymentMethod {
    const existing = this.paymentMethods.get(idOrTestId);
    if (existing) return existing;
    const card = TEST_CARDS[idOrTestId];
    if (!card) throw missing('payment_method', idOrTestId, param);
    const object = {
      id: newId('pm'),
      object: 'payment_method',
      type: 'card',
      created: this.nowSeconds,
      customer: null,
      livemode: false,
      metadata: {},
      billing_details: { address: null, email: null, name: null, phone: null, tax_id: null },
      card: {
        brand: card.brand,
        display_brand: card.brand,
        last4: card.last4,
        exp_month: 12,
        exp_year: 2034,
        funding: 'credit',
        country: 'US',
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
        generated_from: null,
        networks: { available: [card.brand], preferred: null },
        three_d_secure_usage: { supported: true },
        wallet: null,
        fingerprint: card.last4,
        regulated_status: 'unregulated',
      },
    } satisfies Partial<Stripe.PaymentMethod> as Stripe.PaymentMethod;
    const stored: StoredPaymentMethod = { object, behaviour: card.behaviour, setUp: card.behaviour === 'setup_for_off_session', ...(card.disputeReason ? { disputeReason: card.disputeReason } : {}) };
    this.paymentMethods.set(object.id, stored);
    return stored;
  }

  attach(paymentMethodId: string, customerId: string): Stripe.PaymentMethod {
    const method = this.paymentMethod(paymentMethodId);
    this.customer(customerId);
    if (method.object.customer && method.object.customer !== customerId) {
      throw invalidRequest('The payment method you provided has already been attached to a customer.', 'payment_method');
    }
    if (method.object.customer !== customerId) {
      method.object.customer = customerId;
      this.emit('payment_method.attached', method.object);
    }
    return method.object;
  }

  detach(paymentMethodId: string): Stripe.PaymentMethod {
    const method = this.paymentMethod(paymentMethodId);
    if (!method.object.customer) throw invalidRequest('The payment method is not attached to a customer.', 'payment_method');
    method.object.customer = null;
    this.emit('payment_method.detached', method.object);
    return method.object;
  }

  // -------------------------------------------------------------------------------------------------------------
  // SetupIntents

  createSetupIntent(params: Params): Stripe.SetupIntent {
    if (params.customer) this.customer(params.customer as string);
    const intent = {
      id: newId('seti'),
      object: 'setup_intent',
      created: this.nowSeconds,
      customer: (params.customer as string) ?? null,
      payment_method: null,
      payment_method_types: ['card'],
      status: 'requires_payment_method',
      usage: (params.usage as string) ?? 'off_session',
      metadata: (params.metadata as Record<string, string>) ?? {},
      next_action: null,
      last_setup_error: null,
      livemode: false,
    } satisfies Partial<Stripe.SetupIntent> as Stripe.SetupIntent;
    intent.client_secret = `${intent.id}_secret_${randomBytes(8).toString('hex')}`;
    this.setupIntents.set(intent.id, intent);
    if (params.payment_method) {
      intent.payment_method = this.paymentMethod(params.payment_method as string).object.id;
      intent.status = 'requires_confirmation';
    }
    if (params.confirm === 'true' || params.confirm === true) return this.confirmSetupIntent(intent.id, {});
    return intent;
  }

  setupIntent(id: string): Stripe.SetupIntent {
    const intent = this.setupIntents.get(id);
    if (!intent) throw missing('setup_intent', id, 'intent');
    return intent;
  }

  confirmSetupIntent(id: string, params: Params): Stripe.SetupIntent {
    const intent = this.setupIntent(id);
    if (params.payment_method) intent.payment_method = this.paymentMethod(params.payment_method as string).object.id;
    if (!intent.payment_method) throw invalidRequest('You must provide a payment_method to confirm this SetupIntent.', 'payment_method');
    if (intent.status === 'succeeded' || intent.status === 'canceled') {
      throw new StripeApiError(400, 'invalid_request_error', `This SetupIntent has a status of ${intent.status}.`, { code: 'setup_intent_unexpected_state' });
    }
    const method = this.paymentMethod(intent.payment_method as string);
    const decision = decideSetup(method.behaviour);
    if (decision.outcome === 'decline') {
      intent.status = 'requires_payment_method';
      intent.last_setup_error = { code: decision.code, decline_code: decision.declineCode, message: decision.message, type: 'card_error' } as Stripe.SetupIntent.LastSetupError;
      this.emit('setup_intent.setup_failed', intent);
      throw new StripeApiError(402, 'card_error', decision.message!, { code: decision.code!, decline_code: decision.declineCode!, setup_intent: intent });
    }
    if (decision.outcome === 'authenticate') {
      intent.status = 'requires_action';
      intent.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: `${this.baseUrl()}/_standin/setup_intents/${intent.id}/authenticate` } } satisfies Partial<Stripe.SetupIntent.NextAction> as Stripe.SetupIntent.NextAction;
      this.emit('setup_intent.requires_action', intent);
      return intent;
    }
    return this.succeedSetup(intent);
  }

  succeedSetup(intent: Stripe.SetupIntent): Stripe.SetupIntent {
    const method = this.paymentMethod(intent.payment_method as string);
    if (intent.customer) this.attach(method.object.id, intent.customer as string);
    method.setUp = true;
    intent.status = 'succeeded';
    intent.next_action = null;
    this.emit('setup_intent.succeeded', intent);
    return intent;
  }

  // -------------------------------------------------------------------------------------------------------------
  // PaymentIntents, charges and balance transactions

  createPaymentIntent(params: Params): Stripe.PaymentIntent {
    const amount = Number(params.amount);
    if (params.amount === undefined) throw invalidRequest('Missing required param: amount.', 'amount');
    const currency = parseCurrency(params.currency);
    checkAmountDigits(amount, currency);
    this.checkMinimum(amount, currency);
    if (params.customer) this.customer(params.customer as string);
    const intent = {
      id: newId('pi'),
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      capture_method: (params.capture_method as string) ?? 'automatic_async',
      confirmation_method: 'automatic',
      created: this.nowSeconds,
      currency,
      customer: (params.customer as string) ?? null,
      description: (params.description as string) ?? null,
      latest_charge: null,
      last_payment_error: null,
      livemode: false,
      metadata: (params.metadata as Record<string, string>) ?? {},
      next_action: null,
      payment_method: null,
      payment_method_types: ['card'],
      setup_future_usage: (params.setup_future_usage as string) ?? null,
      status: 'requires_payment_method',
      transfer_group: (params.transfer_group as string) ?? null,
      canceled_at: null,
      cancellation_reason: null,
    } satisfies Partial<Stripe.PaymentIntent> as Stripe.PaymentIntent;
    intent.client_secret = `${intent.id}_secret_${randomBytes(8).toString('hex')}`;
    this.paymentIntents.set(intent.id, intent);
    if (params.payment_method) {
      intent.payment_method = this.paymentMethod(params.payment_method as string).object.id;
      intent.status = 'requires_confirmation';
    }
    this.emit('payment_intent.created', intent);
    if (params.confirm === 'true' || params.confirm === true) {
      return this.confirmPaymentIntent(intent.id, { off_session: params.off_session });
    }
    return intent;
  }

  /**
   * Stripe's minimum charge (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts): its own minimum
   * in a currency its table lists, and, after conversion, the minimum in the settlement currency.
   */
  private checkMinimum(amount: number, currency: string): void {
    const own = this.rates.presentmentMinimum(currency);
    if (own !== undefined && amount < own) {
      throw invalidRequest(`Amount must be at least ${formatAmount(own, currency)}`, 'amount', 'amount_too_small');
    }
    const settled = this.rates.convert(amount, currency);
    const minimum = this.rates.settlementMinimum();
    if (settled < minimum) {
      throw invalidRequest(
        `Amount must convert to at least ${formatAmount(minimum, this.settlementCurrency)}. ${formatAmount(amount, currency)} converts to approximately ${formatAmount(settled, this.settlementCurrency)}.`,
        'amount',
        'amount_too_small',
      );
    }
  }

  paymentIntent(id: string): Stripe.PaymentIntent {
    const intent = this.paymentIntents.get(id);
    if (!intent) throw missing('payment_intent', id, 'intent');
    this.expireHold(intent);
    return intent;
  }

  /** Stripe cancels an uncaptured PaymentIntent when its charge's `capture_before` passes. */
  expireHold(intent: Stripe.PaymentIntent): void {
    if (intent.status !== 'requires_capture') return;
    const charge = this.charges.get(intent.latest_charge as string);
    const captureBefore = charge?.payment_method_details?.card?.capture_before ?? intent.created + HOLD_SECONDS;
    if (this.nowSeconds >= captureBefore) {
      intent.status = 'canceled';
      intent.cancellation_reason = 'automatic';
      intent.canceled_at = captureBefore;
      intent.amount_capturable = 0;
      this.emit('payment_intent.canceled', intent);
    }
  }

  confirmPaymentIntent(id: string, params: Params): Stripe.PaymentIntent {
    const intent = this.paymentIntent(id);
    if (params.payment_method) intent.payment_method = this.paymentMethod(params.payment_method as string).object.id;
    if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(intent.status)) {
      throw unexpectedState(`This PaymentIntent's status is ${intent.status}, so it cannot be confirmed.`, { payment_intent: intent });
    }
    if (!intent.payment_method) throw invalidRequest('You must provide a payment_method to confirm this PaymentIntent.', 'payment_method');
    const method = this.paymentMethod(intent.payment_method as string);
    const offSession = params.off_session === 'true' || params.off_session === true;
    if (offSession && (!intent.customer || method.object.customer !== intent.customer)) {
      throw invalidRequest('The provided PaymentMethod must be attached to the customer for off-session payments.', 'payment_method');
    }
    const decision = decideCharge(method.behaviour, { offSession, setUp: method.setUp });
    return this.applyDecision(intent, method, decision, offSession);
  }

  private applyDecision(intent: Stripe.PaymentIntent, method: StoredPaymentMethod, decision: ChargeDecision, offSession: boolean): Stripe.PaymentIntent {
    if (decision.outcome === 'decline') {
      intent.status = 'requires_payment_method';
      intent.last_payment_error = {
        type: 'card_error',
        code: decision.code,
        decline_code: decision.declineCode,
        message: decision.message,
        payment_method: method.object,
      } as Stripe.PaymentIntent.LastPaymentError;
      this.emit('payment_intent.payment_failed', intent);
      throw new StripeApiError(402, 'card_error', decision.message!, { code: decision.code!, decline_code: decision.declineCode!, payment_intent: intent });
    }
    if (decision.outcome === 'authenticate') {
      intent.status = 'requires_action';
      intent.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: `${this.baseUrl()}/_standin/payment_intents/${intent.id}/authenticate` } } satisfies Partial<Stripe.PaymentIntent.NextAction> as Stripe.PaymentIntent.NextAction;
      this.emit('payment_intent.requires_action', intent);
      return intent;
    }
    return this.authorize(intent, offSession);
  }

  /** The card said yes (or 3-D Secure completed): hold the money, or collect it. `offSession`: merchant-initiated. */
  authorize(intent: Stripe.PaymentIntent, offSession = false): Stripe.PaymentIntent {
    const method = this.paymentMethod(intent.payment_method as string);
    intent.next_action = null;
    intent.last_payment_error = null;
    if (intent.setup_future_usage && intent.customer) {
      this.attach(method.object.id, intent.customer as string);
      method.setUp = true;
    }
    const charge = this.createCharge(intent, method, offSession);
    intent.latest_charge = charge.id;
    if (intent.capture_method === 'manual') {
      intent.status = 'requires_capture';
      intent.amount_capturable = intent.amount;
      this.emit('payment_intent.amount_capturable_updated', intent);
      return intent;
    }
    return this.collect(intent, intent.amount);
  }

  private createCharge(intent: Stripe.PaymentIntent, method: StoredPaymentMethod, offSession: boolean): Stripe.Charge {
    const card = method.object.card!;
    const holdSeconds = offSession && card.brand === 'visa' ? VISA_MERCHANT_INITIATED_HOLD_SECONDS : HOLD_SECONDS;
    const charge = {
      id: newId('ch'),
      object: 'charge',
      amount: intent.amount,
      amount_captured: 0,
      amount_refunded: 0,
      balance_transaction: null,
      captured: false,
      created: this.nowSeconds,
      currency: intent.currency,
      customer: intent.customer,
      disputed: false,
      livemode: false,
      metadata: intent.metadata,
      paid: true,
      payment_method_details: {
        type: 'card',
        card: {
          brand: card.brand,
          last4: card.last4,
          exp_month: card.exp_month,
          exp_year: card.exp_year,
          funding: card.funding,
          country: card.country,
          fingerprint: card.fingerprint,
          network: card.brand,
          ...(intent.capture_method === 'manual' ? { capture_before: this.nowSeconds + holdSeconds } : {}),
        } satisfies Partial<Stripe.Charge.PaymentMethodDetails.Card> as Stripe.Charge.PaymentMethodDetails.Card,
      } satisfies Partial<Stripe.Charge.PaymentMethodDetails> as Stripe.Charge.PaymentMethodDetails,
      payment_intent: intent.id,
      payment_method: method.object.id,
      refunded: false,
      status: 'succeeded',
      transfer_group: intent.transfer_group,
    } satisfies Partial<Stripe.Charge> as Stripe.Charge;
    this.charges.set(charge.id, charge);
    return charge;
  }

  private collect(intent: Stripe.PaymentIntent, amount: number): Stripe.PaymentIntent {
    const charge = this.charges.get(intent.latest_charge as string)!;
    const method = this.paymentMethod(intent.payment_method as string);
    // Converted into the settlement currency at the day's rate; the fee is reckoned on what arrives.
    const exchangeRate = intent.currency === this.settlementCurrency ? null : this.rates.rate(intent.currency);
    const settled = this.rates.convert(amount, intent.currency, exchangeRate ?? 1);
    const fee = Math.round((settled * this.fee.percentBps) / 10_000) + this.fee.fixed;
    const availableOn = method.behaviour === 'available_immediately' ? this.nowSeconds : this.nowSeconds + 2 * DAY;
    const transaction = this.balanceTransaction('charge', settled, fee, this.settlementCurrency, charge.id, availableOn, { exchangeRate });
    this.chargeRates.set(charge.id, exchangeRate);
    charge.captured = true;
    charge.amount_captured = amount;
    charge.balance_transaction = transaction.id;
    intent.amount_received = amount;
    intent.amount_capturable = 0;
    intent.status = 'succeeded';
    this.emit('charge.succeeded', charge);
    this.emit('payment_intent.succeeded', intent);
    if (method.behaviour === 'disputed') this.schedule(DISPUTE_AFTER_SECONDS, () => this.openDispute(charge.id, method.disputeReason ?? 'fraudulent'));
    return intent;
  }

  /** A charge's amount (or part of it) in the settlement currency, at the rate the charge was converted at. */
  private settledAmount(charge: Stripe.Charge, amount: number): number {
    const rate = this.chargeRates.get(charge.id) ?? null;
    return rate === null ? amount : this.rates.convert(amount, charge.currency, rate);
  }

  balanceTransaction(type: string, amount: number, fee: number, currency: string, source: string, availableOn: number, details: BalanceTransactionDetails = {}): Stripe.BalanceTransaction {
    const transaction = {
      id: newId('txn'),
      object: 'balance_transaction',
      amount,
      available_on: availableOn,
      created: this.nowSeconds,
      currency,
      description: details.description ?? null,
      exchange_rate: details.exchangeRate ?? null,
      fee,
      fee_details: fee ? [{ amount: fee, currency, description: details.feeDescription ?? 'Stripe processing fees', type: 'stripe_fee', application: null }] : [],
      net: amount - fee,
      reporting_category: details.reportingCategory ?? type,
      source,
      status: availableOn <= this.nowSeconds ? 'available' : 'pending',
      type,
    } satisfies Partial<Stripe.BalanceTransaction> as Stripe.BalanceTransaction;
    // Pending until `available_on` passes on the stand-in's clock, whenever it is read (retrieved, expanded, listed).
    Object.defineProperty(transaction, 'status', { enumerable: true, get: () => (transaction.available_on <= this.nowSeconds ? 'available' : 'pending') });
    this.balanceTransactions.set(transaction.id, transaction);
    return transaction;
  }

  capturePaymentIntent(id: string, params: Params): Stripe.PaymentIntent {
    const intent = this.paymentIntent(id);
    if (intent.status !== 'requires_capture') {
      throw unexpectedState(`This PaymentIntent could not be captured because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`, { payment_intent: intent });
    }
    const amount = params.amount_to_capture === undefined ? intent.amount : Number(params.amount_to_capture);
    if (!Number.isInteger(amount) || amount <= 0 || amount > intent.amount) {
      throw invalidRequest('amount_to_capture must be a positive integer no larger than the amount capturable.', 'amount_to_capture');
    }
    return this.collect(intent, amount);
  }

  cancelPaymentIntent(id: string, params: Params): Stripe.PaymentIntent {
    const intent = this.paymentIntent(id);
    if (intent.status === 'succeeded' || intent.status === 'canceled') {
      throw unexpectedState(`You cannot cancel this PaymentIntent because it has a status of ${intent.status}.`, { payment_intent: intent });
    }
    intent.status = 'canceled';
    intent.cancellation_reason = (params.cancellation_reason as Stripe.PaymentIntent.CancellationReason) ?? 'requested_by_customer';
    intent.canceled_at = this.nowSeconds;
    intent.amount_capturable = 0;
    this.emit('payment_intent.canceled', intent);
    return intent;
  }

  /** Completes 3-D Secure for an intent waiting on it (what Stripe.js does in the browser). */
  authenticate(kind: 'payment_intents' | 'setup_intents', id: string, succeed: boolean): unknown {
    if (kind === 'setup_intents') {
      const intent = this.setupIntent(id);
      if (intent.status !== 'requires_action') throw invalidRequest('This SetupIntent does not require action.');
      if (!succeed) {
        intent.status = 'requires_payment_method';
        this.emit('setup_intent.setup_failed', intent);
        return intent;
      }
      return this.succeedSetup(intent);
    }
    const intent = this.paymentIntent(id);
    if (intent.status !== 'requires_action') throw unexpectedState('This PaymentIntent does not require action.');
    if (!succeed) {
      intent.status = 'requires_payment_method';
      intent.last_payment_error = { type: 'card_error', code: 'payment_intent_authentication_failure', message: 'Authentication failed.' } as Stripe.PaymentIntent.LastPaymentError;
      this.emit('payment_intent.payment_failed', intent);
      return intent;
    }
    this.paymentMethod(intent.payment_method as string).setUp ||= Boolean(intent.setup_future_usage);
    return this.authorize(intent, false);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Refunds

  createRefund(params: Params): Stripe.Refund {
    let charge: Stripe.Charge | undefined;
    if (params.payment_intent) {
      const intent = this.paymentIntent(params.payment_intent as string);
      charge = intent.latest_charge ? this.charges.get(intent.latest_charge as string) : undefined;
      if (!charge || intent.status !== 'succeeded') throw invalidRequest('This PaymentIntent does not have a successful charge to refund.', 'payment_intent');
    } else if (params.charge) {
      charge = this.charges.get(params.charge as string);
      if (!charge) throw missing('charge', params.charge as string, 'charge');
    } else {
      throw invalidRequest('One of the following params should be provided for this request: payment_intent or charge.');
    }
    if ([...this.disputes.values()].some((dispute) => dispute.charge === charge.id && !dispute.is_charge_refundable)) {
      throw invalidRequest(`Charge ${charge.id} has been charged back; cannot issue a refund.`, undefined, 'charge_disputed');
    }
    const refundable = charge.amount_captured - charge.amount_refunded;
    if (refundable <= 0) throw invalidRequest(`Charge ${charge.id} has already been refunded.`, undefined, 'charge_already_refunded');
    const amount = params.amount === undefined ? refundable : Number(params.amount);
    if (!Number.isInteger(amount) || amount <= 0) throw invalidRequest('Invalid positive integer', 'amount');
    if (amount > refundable) {
      throw invalidRequest(`Refund amount (${amount}) is greater than unrefunded amount on charge (${refundable})`, 'amount', 'amount_too_large');
    }
    const exchangeRate = this.chargeRates.get(charge.id) ?? null;
    const transaction = this.balanceTransaction('refund', -this.settledAmount(charge, amount), 0, this.settlementCurrency, charge.id, this.nowSeconds, { exchangeRate });
    const refund = {
      id: newId('re'),
      object: 'refund',
      amount,
      balance_transaction: transaction.id,
      charge: charge.id,
      created: this.nowSeconds,
      currency: charge.currency,
      metadata: (params.metadata as Record<string, string>) ?? {},
      payment_intent: charge.payment_intent,
      reason: (params.reason as string) ?? null,
      status: 'succeeded',
    } satisfies Partial<Stripe.Refund> as Stripe.Refund;
    this.refunds.set(refund.id, refund);
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded >= charge.amount_captured;
    this.emit('refund.created', refund);
    this.emit('charge.refunded', charge);
    const method = this.paymentMethods.get(charge.payment_method as string);
    if (method?.behaviour === 'refund_fails') this.schedule(REFUND_FAILS_AFTER_SECONDS, () => this.failRefund(refund.id));
    return refund;
  }

  /** The card network returned the refund (https://docs.stripe.com/refunds#failed-refunds): the money comes back. */
  private failRefund(id: string): void {
    const refund = this.refunds.get(id)!;
    if (refund.status !== 'succeeded' && refund.status !== 'pending') return;
    const charge = this.charges.get(refund.charge as string)!;
    const original = this.balanceTransactions.get(refund.balance_transaction as string)!;
    const failure = this.balanceTransaction('refund_failure', -original.amount, 0, original.currency, refund.id, this.nowSeconds, { exchangeRate: original.exchange_rate });
    refund.status = 'failed';
    refund.failure_reason = 'expired_or_canceled_card';
    refund.failure_balance_transaction = failure.id;
    charge.amount_refunded -= refund.amount;
    charge.refunded = charge.amount_refunded >= charge.amount_captured;
    this.emit('refund.updated', refund);
    this.emit('charge.refund.updated', refund);
    this.emit('refund.failed', refund);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Disputes (https://docs.stripe.com/disputes, https://docs.stripe.com/testing#disputes)

  /** The cardholder disputes the charge: its amount and Stripe's 15.00 USD fee leave the balance at once. */
  private openDispute(chargeId: string, reason: string): void {
    const charge = this.charges.get(chargeId)!;
    const method = this.paymentMethods.get(charge.payment_method as string)!;
    const id = newId('dp');
    const amount = charge.amount_captured;
    const fee = this.rates.convertFromUsd(DISPUTE_FEE_USD);
    const withdrawal = this.balanceTransaction('adjustment', -this.settledAmount(charge, amount), fee, this.settlementCurrency, id, this.nowSeconds, {
      exchangeRate: this.chargeRates.get(charge.id) ?? null,
      reportingCategory: 'dispute',
      description: `Chargeback withdrawal for ${charge.id}`,
      feeDescription: 'Dispute fee',
    });
    const evidence = Object.fromEntries(EVIDENCE_FIELDS.map((field) => [field, null]));
    const dispute = {
      id,
      object: 'dispute',
      amount,
      balance_transactions: [withdrawal],
      charge: charge.id,
      created: this.nowSeconds,
      currency: charge.currency,
      enhanced_eligibility_types: [] as Stripe.Dispute.EnhancedEligibilityType[],
      evidence: { ...evidence, enhanced_evidence: {} } as unknown as Stripe.Dispute.Evidence,
      evidence_details: {
        due_by: this.nowSeconds + EVIDENCE_DUE_SECONDS,
        enhanced_eligibility: {},
        has_evidence: false,
        past_due: false,
        submission_count: 0,
      } satisfies Partial<Stripe.Dispute.EvidenceDetails> as unknown as Stripe.Dispute.EvidenceDetails,
      intended_submission_method: null,
      is_charge_refundable: false,
      livemode: false,
      metadata: {},
      network_reason_code: reason === 'fraudulent' ? '10.4' : '13.1',
      payment_intent: charge.payment_intent,
      payment_method_details: { type: 'card', card: { brand: method.object.card!.brand, case_type: 'chargeback', network: method.object.card!.brand, network_reason_code: reason === 'fraudulent' ? '10.4' : '13.1' } },
      reason,
      status: 'needs_response',
    } satisfies Partial<Stripe.Dispute> as Stripe.Dispute;
    this.disputes.set(id, dispute);
    charge.disputed = true;
    this.emit('charge.dispute.created', dispute);
    this.emit('charge.dispute.funds_withdrawn', dispute);
    // No response by the deadline: the dispute is lost.
    this.schedule(
      EVIDENCE_DUE_SECONDS,
      () => {
        if (dispute.status !== 'needs_response') return;
        dispute.evidence_details.past_due = true;
        this.closeDispute(dispute, 'lost');
      },
      { realTime: false },
    );
  }

  dispute(id: string): Stripe.Dispute {
    const dispute = this.disputes.get(id);
    if (!dispute) throw missing('dispute', id, 'dispute');
    return dispute;
  }

  /**
   * Evidence is staged, and submitted unless `submit` is false. In test mode the text `winning_evidence` wins the
   * dispute and `losing_evidence` loses it, some time after submission.
   */
  updateDispute(id: string, params: Params): Stripe.Dispute {
    const dispute = this.dispute(id);
    const evidence = params.evidence as Record<string, unknown> | undefined;
    if (params.metadata) dispute.metadata = { ...dispute.metadata, ...(params.metadata as Record<string, string>) };
    const submit = params.submit === undefined ? evidence !== undefined : params.submit === true || params.submit === 'true';
    if (evidence !== undefined || submit) {
      if (dispute.status !== 'needs_response' && dispute.status !== 'warning_needs_response') {
        throw invalidRequest(`This dispute has a status of ${dispute.status}: evidence can only be changed or submitted while it needs a response.`, 'evidence');
      }
    }
    if (evidence !== undefined) {
      if (typeof evidence !== 'object' || evidence === null) throw invalidRequest('Invalid hash', 'evidence');
      for (const [field, value] of Object.entries(evidence)) {
        if (!(EVIDENCE_FIELDS as readonly string[]).includes(field)) throw invalidRequest(`Received unknown parameter: evidence[${field}]`, `evidence[${field}]`);
        (dispute.evidence as unknown as Record<string, unknown>)[field] = value === '' ? null : value;
      }
      dispute.evidence_details.has_evidence = EVIDENCE_FIELDS.some((field) => dispute.evidence[field] !== null);
    }
    if (submit) {
      dispute.status = dispute.status === 'warning_needs_response' ? 'warning_under_review' : 'under_review';
      dispute.evidence_details.submission_count += 1;
      const text = dispute.evidence.uncategorized_text;
      const outcome = text === 'winning_evidence' ? 'won' : text === 'losing_evidence' ? 'lost' : undefined;
      if (outcome) this.schedule(DISPUTE_DECIDED_AFTER_SECONDS, () => dispute.status === 'under_review' && this.closeDispute(dispute, outcome));
    }
    this.emit('charge.dispute.updated', dispute);
    return dispute;
  }

  /** Accepting the dispute: closed as lost at once; the withdrawn funds and the fee stay withdrawn. */
  acceptDispute(id: string): Stripe.Dispute {
    const dispute = this.dispute(id);
    if (dispute.status === 'warning_needs_response') {
      dispute.status = 'warning_closed';
      this.emit('charge.dispute.closed', dispute);
      return dispute;
    }
    if (dispute.status !== 'needs_response') throw invalidRequest(`This dispute has a status of ${dispute.status} and can no longer be closed.`);
    this.closeDispute(dispute, 'lost');
    return dispute;
  }

  private closeDispute(dispute: Stripe.Dispute, outcome: 'won' | 'lost'): void {
    dispute.status = outcome;
    if (outcome === 'won') {
      // The disputed amount comes back; the dispute fee does not.
      const charge = this.charges.get(dispute.charge as string)!;
      dispute.balance_transactions.push(
        this.balanceTransaction('adjustment', this.settledAmount(charge, dispute.amount), 0, this.settlementCurrency, dispute.id, this.nowSeconds, {
          exchangeRate: this.chargeRates.get(charge.id) ?? null,
          reportingCategory: 'dispute_reversal',
          description: `Chargeback reversal for ${charge.id}`,
        }),
      );
      this.emit('charge.dispute.funds_reinstated', dispute);
    }
    this.emit('charge.dispute.closed', dispute);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Connect

  createAccount(params: Params): Stripe.Account {
    const account = {
      id: newId('acct'),
      object: 'account',
      type: (params.type as string) ?? 'express',
      country: (params.country as string) ?? 'US',
      email: (params.email as string) ?? null,
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      capabilities: { transfers: 'inactive', card_payments: 'inactive' },
      created: this.nowSeconds,
      metadata: (params.metadata as Record<string, string>) ?? {},
      default_currency: (params.default_currency as string | undefined)?.toLowerCase() ?? CONNECTED_ACCOUNT_CURRENCIES[String(params.country ?? 'US').toUpperCase()] ?? 'usd',
    } satisfies Partial<Stripe.Account> as Stripe.Account;
    this.accounts.set(account.id, account);
    return account;
  }

  account(id: string): Stripe.Account {
    const account = this.accounts.get(id);
    if (!account) throw missing('account', id, 'account');
    return account;
  }

  createAccountLink(params: Params): Stripe.AccountLink {
    this.account(params.account as string);
    const token = randomBytes(12).toString('hex');
    this.accountLinks.set(token, { account: params.account as string, returnUrl: (params.return_url as string) ?? '' });
    return {
      object: 'account_link',
      created: this.nowSeconds,
      expires_at: this.nowSeconds + 300,
      url: `${this.baseUrl()}/_standin/onboarding/${token}`,
    } as Stripe.AccountLink;
  }

  /** Following an account link completes onboarding in the stand-in, as a creator finishing Stripe's form would. */
  completeOnboarding(token: string): { returnUrl: string } {
    const link = this.accountLinks.get(token);
    if (!link) throw missing('account_link', token);
    const account = this.account(link.account);
    account.details_submitted = true;
    account.charges_enabled = true;
    account.payouts_enabled = true;
    account.capabilities = { transfers: 'active', card_payments: 'active' } as Stripe.Account.Capabilities;
    this.emit('account.updated', account);
    return { returnUrl: link.returnUrl };
  }

  balance(): Stripe.Balance {
    // The settlement currency is always listed, at zero before the first charge, as Stripe lists it.
    const available = new Map<string, number>([[this.settlementCurrency, 0]]);
    const pending = new Map<string, number>([[this.settlementCurrency, 0]]);
    for (const transaction of this.balanceTransactions.values()) {
      const bucket = transaction.status === 'available' ? available : pending;
      bucket.set(transaction.currency, (bucket.get(transaction.currency) ?? 0) + transaction.net);
    }
    const list = (bucket: Map<string, number>) => [...bucket].map(([currency, amount]) => ({ amount, currency, source_types: { card: amount } }));
    return { object: 'balance', available: list(available), pending: list(pending), livemode: false } satisfies Partial<Stripe.Balance> as Stripe.Balance;
  }

  /**
   * Transfers draw on the platform's balance in the transfer's currency (https://docs.stripe.com/connect/currencies):
   * the balance holds only the settlement currency, so a transfer in any other currency finds no funds.
   */
  createTransfer(params: Params): Stripe.Transfer {
    const amount = Number(params.amount);
    const currency = parseCurrency(params.currency);
    if (!Number.isInteger(amount) || amount <= 0) throw invalidRequest('Invalid positive integer', 'amount');
    const destination = this.account(params.destination as string);
    if (destination.capabilities?.transfers !== 'active') {
      throw invalidRequest(
        'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        'destination',
        'insufficient_capabilities_for_transfer',
      );
    }
    const available = this.balance().available.find((funds) => funds.currency === currency)?.amount ?? 0;
    if (available < amount) {
      throw invalidRequest('You have insufficient available funds in your Stripe account.', undefined, 'balance_insufficient');
    }
    const transfer = {
      id: newId('tr'),
      object: 'transfer',
      amount,
      amount_reversed: 0,
      created: this.nowSeconds,
      currency,
      destination: destination.id,
      livemode: false,
      metadata: (params.metadata as Record<string, string>) ?? {},
      reversals: { object: 'list', data: [], has_more: false, url: '' },
      reversed: false,
      transfer_group: (params.transfer_group as string) ?? null,
      balance_transaction: '',
      description: null,
      source_transaction: null,
    } satisfies Partial<Stripe.Transfer> as Stripe.Transfer;
    transfer.balance_transaction = this.balanceTransaction('transfer', -amount, 0, currency, transfer.id, this.nowSeconds).id;
    this.transfers.set(transfer.id, transfer);
    this.emit('transfer.created', transfer);
    return transfer;
  }

  transfer(id: string): Stripe.Transfer {
    const transfer = this.transfers.get(id);
    if (!transfer) throw missing('transfer', id, 'transfer');
    return transfer;
  }

  createTransferReversal(transferId: string, params: Params): Stripe.TransferReversal {
    const transfer = this.transfer(transferId);
    const remaining = transfer.amount - transfer.amount_reversed;
    const amount = params.amount === undefined ? remaining : Number(params.amount);
    if (!Number.isInteger(amount) || amount <= 0 || amount > remaining) {
      throw invalidRequest(`You cannot reverse more than the remaining ${remaining} of this transfer.`, 'amount');
    }
    const reversal = {
      id: newId('trr'),
      object: 'transfer_reversal',
      amount,
      created: this.nowSeconds,
      currency: transfer.currency,
      metadata: (params.metadata as Record<string, string>) ?? {},
      transfer: transfer.id,
    } satisfies Partial<Stripe.TransferReversal> as Stripe.TransferReversal;
    reversal.balance_transaction = this.balanceTransaction('transfer_refund', amount, 0, transfer.currency, reversal.id, this.nowSeconds).id;
    transfer.amount_reversed += amount;
    transfer.reversed = transfer.amount_reversed >= transfer.amount;
    transfer.reversals.data.unshift(reversal);
    this.emit('transfer.reversed', transfer);
    return reversal;
  }

  /**
   * Moves stand-in time. Scheduled changes happen in order, each at its own due time (so their objects and events
   * carry it); holds that lapse are cancelled as Stripe would.
   */
  advance(seconds: number): void {
    const target = this.nowSeconds + Math.max(0, Math.floor(seconds));
    for (let next = this.nextDue((c) => c.dueAt <= target); next; next = this.nextDue((c) => c.dueAt <= target)) {
      this.nowSeconds = Math.max(this.nowSeconds, next.dueAt);
      next.apply();
    }
    this.nowSeconds = target;
    for (const intent of this.paymentIntents.values()) this.expireHold(intent);
  }
}
