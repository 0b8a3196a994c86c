/**
 * A backer withdraws a pledge before the deadline. A hold is cancelled on Stripe; a saved card simply stops being
 * charged; a keep-it-all charge is refunded in full through the campaign's workflow (its refund terms promise no
 * less before the deadline). The reward unit is freed in the same transaction as the status change.
 */
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Pledge } from '../../db/schema';
import { conflict, forbidden, notFound } from '../api/errors';
import { requestRefund } from '../refunds/request-refund';
import { stripeKeys } from '../payments/idempotency-keys';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';

export type CancelOutcome = { status: 'cancelled' } | { status: 'refunding'; refundId: string };

export async function cancelPledge(
  deps: { database: AppDatabase; stripe: Stripe; workflows?: CampaignWorkflows },
  pledgeId: string,
  backerId: string,
): Promise<CancelOutcome> {
  const db = deps.database.db;
  const pledge = await db.selectFrom('pledges').selectAll().where('id', '=', pledgeId).executeTakeFirst();
  if (!pledge) throw notFound('Pledge');
  if (pledge.backer_id !== backerId) throw forbidden('Only the backer can cancel this pledge');
  const campaign = await db.selectFrom('campaigns').select(['status', 'ends_at']).where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
  if (campaign.status !== 'active' || campaign.ends_at.getTime() <= Date.now()) {
    throw conflict('campaign_closed', 'Pledges can only be cancelled while the campaign is running');
  }
  if (pledge.status === 'captured') {
    if (!deps.workflows) throw conflict('refunds_unavailable', 'Refunds are not configured on this server');
    const { refund } = await requestRefund(deps.database, { pledgeId: pledge.id, reason: 'backer_cancelled', requestedBy: backerId });
    await deps.workflows.refund(pledge.campaign_id, refund.id);
    return { status: 'refunding', refundId: refund.id };
  }
  if (!['pending', 'requires_action', 'authorized'].includes(pledge.status)) {
    throw conflict('pledge_not_cancellable', `A ${pledge.status} pledge cannot be cancelled`);
  }
  if (pledge.payment_intent_id) {
    const intent = await deps.stripe.paymentIntents.retrieve(pledge.payment_intent_id);
    if (!['succeeded', 'canceled'].includes(intent.status)) {
      await deps.stripe.paymentIntents.cancel(intent.id, { cancellation_reason: 'requested_by_customer' }, { idempotencyKey: stripeKeys.pledgeRelease(pledge.id, intent.id) });
    }
  }
  await markCancelled(deps.database, pledge);
  return { status: 'cancelled' };
}

async function markCancelled(database: AppDatabase, pledge: Pledge): Promise<void> {
  await database.transaction(async (trx) => {
    const cancelled = await trx
      .updateTable('pledges')
      .set({ status: 'cancelled', cancelled_at: new Date(), updated_at: new Date() })
      .where('id', '=', pledge.id)
      .where('status', 'in', ['pending', 'requires_action', 'authorized'])
      .executeTakeFirst();
    if (cancelled.numUpdatedRows > 0n && pledge.reward_id) {
      await trx.updateTable('rewards').set({ claimed_qty: sql`claimed_qty - 1` }).where('id', '=', pledge.reward_id).execute();
    }
  });
}
