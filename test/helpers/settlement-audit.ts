/**
 * Proof of exactly-once settlement for the fault drills, from three witnesses that do not share a code path: the
 * Stripe stand-in's request log (which requests Stripe actually applied, as opposed to replayed from an
 * idempotency key), Stripe's own objects (PaymentIntents, charges, transfers), and our ledger.
 */
import type Stripe from 'stripe';
import { type Db } from '../../db/database';
import { type LoggedRequest, type RunningStripeStandin } from '@crowdfund/stripe-standin';

export interface PledgeAudit {
  pledgeId: string;
  status: string;
  amount: number;
  /** Captures of the pledge's holds that Stripe carried out (answered 200 or not), replays excluded. */
  appliedCaptures: number;
  /** Off-session charges of the saved card that Stripe carried out, replays excluded. */
  appliedCharges: number;
  /** Stripe's objects: the pledge's PaymentIntents that collected money, and what their charges collected. */
  succeededIntents: number;
  collected: number;
  stripeFees: number;
  /** Our ledger: capture entries and their total, processing-fee total. */
  ledgerCaptures: number;
  ledgerCaptured: number;
  ledgerFees: number;
}

const applied = (request: LoggedRequest) => request.method === 'POST' && request.status === 200 && !request.replayed;

export async function auditPledges(db: Db, standin: RunningStripeStandin, campaignId: string): Promise<PledgeAudit[]> {
  const pledges = await db.selectFrom('pledges').select(['id', 'status', 'amount']).where('campaign_id', '=', campaignId).orderBy('id').execute();
  const ledger = await db
    .selectFrom('ledger_entries')
    .select(['pledge_id', 'kind', 'amount'])
    .where('campaign_id', '=', campaignId)
    .where('pledge_id', 'is not', null)
    .execute();
  const intents = [...standin.state.paymentIntents.values()];
  return pledges.map((pledge) => {
    const own = intents.filter((intent) => intent.metadata?.pledge_id === pledge.id);
    const capturePaths = new Set(own.map((intent) => `/v1/payment_intents/${intent.id}/capture`));
    const charges = own
      .map((intent) => (intent.latest_charge ? standin.state.charges.get(intent.latest_charge as string) : undefined))
      .filter((charge): charge is Stripe.Charge => charge !== undefined && charge.captured);
    const entries = ledger.filter((entry) => entry.pledge_id === pledge.id);
    return {
      pledgeId: pledge.id,
      status: pledge.status,
      amount: pledge.amount,
      appliedCaptures: standin.requests.filter((r) => applied(r) && capturePaths.has(r.path)).length,
      appliedCharges: standin.requests.filter((r) => applied(r) && r.path === '/v1/payment_intents' && r.idempotencyKey?.startsWith(`pledge-${pledge.id}-charge-`)).length,
      succeededIntents: own.filter((intent) => intent.status === 'succeeded').length,
      collected: charges.reduce((sum, charge) => sum + charge.amount_captured, 0),
      stripeFees: charges.reduce((sum, charge) => sum + (standin.state.balanceTransactions.get(charge.balance_transaction as string)?.fee ?? 0), 0),
      ledgerCaptures: entries.filter((entry) => entry.kind === 'capture').length,
      ledgerCaptured: entries.filter((entry) => entry.kind === 'capture').reduce((sum, entry) => sum + entry.amount, 0),
      ledgerFees: entries.filter((entry) => entry.kind === 'processing_fee').reduce((sum, entry) => sum + entry.amount, 0),
    };
  });
}

/** The shape a pledge collected exactly once has: one money movement on Stripe, one object, one ledger entry. */
export function capturedOnce(audit: PledgeAudit) {
  return {
    pledgeId: audit.pledgeId,
    status: 'captured',
    moneyMovements: 1,
    succeededIntents: 1,
    collected: audit.amount,
    ledgerCaptures: 1,
    ledgerCaptured: audit.amount,
    ledgerFees: audit.stripeFees,
  };
}

/** The shape a pledge that moved no money has (a released hold, a dropped pledge). */
export function collectedNothing(audit: PledgeAudit, status: string) {
  return { pledgeId: audit.pledgeId, status, moneyMovements: 0, succeededIntents: 0, collected: 0, ledgerCaptures: 0, ledgerCaptured: 0, ledgerFees: 0 };
}

/** What `capturedOnce` and `collectedNothing` are compared with. */
export function observed(audit: PledgeAudit) {
  return {
    pledgeId: audit.pledgeId,
    status: audit.status,
    moneyMovements: audit.appliedCaptures + audit.appliedCharges,
    succeededIntents: audit.succeededIntents,
    collected: audit.collected,
    ledgerCaptures: audit.ledgerCaptures,
    ledgerCaptured: audit.ledgerCaptured,
    ledgerFees: audit.ledgerFees,
  };
}

export interface PayoutAudit {
  /** Stripe's transfers in the campaign's transfer group. */
  transfers: Stripe.Transfer[];
  /** Transfer requests for the campaign that Stripe carried out, replays excluded. */
  appliedTransferRequests: number;
  ledgerTransfers: number;
  ledgerTransferred: number;
}

export async function auditPayout(db: Db, standin: RunningStripeStandin, campaignId: string): Promise<PayoutAudit> {
  const entries = await db.selectFrom('ledger_entries').select(['amount']).where('campaign_id', '=', campaignId).where('kind', '=', 'transfer').execute();
  return {
    transfers: [...standin.state.transfers.values()].filter((transfer) => transfer.transfer_group === campaignId),
    appliedTransferRequests: standin.requests.filter((r) => applied(r) && r.path === '/v1/transfers' && r.idempotencyKey?.startsWith(`payout-${campaignId}-v`)).length,
    ledgerTransfers: entries.length,
    ledgerTransferred: entries.reduce((sum, entry) => sum + entry.amount, 0),
  };
}

/** Stripe's fee on a card charge in the stand-in (2.9% + 30), rounded as Stripe rounds it. */
export const standinFee = (amount: number) => Math.round((amount * 290) / 10_000) + 30;

/** The platform's commission written out: basis points of the net collected, rounded half up once, on the total. */
export const expectedCommission = (netCollected: number, platformFeeBps = 600) => Math.floor((netCollected * platformFeeBps + 5_000) / 10_000);

/**
 * What a funded campaign of pledges of these amounts collects, pays in fees and pays out: worked out from the pricing
 * rule and the commission rule apart from the platform's own payout arithmetic (`computePayout`), which it checks.
 */
export function expectedSettlement(amounts: number[], platformFeeBps = 600, refunded = 0) {
  const captured = amounts.reduce((sum, amount) => sum + amount, 0);
  const fees = amounts.reduce((sum, amount) => sum + standinFee(amount), 0);
  const commission = expectedCommission(captured - refunded, platformFeeBps);
  return { captured, fees, commission, transfer: captured - refunded - commission - fees };
}
