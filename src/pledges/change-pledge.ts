/**
 * A backer changes a pledge while the campaign takes pledges. Everything is decided in one transaction under the
 * campaign lock that closing pledging also takes (pledge-lock.ts), with the pledge row locked NOWAIT: of concurrent
 * changes of one pledge one wins and the others are refused (a conflict), and a reward unit claimed by a change that fails is given
 * back by the rollback. A held pledge whose amount changes is authorized again on-session (the backer is here to
 * answer 3-D Secure), under a key per revision and amount; the pledge switches to the new hold only once Stripe
 * authorized it, and the old hold is released after the switch committed. A change that needs 3-D Secure waits on
 * the pledge (`pending_*`, its reward unit claimed) until Stripe's webhook tells how the challenge ended; a newer
 * change supersedes it. A saved card is simply charged the new amount at the deadline; a keep-it-all charge cannot
 * be changed (cancel it instead).
 */
import Stripe from 'stripe';
import { type AppDatabase, type Tx } from '../../db/database';
import { type Campaign, type Pledge } from '../../db/schema';
import { conflict, DomainError, forbidden, invalidField, notFound, unprocessable } from '../errors';
import { pledgeAmount } from '../campaigns/validation';
import { platformSettlementCurrency } from '../payments/platform-account';
import { fromMinorUnits } from '../money';
import { enqueueNotifications } from '../notifications/outbox';
import { stripeKeys } from '../payments/idempotency-keys';
import { lockPledge, pledgingClosed } from './pledge-lock';
import { heldOrSaved } from './placement-outcome';
import { claimRewardUnit, releaseRewardUnit } from './reward-units';

export interface PledgeChange {
  amount?: string;
  rewardId?: string | null;
}

export interface ChangedPledge {
  pledge: Pledge;
  /** The new amount's hold needs 3-D Secure: the pledge is unchanged until the backer completes it. */
  nextAction?: { type: 'use_stripe_sdk'; clientSecret: string };
}

type Deps = { database: AppDatabase; stripe: Stripe };

export async function changePledge(deps: Deps, pledgeId: string, backerId: string, change: PledgeChange): Promise<ChangedPledge> {
  const { database, stripe } = deps;
  const found = await database.db.selectFrom('pledges').select(['id', 'backer_id', 'campaign_id', 'currency']).where('id', '=', pledgeId).executeTakeFirst();
  if (!found) throw notFound('Pledge');
  if (found.backer_id !== backerId) throw forbidden('Only the backer can change this pledge');
  const requestedAmount = change.amount === undefined ? undefined : pledgeAmount(change.amount, found.currency, await platformSettlementCurrency(stripe).catch(() => undefined));

  // Holds to let go once the outcome is committed: the pledge's previous hold, a superseded change's hold.
  const released: string[] = [];
  const changed = await database.transaction(async (trx): Promise<ChangedPledge> => {
    const { campaign, pledge, pledgingOpen } = await lockPledge(trx, found, { noWait: true });
    if (!pledgingOpen) throw pledgingClosed('changed');
    if (pledge.status === 'captured') throw conflict('pledge_charged', 'A keep-it-all pledge is already charged; cancel it and pledge again');
    if (pledge.status !== 'authorized') throw conflict('pledge_not_changeable', `A ${pledge.status} pledge cannot be changed`);
    let current = pledge;
    if (pledge.pending_payment_intent_id) {
      current = await dropPendingChange(trx, pledge);
      released.push(pledge.pending_payment_intent_id);
    }

    const amount = requestedAmount ?? current.amount;
    const rewardId = change.rewardId === undefined ? current.reward_id : change.rewardId;
    if (rewardId) {
      const reward = await trx.selectFrom('rewards').selectAll().where('id', '=', rewardId).where('campaign_id', '=', campaign.id).executeTakeFirst();
      if (!reward) throw invalidField('rewardId', 'is not a reward of this campaign');
      if (amount < reward.min_pledge) throw unprocessable('amount_below_reward_minimum', `This reward needs at least ${fromMinorUnits(reward.min_pledge, current.currency)} ${current.currency}`);
      if (rewardId !== current.reward_id) await claimRewardUnit(trx, rewardId);
    }
    const revision = current.revision + 1;
    if (!current.payment_intent_id || amount === current.amount) {
      return { pledge: await applyChange(trx, campaign, current, { amount, rewardId, revision }) };
    }

    const intent = await authorizeChange(trx, stripe, campaign, current, amount, revision);
    if (intent.status === 'requires_action') {
      const waiting = await trx
        .updateTable('pledges')
        .set({ pending_payment_intent_id: intent.id, pending_amount: amount, pending_reward_id: rewardId, revision, updated_at: new Date() })
        .where('id', '=', current.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { pledge: waiting, nextAction: { type: 'use_stripe_sdk', clientSecret: intent.client_secret! } };
    }
    if (intent.status !== 'requires_capture') throw new Error(`PaymentIntent ${intent.id} changing pledge ${current.id} is ${intent.status}`);
    released.push(current.payment_intent_id);
    const hold = heldOrSaved(intent, campaign.ends_at);
    if (!hold.payment_intent_id) released.push(intent.id);
    return { pledge: await applyChange(trx, campaign, current, { amount, rewardId, revision, hold }) };
  });
  await releaseHolds(stripe, pledgeId, released);
  return changed;
}

/**
 * Stripe's word on a change waiting for 3-D Secure (called by syncAuthentication for an intent that is no pledge's
 * hold): authorized, the pledge switches to it; failed, or authorized after pledging closed, the change is dropped
 * and the pledge stays as the tally saw it. A superseded, completed or cancelled change is left alone here.
 */
export async function completePendingChange(deps: Deps, paymentIntentId: string): Promise<void> {
  const { database, stripe } = deps;
  const found = await database.db.selectFrom('pledges').select(['id', 'campaign_id']).where('pending_payment_intent_id', '=', paymentIntentId).executeTakeFirst();
  if (!found) return;
  let intent: Stripe.PaymentIntent = await stripe.paymentIntents.retrieve(paymentIntentId, { expand: ['latest_charge'] });
  // A failed challenge leaves the intent open to another try: cancelled first, so a later success holds nothing.
  if (intent.status === 'requires_payment_method') intent = await cancelFailedChange(stripe, found.id, intent.id);
  if (intent.status !== 'requires_capture' && intent.status !== 'canceled') return; // still with the backer

  const released: string[] = [];
  await database.transaction(async (trx) => {
    const { campaign, pledge, pledgingOpen } = await lockPledge(trx, found);
    if (pledge.pending_payment_intent_id !== paymentIntentId || pledge.status !== 'authorized') return;
    if (intent.status === 'requires_capture' && pledgingOpen) {
      released.push(pledge.payment_intent_id!);
      const hold = heldOrSaved(intent, campaign.ends_at);
      if (!hold.payment_intent_id) released.push(intent.id);
      await applyChange(trx, campaign, pledge, { amount: pledge.pending_amount!, rewardId: pledge.pending_reward_id, revision: pledge.revision, hold });
      return;
    }
    if (intent.status === 'requires_capture') released.push(intent.id);
    await dropPendingChange(trx, pledge);
  });
  await releaseHolds(stripe, found.id, released);
}

/** The new amount's hold, confirmed on-session: a card that asks for 3-D Secure answers `requires_action`. */
async function authorizeChange(trx: Tx, stripe: Stripe, campaign: Campaign, pledge: Pledge, amount: number, revision: number): Promise<Stripe.PaymentIntent> {
  const backer = await trx.selectFrom('users').select('stripe_customer_id').where('id', '=', pledge.backer_id).executeTakeFirstOrThrow();
  try {
    return await stripe.paymentIntents.create(
      {
        amount,
        currency: pledge.currency.toLowerCase(),
        customer: backer.stripe_customer_id!,
        payment_method: pledge.payment_method_id!,
        confirm: true,
        capture_method: 'manual',
        transfer_group: campaign.id,
        metadata: { pledge_id: pledge.id, campaign_id: campaign.id, revision: String(revision) },
        // The charge tells how long Stripe keeps the hold (`capture_before`).
        expand: ['latest_charge'],
      },
      { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id, { revision, amount }) },
    );
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError) throw new DomainError('payment_declined', error.code ?? 'card_declined', error.message);
    throw error;
  }
}

