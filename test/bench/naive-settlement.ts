/**
 * The settlement loop of the original design, as a benchmark baseline: one process captures each authorized pledge
 * of a campaign one after the other, as a Celery task would (the same capture request and idempotency key as the
 * product, the capture and its ledger entries recorded in Postgres before the next). Not used by the product.
 */
import type Stripe from 'stripe';
import { type Db } from '../../db/database';
import { captureMovements, recordLedgerEntries } from '../../src/ledger/ledger';
import { stripeKeys } from '../../src/payments/idempotency-keys';

export interface NaiveRun {
  captured: number;
  /** When the loop started (ms since the epoch). */
  startedAt: number;
  /** From the loop's start to its last capture recorded. */
  seconds: number;
}

export async function settleSequentially(db: Db, stripe: Stripe, campaignId: string, limit: number): Promise<NaiveRun> {
  const pledges = await db
    .selectFrom('pledges')
    .select(['id', 'payment_intent_id', 'currency'])
    .where('campaign_id', '=', campaignId)
    .where('status', '=', 'authorized')
    .orderBy('id')
    .limit(limit)
    .execute();
  const started = Date.now();
  for (const pledge of pledges) {
    const intent = await stripe.paymentIntents.capture(pledge.payment_intent_id!, { expand: ['latest_charge.balance_transaction'] }, { idempotencyKey: stripeKeys.pledgeCapture(pledge.id) });
    const charge = intent.latest_charge as Stripe.Charge;
    const balance = charge.balance_transaction as Stripe.BalanceTransaction;
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('pledges')
        .set({ status: 'captured', amount_captured: intent.amount_received, processing_fee: balance.fee, captured_at: new Date(), updated_at: new Date() })
        .where('id', '=', pledge.id)
        .where('status', '=', 'authorized')
        .execute();
      const movements = captureMovements({ chargeId: charge.id, amount: intent.amount_received, currency: pledge.currency, balance });
      await recordLedgerEntries(trx, movements.map((movement) => ({ ...movement, campaignId, pledgeId: pledge.id })));
    });
  }
  return { captured: pledges.length, startedAt: started, seconds: (Date.now() - started) / 1000 };
}
