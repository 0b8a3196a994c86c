/**
 * The append-only record of every money movement. Each entry names the Stripe object that moved the money, and
 * (kind, Stripe object) is unique, so a retried write records nothing twice. Written in the same transaction as
 * the pledge, refund or payout change it accounts for.
 */
import { type Db, type Tx } from '../../db/database';
import { type LedgerKind } from '../../db/schema';

export interface LedgerMovement {
  campaignId: string;
  pledgeId?: string | null;
  kind: LedgerKind;
  amount: number;
  currency: string;
  stripeObjectId: string;
  /** Captures and their fees: when Stripe makes the charge's funds available (`balance_transaction.available_on`). */
  availableOn?: Date | null;
}

export async function recordLedgerEntries(trx: Db | Tx, movements: LedgerMovement[]): Promise<void> {
  const rows = movements
    .filter((movement) => movement.amount > 0)
    .map((movement) => ({
      campaign_id: movement.campaignId,
      pledge_id: movement.pledgeId ?? null,
      kind: movement.kind,
      amount: movement.amount,
      currency: movement.currency,
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

/** Sum of each kind of movement for a campaign, in minor units. */
export async function ledgerTotals(db: Db | Tx, campaignId: string): Promise<LedgerTotals> {
  const rows = await db
    .selectFrom('ledger_entries')
    .select(['kind', (eb) => eb.fn.sum<number>('amount').as('total')])
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
  };
  for (const row of rows) totals[row.kind] = Number(row.total);
  return totals;
}

/** When a charge's funds become available, from its balance transaction (Stripe gives unix seconds). */
export const fundsAvailableOn = (balanceTransaction: { available_on: number }): Date => new Date(balanceTransaction.available_on * 1000);
