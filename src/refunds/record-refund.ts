/**
 * A refund Stripe has made, booked against its pledge: the ledger's `refund` entry and the pledge's refunded amount
 * (the pledge becomes `refunded` once all it collected has gone back). Called inside the transaction that claims the
 * refund row, so a retry that finds the row claimed books nothing twice; the platform's own refunds and refunds made
 * in Stripe's dashboard both go through here.
 */
import { sql } from 'kysely';
import { type Tx } from '../../db/database';
import { type LedgerMovement, recordLedgerEntries } from '../ledger/ledger';

export interface MadeRefund {
  campaignId: string;
  pledgeId: string;
  /** The pledge's (presentment) currency and amount: what the backer gets back. */
  currency: string;
  amount: number;
  stripeRefundId: string;
  /** What left the platform's balance, from the refund's balance transaction (`settlementOf`); absent: not converted. */
  settlement?: Pick<LedgerMovement, 'settlementAmount' | 'settlementCurrency' | 'exchangeRate'>;
}

export async function recordRefundOnPledge(trx: Tx, refund: MadeRefund): Promise<void> {
  await recordLedgerEntries(trx, [
    { campaignId: refund.campaignId, pledgeId: refund.pledgeId, kind: 'refund', amount: refund.amount, currency: refund.currency, ...refund.settlement, stripeObjectId: refund.stripeRefundId },
  ]);
  await trx
    .updateTable('pledges')
    .set({
      amount_refunded: sql`amount_refunded + ${refund.amount}`,
      status: sql`case when amount_refunded + ${refund.amount} >= amount_captured then 'refunded' else status end`,
      refunded_at: new Date(),
      updated_at: new Date(),
    })
    .where('id', '=', refund.pledgeId)
    .execute();
}
