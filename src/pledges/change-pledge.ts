/**
 * A backer changes a pledge before the deadline. A saved card is simply charged the new amount at the deadline; a
 * hold is re-authorized for the new amount (a new PaymentIntent under the next revision's key) before the old one is
 * released, so the pledge is never left without a hold. A keep-it-all charge cannot be changed (cancel it instead).
 * A new reward is claimed atomically and the old unit freed; on a declined card nothing changes.
 */
import { sql } from 'kysely';
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Pledge } from '../../db/schema';
import { ApiError, conflict, forbidden, invalidField, notFound, unprocessable } from '../api/errors';
import { pledgeAmount } from '../campaigns/rules';
import { fromMinorUnits } from '../money';
import { enqueueNotifications } from '../notifications/outbox';
import { stripeKeys } from '../payments/idempotency-keys';

export interface PledgeChange {
  amount?: string;
  rewardId?: string | null;
}

export async function changePledge(deps: { database: AppDatabase; stripe: Stripe }, pledgeId: string, backerId: string, change: PledgeChange): Promise<Pledge> {
  const { database, stripe } = deps;
  const db = database.db;
  const pledge = await db.selectFrom('pledges').selectAll().where('id', '=', pledgeId).executeTakeFirst();
  if (!pledge) throw notFound('Pledge');
  if (pledge.backer_id !== backerId) throw forbidden('Only the backer can change this pledge');
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
  if (campaign.status !== 'active' || campaign.ends_at.getTime() <= Date.now()) throw conflict('campaign_closed', 'Pledges can only be changed while the campaign is running');
  if (pledge.status === 'captured') throw conflict('pledge_charged', 'A keep-it-all pledge is already charged; cancel it and pledge again');
  if (pledge.status !== 'authorized') throw conflict('pledge_not_changeable', `A ${pledge.status} pledge cannot be changed`);

  let amount = pledge.amount;
  if (change.amount !== undefined) amount = pledgeAmount(change.amount, pledge.currency);
  const rewardId = change.rewardId === undefined ? pledge.reward_id : change.rewardId;
  if (rewardId) {
    const reward = await db.selectFrom('rewards').selectAll().where('id', '=', rewardId).where('campaign_id', '=', campaign.id).executeTakeFirst();
    if (!reward) throw invalidField('rewardId', 'is not a reward of this campaign');
    if (amount < reward.min_pledge) throw unprocessable('amount_below_reward_minimum', `This reward needs at least ${fromMinorUnits(reward.min_pledge, pledge.currency)} ${pledge.currency}`);
  }
  const rewardChanges = rewardId !== pledge.reward_id;
  if (rewardChanges && rewardId) {
    const claimed = await db
      .updateTable('rewards')
      .set({ claimed_qty: sql`claimed_qty + 1` })
      .where('id', '=', rewardId)
      .where((eb) => eb.or([eb('limit_qty', 'is', null), eb('claimed_qty', '<', eb.ref('limit_qty'))]))
      .executeTakeFirst();
    if (claimed.numUpdatedRows === 0n) throw conflict('reward_sold_out', 'This reward is sold out');
  }
  const releaseNewClaim = async () => {
    if (rewardChanges && rewardId) await db.updateTable('rewards').set({ claimed_qty: sql`claimed_qty - 1` }).where('id', '=', rewardId).execute();
  };

  // A held pledge whose amount changes is authorized again before the old hold is let go.
  let paymentIntentId = pledge.payment_intent_id;
  const revision = pledge.revision + 1;
  if (pledge.payment_intent_id && amount !== pledge.amount) {
    const user = await db.selectFrom('users').select('stripe_customer_id').where('id', '=', backerId).executeTakeFirstOrThrow();
    try {
      const intent = await stripe.paymentIntents.create(
        {
          amount,
          currency: pledge.currency.toLowerCase(),
          customer: user.stripe_customer_id!,
          payment_method: pledge.payment_method_id!,
          confirm: true,
          off_session: true,
          capture_method: 'manual',
          transfer_group: campaign.id,
          metadata: { pledge_id: pledge.id, campaign_id: campaign.id, revision: String(revision) },
        },
        { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id, revision) },
      );
      paymentIntentId = intent.id;
    } catch (error) {
      await releaseNewClaim();
      if (error instanceof Stripe.errors.StripeCardError) throw new ApiError(402, error.code ?? 'card_declined', error.message);
      throw error;
    }
    // If this fails the old hold simply lapses within 7 days; no money moves on an uncaptured hold.
    await stripe.paymentIntents.cancel(pledge.payment_intent_id, { cancellation_reason: 'abandoned' }, { idempotencyKey: stripeKeys.pledgeRelease(pledge.id, pledge.payment_intent_id) }).catch(() => undefined);
  }

  return database.transaction(async (trx) => {
    const updated = await trx
      .updateTable('pledges')
      .set({ amount, reward_id: rewardId, payment_intent_id: paymentIntentId, revision, updated_at: new Date() })
      .where('id', '=', pledge.id)
      .where('status', '=', 'authorized')
      .where('revision', '=', pledge.revision)
      .returningAll()
      .executeTakeFirst();
    if (!updated) throw conflict('pledge_changed_meanwhile', 'The pledge changed meanwhile; load it and try again');
    if (rewardChanges && pledge.reward_id) await trx.updateTable('rewards').set({ claimed_qty: sql`claimed_qty - 1` }).where('id', '=', pledge.reward_id).execute();
    await enqueueNotifications(trx, [
      {
        recipientId: backerId,
        template: 'pledge_changed',
        payload: { pledgeId: pledge.id, campaignTitle: campaign.title, amount: fromMinorUnits(amount, pledge.currency), currency: pledge.currency },
        dedupeKey: `pledge-${pledge.id}-changed-${revision}`,
      },
    ]);
    return updated;
  });
}
