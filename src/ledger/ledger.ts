/**
 * The append-only record of every money movement. Each entry names the Stripe object that moved the money, and
 * (kind, Stripe object) is unique, so a retried write records nothing twice. Written in the same transaction as
 * the pledge, refund or payout change it accounts for.
 *
 * Two currencies (architecture.md §9): a backer pays in the campaign's (presentment) currency, and Stripe converts
 * the charge into the platform's settlement currency. Every entry records both sides:
 * - captures and refunds: `amount` in the campaign's currency (what people see), and the settlement amount and
 *   exchange rate from the charge's or refund's balance transaction (what the platform holds);
 * - movements Stripe makes in the settlement currency only (processing fees, commission and its reversals,
 *   transfers and their reversals): `amount` and `currency` are the settlement figures, and the two sides are equal.
 * So all payout arithmetic reads the settlement view, and only captures and refunds have a presentment view.
 */
import type Stripe from 'stripe';
import { type Db, type Tx } from '../../db/database';
import { type LedgerKind } from '../../db/schema';

export interface LedgerMovement {
  campaignId: string;
  pledgeId?: string | null;
  kind: LedgerKind;
  /** Presentment side for captures and refunds (the campaign's currency); the settlement figure for every other kind. */
  amount: number;
  currency: string;
  /** What moved in the platform's settlement currency, from the balance transaction; absent: not converted (= amount). */
  settlementAmount?: number;
  settlementCurrency?: string;
  /** The balance transaction's `exchange_rate` (settlement major units per presentment major unit); absent/null: none. */
  exchangeRate?: number | null;
  stripeObjectId: string;
  /** Captures and their fees: when Stripe makes the charge's funds available (`balance_transaction.available_on`). */
  availableOn?: Date | null;
}

/** The settlement side of a movement, from its balance transaction (a refund's is negative: what left the balance). */
export function settlementOf(balance: Pick<Stripe.BalanceTransaction, 'amount' | 'currency' | 'exchange_rate'>): Pick<LedgerMovement, 'settlementAmount' | 'settlementCurrency' | 'exchangeRate'> {
  return { settlementAmount: Math.abs(balance.amount), settlementCurrency: balance.currency.toUpperCase(), exchangeRate: balance.exchange_rate };
}

/** A movement before it is placed in a campaign's books (the caller adds the campaign and pledge). */
export type ChargeMovement = Omit<LedgerMovement, 'campaignId' | 'pledgeId'>;

/** A captured charge's two entries, from its balance transaction: the capture (both sides) and Stripe's fee (settlement only). */
export function captureMovements(charge: { chargeId: string; amount: number; currency: string; balance: Stripe.BalanceTransaction }): ChargeMovement[] {
  const { balance } = charge;
  const availableOn = fundsAvailableOn(balance);
  return [
    { kind: 'capture', amount: charge.amount, currency: charge.currency, ...settlementOf(balance), stripeObjectId: charge.chargeId, availableOn },
    { kind: 'processing_fee', amount: balance.fee, currency: balance.currency.toUpperCase(), stripeObjectId: balance.id, availableOn },
  ];
}

export async function recordLedgerEntries(trx: Db | Tx, movements: LedgerMovement[]): Promise<void> {
  const rows = movements
    .filter((movement) => movement.amount > 0 || (movement.settlementAmount ?? 0) > 0)
    .map((movement) => ({
      campaign_id: movement.campaignId,
      pledge_id: movement.pledgeId ?? null,
      kind: movement.kind,
      amount: movement.amount,
      currency: movement.currency,
      settlement_amount: movement.settlementAmount ?? movement.amount,
      settlement_currency: movement.settlementCurrency ?? movement.currency,
      // A rate of 1 between two different codes is still a conversion; only "no conversion" is null.
      exchange_rate: movement.exchangeRate ?? null,
      stripe_object_id: movement.stripeObjectId,
      available_on: movement.availableOn ?? null,
    }));
  if (rows.length === 0) return;
  await trx
    .insertInto('ledger_entries')
    .values(rows)
    .onConflict((oc) => oc.columns(['kind', 'stripe_object_id']).doNothing())
    .execute();
}

export type LedgerTotals = Record<LedgerKind, number>;

/**
 * Which side of the entries to add up: `settlement`, the platform's currency, in which every kind is reckoned (all
 * payout arithmetic and the reconciliation invariant); `presentment`, the campaign's currency, meaningful for
 * captures and refunds only (the other kinds have no presentment side and show their settlement figure).
 */
export type LedgerView = 'presentment' | 'settlement';

/** Sum of each kind of movement for a campaign, in minor units of the `view`'s currency. */
export async function ledgerTotals(db: Db | Tx, campaignId: string, view: LedgerView = 'presentment'): Promise<LedgerTotals> {
  const column = view === 'settlement' ? 'settlement_amount' : 'amount';
  const rows = await db
    .selectFrom('ledger_entries')
    .select(['kind', (eb) => eb.fn.sum<number>(column).as('total')])
    .where('campaign_id', '=', campaignId)
    .groupBy('kind')
    .execute();
  const totals: LedgerTotals = {
    capture: 0,
    refund: 0,
    processing_fee: 0,
    platform_fee: 0,
    platform_fee_reversal: 0,
    transfer: 0,
    transfer_reversal: 0,
    refund_failed: 0,
    dispute_withdrawal: 0,
    dispute_fee: 0,
    dispute_reinstatement: 0,
    reserve_held: 0,
    reserve_drawn: 0,
    reserve_released: 0,
  };
  for (const row of rows) totals[row.kind] = Number(row.total);
  return totals;
}

/** When a charge's funds become available, from its balance transaction (Stripe gives unix seconds). */
export const fundsAvailableOn = (balanceTransaction: { available_on: number }): Date => new Date(balanceTransaction.available_on * 1000);
