/**
 * Refunds made outside the platform (in Stripe's dashboard) reach us as `charge.refunded`: each such refund is
 * recorded once, in the ledger and on the pledge, so reconciliation still balances. Refunds the platform made carry
 * our `refund_id` in their metadata and are recorded by the refund activity instead.
 */
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { recordLedgerEntries } from '../ledger/ledger';

export async function recordExternalRefunds(deps: { database: AppDatabase; stripe: Stripe }, charge: Stripe.Charge): Promise<number> {
  const paymentIntentId = typeof charge.payment_intent === 'string' ? charge.payment_intent : charge.payment_intent?.id;
  if (!paymentIntentId) return 0;
  const pledge = await deps.database.db.selectFrom('pledges').selectAll().where('payment_intent_id', '=', paymentIntentId).executeTakeFirst();
  if (!pledge) return 0;
  const refunds = await deps.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 });
  let recorded = 0;
  for (const refund of refunds.data) {
    if (refund.status !== 'succeeded' || refund.metadata?.refund_id) continue;
    await deps.database.transaction(async (trx) => {
      const known = await trx.selectFrom('ledger_entries').select('id').where('kind', '=', 'refund').where('stripe_object_id', '=', refund.id).executeTakeFirst();
      if (known) return;
      await recordLedgerEntries(trx, [{ campaignId: pledge.campaign_id, pledgeId: pledge.id, kind: 'refund', amount: refund.amount, currency: pledge.currency, stripeObjectId: refund.id }]);
      await trx
        .updateTable('pledges')
        .set({
          amount_refunded: sql`amount_refunded + ${refund.amount}`,
          status: sql`case when amount_refunded + ${refund.amount} >= amount_captured then 'refunded' else status end`,
          refunded_at: new Date(),
          updated_at: new Date(),
        })
        .where('id', '=', pledge.id)
        .execute();
      recorded++;
    });
  }
  return recorded;
}
