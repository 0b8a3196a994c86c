/**
 * Placing a pledge, the one money call the API makes synchronously (the backer needs an answer now). Crash-safe in
 * this order: the pledge row (and its reward unit) is committed before any Stripe call; every Stripe call carries a
 * key from the pledge id, so a retry is the same request; the outcome is written with its ledger entries in one
 * transaction. keep-it-all charges now; all-or-nothing and hybrid hold the card when the deadline is within the hold
 * window, and otherwise save it for an off-session charge at the deadline.
 */
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { LIVE_PLEDGE_STATUSES, type Pledge, type User } from '../../db/schema';
import { type Config } from '../config';
import { conflict, DomainError, forbidden, invalidField, notFound, unprocessable } from '../errors';
import { minimumChargeRefusal, pledgeAmount } from '../campaigns/validation';
import { fromMinorUnits } from '../money';
import { platformSettlementCurrency } from '../payments/platform-account';
import { claimRewardUnit } from './reward-units';
import { failPlacement, type PlacedPledge } from './placement-outcome';
import { askStripe, ensureCustomer } from './placement-request';
import { claimCardAttempt, recordCardOutcome } from './card-velocity';

export interface PledgeRequest {
  campaignId: string;
  backer: User;
  amount: string;
  rewardId?: string;
  paymentMethodId: string;
  /** The client's address (API requests): counted by the velocity limits, and sent to Stripe Radar. */
  ip?: string | undefined;
}

export async function placePledge(deps: { database: AppDatabase; stripe: Stripe; config: Config }, request: PledgeRequest): Promise<PlacedPledge> {
  const { database, stripe, config } = deps;
  const db = database.db;
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', request.campaignId).executeTakeFirst();
  if (!campaign || campaign.status === 'draft') throw notFound('Campaign');
  // A creator backing their own campaign could carry an all-or-nothing goal with their own money.
  if (campaign.creator_id === request.backer.id) throw forbidden('Creators cannot back their own campaign');
  const amount = pledgeAmount(request.amount, campaign.currency, await settlementCurrencyOrNone(stripe));

  // Counted before the pledge row and Stripe: a card tester's attempts are bounded before they cost anything.
  const attemptId = await claimCardAttempt(deps, { action: 'pledge', backer: request.backer, ip: request.ip, paymentMethodId: request.paymentMethodId });
  const settleAttempt = (outcome: 'succeeded' | 'declined' | 'unanswered' | 'not_asked') =>
    // Best effort: an outcome not written leaves the attempt counted as a decline, the safe side.
    recordCardOutcome(database, attemptId, outcome).catch(() => undefined);

  const placement: Placement = campaign.model === 'kia' ? 'charge' : campaign.ends_at.getTime() - Date.now() <= config.campaigns.holdWindowMs ? 'hold' : 'save';

  // 1. The pledge row and its reward unit, committed before Stripe hears of it.
  const pledge = await database.transaction(async (trx) => {
    // FOR SHARE: closing pledging (an UPDATE of this row) waits for us, and we see it once it committed.
    const locked = await trx.selectFrom('campaigns').select(['status', 'ends_at']).where('id', '=', campaign.id).forShare().executeTakeFirstOrThrow();
    if (locked.status !== 'active' || locked.ends_at.getTime() <= Date.now()) throw unprocessable('campaign_not_active', 'This campaign is not taking pledges');
    // Before claiming a reward unit: a retry of this very request already holds one.
    const live = await trx.selectFrom('pledges').selectAll().where('campaign_id', '=', campaign.id).where('backer_id', '=', request.backer.id).where('status', 'in', LIVE_PLEDGE_STATUSES).executeTakeFirst();
    if (live) {
      if (isUnansweredPlacementOf(live, request, amount)) return live;
      throw conflict('pledge_exists', 'You already back this campaign; change that pledge instead');
    }
    if (request.rewardId) {
      const reward = await trx.selectFrom('rewards').selectAll().where('id', '=', request.rewardId).where('campaign_id', '=', campaign.id).executeTakeFirst();
      if (!reward) throw invalidField('rewardId', 'is not a reward of this campaign');
      if (amount < reward.min_pledge) {
        throw unprocessable('amount_below_reward_minimum', `This reward needs a pledge of at least ${fromMinorUnits(reward.min_pledge, campaign.currency)} ${campaign.currency}`);
      }
      await claimRewardUnit(trx, reward.id);
    }
    try {
      return await trx
        .insertInto('pledges')
        .values({
          campaign_id: campaign.id,
          backer_id: request.backer.id,
          reward_id: request.rewardId ?? null,
          amount,
          currency: campaign.currency,
          placement,
          payment_method_id: request.paymentMethodId,
          placed_from_ip: request.ip ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (error) {
      if ((error as { constraint?: string }).constraint === 'pledges_one_live_per_backer') {
        throw conflict('pledge_exists', 'You already back this campaign; change that pledge instead');
      }
      throw error;
    }
  }).catch(async (error: unknown) => {
    await settleAttempt('not_asked');
    throw error;
  });

  // 2. Stripe, with keys from the pledge id. A resumed pledge is asked for as it was first time, with its placement.
  try {
    const customerId = await ensureCustomer(database, stripe, request.backer);
    const placed = await askStripe(database, stripe, campaign, pledge, customerId);
    await settleAttempt(placed.pledge.status === 'failed' ? 'declined' : 'succeeded');
    return placed;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError) {
      await failPlacement(database, pledge, error);
      // Converted into the settlement currency, the charge fell below Stripe's minimum there.
      const tooSmall = minimumChargeRefusal(error, campaign.currency);
      await settleAttempt(tooSmall ? 'unanswered' : 'declined');
      if (tooSmall) throw tooSmall;
      if (error instanceof Stripe.errors.StripeCardError) {
        throw new DomainError('payment_declined', error.code ?? 'card_declined', error.message, error.decline_code ? { fields: [{ path: 'paymentMethodId', message: error.decline_code }] } : {});
      }
      throw new DomainError('invalid', 'invalid_payment_method', error.message, { fields: [{ path: 'paymentMethodId', message: error.message }] });
    }
    // Stripe unreachable, or Postgres down (the error handler answers 503 for it): the pledge stays pending; a
    // retry of this request resumes it, and otherwise the sweep (resolvePendingPledges) asks Stripe again with the
    // same key and finds out what happened.
    await settleAttempt('unanswered');
    if (error instanceof Stripe.errors.StripeError) {
      throw new DomainError('provider_unavailable', 'payment_provider_unavailable', 'The card network did not answer; try again with the same Idempotency-Key', { retryAfterSeconds: 1 });
    }
    throw error;
  }
}

/**
 * A pending pledge written from the same request (an earlier attempt that failed before Stripe's answer was
 * recorded): the retry carries it on instead of being told the backer already backs the campaign.
 */
function isUnansweredPlacementOf(pledge: Pledge, request: PledgeRequest, amount: number): boolean {
  return (
    pledge.status === 'pending' &&
    pledge.placement !== null &&
    pledge.amount === amount &&
    pledge.reward_id === (request.rewardId ?? null) &&
    pledge.payment_method_id === request.paymentMethodId
  );
}

type Placement = 'hold' | 'save' | 'charge';

/** The platform's settlement currency, or none when Stripe cannot say now (Stripe then judges the minimum itself). */
async function settlementCurrencyOrNone(stripe: Stripe): Promise<string | undefined> {
  try {
    return await platformSettlementCurrency(stripe);
  } catch {
    return undefined;
  }
}