/**
 * The change itself: amount, reward (the old unit freed; the new one was claimed by the change) and, when the amount
 * was authorized again, the new hold (or no hold but the saved card, if the new one lapses before the deadline).
 */
async function applyChange(
  trx: Tx,
  campaign: Campaign,
  pledge: Pledge,
  change: { amount: number; rewardId: string | null; revision: number; hold?: ReturnType<typeof heldOrSaved> },
): Promise<Pledge> {
  const { amount, rewardId, revision, hold } = change;
  const updated = await trx
    .updateTable('pledges')
    .set({
      amount,
      reward_id: rewardId,
      revision,
      pending_payment_intent_id: null,
      pending_amount: null,
      pending_reward_id: null,
      updated_at: new Date(),
      ...(hold ? { payment_intent_id: hold.payment_intent_id, hold_expires_at: hold.hold_expires_at } : {}),
    })
    .where('id', '=', pledge.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  if (pledge.reward_id && pledge.reward_id !== rewardId) await releaseRewardUnit(trx, pledge.reward_id);
  await enqueueNotifications(trx, [
    {
      recipientId: pledge.backer_id,
      template: 'pledge_changed',
      payload: { pledgeId: pledge.id, campaignTitle: campaign.title, amount: fromMinorUnits(amount, pledge.currency), currency: pledge.currency },
      dedupeKey: `pledge-${pledge.id}-changed-${revision}`,
    },
  ]);
  return updated;
}

/** Forgets a change waiting for 3-D Secure and frees the reward unit it claimed; its hold is the caller's to release. */
async function dropPendingChange(trx: Tx, pledge: Pledge): Promise<Pledge> {
  const updated = await trx
    .updateTable('pledges')
    .set({ pending_payment_intent_id: null, pending_amount: null, pending_reward_id: null, updated_at: new Date() })
    .where('id', '=', pledge.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  if (pledge.pending_reward_id && pledge.pending_reward_id !== pledge.reward_id) await releaseRewardUnit(trx, pledge.pending_reward_id);
  return updated;
}

async function cancelFailedChange(stripe: Stripe, pledgeId: string, paymentIntentId: string): Promise<Stripe.PaymentIntent> {
  try {
    await stripe.paymentIntents.cancel(paymentIntentId, { cancellation_reason: 'abandoned' }, { idempotencyKey: stripeKeys.pledgeRelease(pledgeId, paymentIntentId) });
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeIdempotencyError)) throw error;
  }
  return stripe.paymentIntents.retrieve(paymentIntentId, { expand: ['latest_charge'] });
}

/** Holds the pledge no longer uses. If Stripe does not hear it, a hold simply lapses at its `capture_before`: nothing is charged. */
async function releaseHolds(stripe: Stripe, pledgeId: string, intentIds: string[]): Promise<void> {
  for (const id of intentIds) {
    await stripe.paymentIntents.cancel(id, { cancellation_reason: 'abandoned' }, { idempotencyKey: stripeKeys.pledgeRelease(pledgeId, id) }).catch(() => undefined);
  }
}
