/**
 * Disputes in a campaign's reconciliation: the ledger's dispute entries equal the dispute rows and Stripe's balance
 * transactions of each dispute, and the invariant gains their terms:
 *
 *   captured - refunded - (withdrawn - reinstated + dispute fees) = transfers net + commission net + fees + held
 *
 * where `held` after the payout is zero, less what the platform fronts or bears (open disputes, disputes it bears,
 * fees of disputes won), plus what a creator owes back by a reversal not made yet.
 */
import type Stripe from 'stripe';
import { sql } from 'kysely';
import { type Db } from '../../db/database';
import { type LedgerTotals } from '../ledger/ledger';
import { type ReconciliationCheck } from '../reconciliation/reconcile';

type Check = (name: string, expected: number, actual: number) => ReconciliationCheck;

export interface DisputeReconciliation {
  checks: ReconciliationCheck[];
  /** What disputes took from the money collected, net (settlement): withdrawn - reinstated + fees. */
  disputed: number;
  /** Reversals of the payout's transfer made to recover disputes lost after it (settlement). */
  reversed: number;
  /** Reversals decided but not made yet (settlement). */
  owedBack: number;
  /** The creators' shares drawn from the payout's reserve (settlement). */
  reserveDrawn: number;
}

export async function reconcileDisputes(
  db: Db,
  campaignId: string,
  books: { shown: LedgerTotals; ledger: LedgerTotals; presented: Check; settled: Check },
  stripe?: Stripe,
): Promise<DisputeReconciliation> {
  const { shown, ledger, presented, settled } = books;
  const rows = await db.selectFrom('disputes').select(['stripe_dispute_id', 'status']).where('campaign_id', '=', campaignId).execute();
  const totals = await db
    .selectFrom('disputes')
    .select([
      sql<number>`coalesce(sum(amount) filter (where settlement_amount > 0), 0)`.as('amount_withdrawn'),
      sql<number>`coalesce(sum(settlement_amount), 0)`.as('withdrawn'),
      sql<number>`coalesce(sum(fee), 0)`.as('fees'),
      sql<number>`coalesce(sum(settlement_amount) filter (where status = 'won'), 0)`.as('reinstated'),
      sql<number>`coalesce(sum(recovery_amount) filter (where recovery = 'reversed'), 0)`.as('reversed'),
      sql<number>`coalesce(sum(recovery_amount) filter (where recovery = 'pending'), 0)`.as('owed_back'),
      sql<number>`coalesce(sum(reserve_drawn), 0)`.as('reserve_drawn'),
    ])
    .where('campaign_id', '=', campaignId)
    .executeTakeFirstOrThrow();
  const checks = [
    presented('ledger dispute withdrawals = disputed amounts withdrawn', Number(totals.amount_withdrawn), shown.dispute_withdrawal),
    settled('ledger dispute withdrawals settled = dispute rows withdrawn', Number(totals.withdrawn), ledger.dispute_withdrawal),
    settled('ledger dispute fees = dispute rows fees', Number(totals.fees), ledger.dispute_fee),
    settled('ledger dispute reinstatements = won disputes withdrawn', Number(totals.reinstated), ledger.dispute_reinstatement),
  ];
  if (stripe && rows.length > 0) {
    // Each dispute's balance transactions on Stripe: negative ones withdrew, positive ones reinstated; fees on either.
    const onStripe = { withdrawn: 0, reinstated: 0, fees: 0, statusesDiffering: 0 };
    for (const row of rows) {
      const dispute = await stripe.disputes.retrieve(row.stripe_dispute_id);
      for (const balance of dispute.balance_transactions) {
        if (balance.amount < 0) onStripe.withdrawn -= balance.amount;
        else onStripe.reinstated += balance.amount;
        onStripe.fees += balance.fee;
      }
      if (dispute.status !== row.status) onStripe.statusesDiffering += 1;
    }
    checks.push(
      settled('Stripe dispute withdrawals = ledger', onStripe.withdrawn, ledger.dispute_withdrawal),
      settled('Stripe dispute fees = ledger', onStripe.fees, ledger.dispute_fee),
      settled('Stripe dispute reinstatements = ledger', onStripe.reinstated, ledger.dispute_reinstatement),
      { name: 'disputes whose status differs from Stripe', currency: null, expected: 0, actual: onStripe.statusesDiffering, ok: onStripe.statusesDiffering === 0 },
    );
  }
  return {
    checks,
    disputed: ledger.dispute_withdrawal - ledger.dispute_reinstatement + ledger.dispute_fee,
    reversed: Number(totals.reversed),
    owedBack: Number(totals.owed_back),
    reserveDrawn: Number(totals.reserve_drawn),
  };
}
