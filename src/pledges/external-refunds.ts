/**
 * Refunds made outside the platform (in Stripe's dashboard) reach us as `charge.refunded`: each such refund is
 * recorded once, as a refund row, in the ledger and on the pledge, so reconciliation still balances. Refunds the
 * platform made carry our `refund_id` in their metadata and are recorded by the refund activity instead.
 *
 * The event's copy of the charge is only a prompt: the refunds are listed from Stripe as they are now, and each is
 * claimed by inserting its refund row (unique per Stripe refund) before anything else is written, so the same event
 * twice, two events of one charge at once, or an older event after a newer one record each refund exactly once.
 */
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { DomainError } from '../errors';
import { settlementOf } from '../ledger/ledger';
import { recordRefundOnPledge } from '../refunds/record-refund';
import { syncAuthentication } from './complete-authentication';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function recordExternalRefunds(deps: { database: AppDatabase; stripe: Stripe }, charge: Stripe.Charge): Promise<number> {
  const paymentIntentId = typeof charge.payment_intent === 'string' ? charge.payment_intent : charge.payment_intent?.id;
  if (!paymentIntentId) return 0;
  const db = deps.database.db;
  const pledgeOfIntent = () => db.selectFrom('pledges').selectAll().where('payment_intent_id', '=', paymentIntentId).executeTakeFirst();
  let pledge = await pledgeOfIntent();
  if (pledge?.status === 'requires_action' || pledge?.status === 'pending') {
    // This event overtook the one that completes the pledge's 3-D Secure charge: complete it first, from Stripe.
    await syncAuthentication(deps, { paymentIntentId });
    pledge = await pledgeOfIntent();
  }
  if (!pledge) {
    const intent = await deps.stripe.paymentIntents.retrieve(paymentIntentId);
    const pledgeId = intent.metadata?.pledge_id;
    if (!pledgeId || !UUID.test(pledgeId)) return 0;
    const known = await db.selectFrom('pledges').select('id').where('id', '=', pledgeId).executeTakeFirst();
    if (!known) return 0;
  }
  // A refund is recorded against the capture it takes back. A charge a settlement made moments ago (or whose
  // activity is still retrying) is not in the ledger yet; recording the refund now would leave a refund without its
  // capture, so Stripe is asked to deliver the event again later.
  const capture = await db.selectFrom('ledger_entries').select('id').where('kind', '=', 'capture').where('stripe_object_id', '=', charge.id).executeTakeFirst();
  if (!pledge || !capture) {
    throw new DomainError('unavailable', 'capture_not_recorded_yet', `The capture of charge ${charge.id} is not recorded yet; Stripe delivers this event again`);
  }

  // With their balance transactions: what each took from the platform's balance, in the settlement currency.
  const refunds = await deps.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100, expand: ['data.balance_transaction'] });
  let recorded = 0;
  for (const refund of refunds.data) {
    if (refund.status !== 'succeeded' || refund.metadata?.refund_id) continue;
    const campaignId = pledge.campaign_id;
    const { id: pledgeId, currency } = pledge;
    const added = await deps.database.transaction(async (trx) => {
      const claimed = await trx
        .insertInto('refunds')
        .values({
          pledge_id: pledgeId,
          amount: refund.amount,
          currency,
          reason: 'stripe_dashboard',
          status: 'succeeded',
          stripe_status: 'succeeded',
          stripe_refund_id: refund.id,
          // Made outside the platform: the platform bears it, the creator's transfer is not touched.
          reversal_status: 'not_needed',
          // No request of ours made this refund; the column still names its one Stripe object, uniquely.
          idempotency_key: `stripe-${refund.id}`,
          completed_at: new Date(),
        })
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!claimed) return false;
      // Refunds recorded before refund rows were written for them have their ledger entry (and pledge) already.
      const known = await trx.selectFrom('ledger_entries').select('id').where('kind', '=', 'refund').where('stripe_object_id', '=', refund.id).executeTakeFirst();
      if (known) return false;
      const balance = refund.balance_transaction;
      const settlement = balance && typeof balance !== 'string' ? settlementOf(balance) : undefined;
      await recordRefundOnPledge(trx, { campaignId, pledgeId, currency, amount: refund.amount, stripeRefundId: refund.id, ...(settlement ? { settlement } : {}) });
      return true;
    });
    if (added) recorded++;
  }
  return recorded;
}
