/**
 * Placing a pledge, the one money call the API makes synchronously (the backer needs an answer now). Crash-safe in
 * this order: the pledge row (and its reward unit) is committed before any Stripe call; every Stripe call carries a
 * key from the pledge id, so a retry is the same request; the outcome is written with its ledger entries in one
 * transaction. keep-it-all charges now; all-or-nothing and hybrid hold the card when the deadline is within the hold
 * window, and otherwise save it for an off-session charge at the deadline.
 */
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Campaign, LIVE_PLEDGE_STATUSES, type Pledge, type User } from '../../db/schema';
import { ApiError, conflict, invalidField, notFound, unprocessable } from '../api/errors';
import { type Config } from '../config';
import { fundsAvailableOn, recordLedgerEntries } from '../ledger/ledger';
import { pledgeAmount } from '../campaigns/rules';
import { fromMinorUnits } from '../money';
import { enqueueNotifications } from '../notifications/outbox';
import { stripeKeys } from '../payments/idempotency-keys';
import { crossedStretchGoals } from '../rules/outcome';
import { tallyPledges } from '../campaigns/tally';
import { releaseCancelledHolds } from './cancel-pledge';
import { completePendingChange } from './change-pledge';
import { claimRewardUnit, releaseRewardUnit } from './reward-units';

export interface PledgeRequest {
  campaignId: string;
  backer: User;
  amount: string;
  rewardId?: string;
  paymentMethodId: string;
}

export interface PlacedPledge {
  pledge: Pledge;
  nextAction?: { type: 'use_stripe_sdk'; clientSecret: string };
}

export async function placePledge(deps: { database: AppDatabase; stripe: Stripe; config: Config }, request: PledgeRequest): Promise<PlacedPledge> {
  const { database, stripe, config } = deps;
  const db = database.db;
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', request.campaignId).executeTakeFirst();
  if (!campaign || campaign.status === 'draft') throw notFound('Campaign');
  const amount = pledgeAmount(request.amount, campaign.currency);

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
        })
        .returningAll()
        .executeTakeFirstOrThrow();
    } catch (error) {
      if ((error as { constraint?: string }).constraint === 'pledges_one_live_per_backer') {
        throw conflict('pledge_exists', 'You already back this campaign; change that pledge instead');
      }
      throw error;
    }
  });

  // 2. Stripe, with keys from the pledge id. A resumed pledge is asked for as it was first time, with its placement.
  try {
    const customerId = await ensureCustomer(database, stripe, request.backer);
    return await askStripe(database, stripe, campaign, pledge, customerId);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError) {
      await failPlacement(database, pledge, error);
      if (error instanceof Stripe.errors.StripeCardError) {
        throw new ApiError(402, error.code ?? 'card_declined', error.message, error.decline_code ? [{ path: 'paymentMethodId', message: error.decline_code }] : undefined);
      }
      throw new ApiError(400, 'invalid_payment_method', error.message, [{ path: 'paymentMethodId', message: error.message }]);
    }
    // Stripe unreachable, or Postgres down (the error handler answers 503 for it): the pledge stays pending; a
    // retry of this request resumes it, and otherwise the sweep (resolvePendingPledges) asks Stripe again with the
    // same key and finds out what happened.
    if (error instanceof Stripe.errors.StripeError) {
      throw new ApiError(503, 'payment_provider_unavailable', 'The card network did not answer; try again with the same Idempotency-Key', undefined, { 'Retry-After': '1' });
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

/**
 * The one Stripe request a pledge's placement makes, built only from the pledge row, so placement and the sweep
 * send byte-for-byte the same request under the same key (Stripe replays it rather than charging twice).
 */
async function askStripe(database: AppDatabase, stripe: Stripe, campaign: Campaign, pledge: Pledge, customerId: string, options: { lookUpFirst?: boolean } = {}): Promise<PlacedPledge> {
  const metadata = { pledge_id: pledge.id, campaign_id: campaign.id };
  const key = { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id) };
  // Never looked up once the key may have expired: a second SetupIntent saves the card again and moves no money.
  if (pledge.placement === 'save') {
    const setup = await stripe.setupIntents.create({ customer: customerId, payment_method: pledge.payment_method_id!, confirm: true, usage: 'off_session', metadata }, key);
    if (setup.status === 'requires_action') return awaitingAction(database, pledge, { setup_intent_id: setup.id }, setup.client_secret!);
    return { pledge: await settlePlacement(database, campaign, pledge, { status: 'authorized', setup_intent_id: setup.id, payment_method_id: setup.payment_method as string }) };
  }
  const found = options.lookUpFirst ? await findPlacementIntent(stripe, customerId, pledge.id) : undefined;
  const intent =
    found ??
    (await stripe.paymentIntents.create(
      {
        amount: pledge.amount,
        currency: campaign.currency.toLowerCase(),
        customer: customerId,
        payment_method: pledge.payment_method_id!,
        confirm: true,
        setup_future_usage: 'off_session',
        capture_method: pledge.placement === 'hold' ? 'manual' : 'automatic',
        transfer_group: campaign.id,
        metadata,
        expand: ['latest_charge.balance_transaction'],
      },
      key,
    ));
  if (intent.status === 'requires_payment_method' || intent.status === 'canceled') {
    // Only an intent found again can be here (a new one that is declined throws): it was declined back then.
    const declined = intent.last_payment_error;
    await failPlacement(database, pledge, { code: declined?.code ?? 'card_declined', ...(declined?.decline_code ? { decline_code: declined.decline_code } : {}), message: declined?.message ?? 'The card was declined' });
    return { pledge: await currentPledge(database, pledge.id) };
  }
  if (intent.status === 'requires_action') return awaitingAction(database, pledge, { payment_intent_id: intent.id }, intent.client_secret!);
  if (intent.status === 'succeeded') {
    const charge = intent.latest_charge as Stripe.Charge;
    const balance = charge.balance_transaction as Stripe.BalanceTransaction;
    return {
      pledge: await settlePlacement(
        database,
        campaign,
        pledge,
        { status: 'captured', payment_intent_id: intent.id, payment_method_id: intent.payment_method as string, amount_captured: pledge.amount, processing_fee: balance.fee, captured_at: new Date() },
        [
          { kind: 'capture', amount: pledge.amount, stripeObjectId: charge.id, availableOn: fundsAvailableOn(balance) },
          { kind: 'processing_fee', amount: balance.fee, stripeObjectId: balance.id, availableOn: fundsAvailableOn(balance) },
        ],
      ),
    };
  }
  return {
    pledge: await settlePlacement(database, campaign, pledge, {
      status: 'authorized',
      payment_intent_id: intent.id,
      payment_method_id: intent.payment_method as string,
      hold_expires_at: new Date((intent.created + 7 * 86_400) * 1000),
    }),
  };
}

/**
 * The placement's PaymentIntent if Stripe has one, found by its metadata (a change's carries a `revision`, a
 * settlement charge's an `attempt`). Listing by customer is strongly consistent (search is not), and a backer has
 * few PaymentIntents.
 */
async function findPlacementIntent(stripe: Stripe, customerId: string, pledgeId: string): Promise<Stripe.PaymentIntent | undefined> {
  for await (const intent of stripe.paymentIntents.list({ customer: customerId, limit: 100 })) {
    if (intent.metadata.pledge_id === pledgeId && intent.metadata.revision === undefined && intent.metadata.attempt === undefined) return retrieveWithCharge(stripe, intent.id);
  }
  return undefined;
}

/** Stripe keeps an idempotency key for 24 h: a placement older than this is looked up before it is asked again. */
const KEY_LOOKUP_AGE_MS = 23 * 3_600_000;

/**
 * Pledges left `pending` (a crash, or Stripe unreachable, between the row and Stripe's answer) are resolved by
 * asking Stripe again with the same request and key: Stripe replays what it did, or does it now. Past the key's
 * lifetime Stripe would do it again, so an older placement's PaymentIntent is looked up by its metadata first.
 * Card errors fail the pledge and free its reward unit. Cancelled pledges whose holds Stripe did not hear released
 * are released too. Returns how many pledges it settled or released.
 */
export async function resolvePendingPledges(deps: { database: AppDatabase; stripe: Stripe }, options: { olderThanMs: number; limit?: number }): Promise<number> {
  const { database, stripe } = deps;
  const pending = await database.db
    .selectFrom('pledges')
    .selectAll()
    .where('status', '=', 'pending')
    .where('placement', 'is not', null)
    .where('created_at', '<', new Date(Date.now() - options.olderThanMs))
    .orderBy('created_at')
    .limit(options.limit ?? 100)
    .execute();
  let resolved = 0;
  for (const pledge of pending) {
    const campaign = await database.db.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
    const backer = await database.db.selectFrom('users').selectAll().where('id', '=', pledge.backer_id).executeTakeFirstOrThrow();
    try {
      // The customer too is asked for again: placement may have made it on Stripe and then lost the database.
      const customerId = await ensureCustomer(database, stripe, backer);
      await askStripe(database, stripe, campaign, pledge, customerId, { lookUpFirst: Date.now() - pledge.created_at.getTime() > KEY_LOOKUP_AGE_MS });
      resolved++;
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError) {
        await failPlacement(database, pledge, error);
        resolved++;
      }
      // Stripe or Postgres still unreachable: try again on the next sweep.
    }
  }
  return resolved + (await releaseCancelledHolds(deps, options));
}

/** Pledges still waiting to learn how the backer's 3-D Secure challenge (or the placement request) turned out. */
const AWAITING_AUTHENTICATION: Array<'pending' | 'requires_action'> = ['pending', 'requires_action'];
const isAwaitingAuthentication = (status: Pledge['status']) => (AWAITING_AUTHENTICATION as string[]).includes(status);

/**
 * A pledge that waited for 3-D Secure learns the outcome from Stripe's webhook. The event is only a prompt to look:
 * Stripe delivers events late, twice and in any order, each carrying the intent as it was when the event was
 * created, so acting on the event's type or copy would let the `payment_failed` of a first, failed challenge fail a
 * pledge whose retried challenge then succeeded. The pledge follows the intent as Stripe has it now (one retrieve,
 * made only while the pledge is still waiting), so a duplicate, stale or reordered event does nothing.
 */
export async function completeAuthentication(deps: { database: AppDatabase; stripe: Stripe }, event: Stripe.Event): Promise<void> {
  const { id } = event.data.object as { id: string };
  await syncAuthentication(deps, event.type.startsWith('setup_intent.') ? { setupIntentId: id } : { paymentIntentId: id });
}

/** Brings a pledge waiting for 3-D Secure up to date with its intent as Stripe has it now. */
export async function syncAuthentication(
  deps: { database: AppDatabase; stripe: Stripe },
  intent: { paymentIntentId: string } | { setupIntentId: string },
): Promise<void> {
  const { database, stripe } = deps;
  const db = database.db;
  const pledge = await ('setupIntentId' in intent
    ? db.selectFrom('pledges').selectAll().where('setup_intent_id', '=', intent.setupIntentId)
    : db.selectFrom('pledges').selectAll().where('payment_intent_id', '=', intent.paymentIntentId)
  ).executeTakeFirst();
  // No pledge's hold: perhaps a change of amount waiting for the backer's 3-D Secure.
  if (!pledge && 'paymentIntentId' in intent) return completePendingChange(deps, intent.paymentIntentId);
  if (!pledge || !isAwaitingAuthentication(pledge.status)) return;
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
  // Two deliveries at once both find the pledge waiting; settlePlacement's guarded update lets one of them settle it.
  const settle = async (changes: Record<string, unknown>, movements?: Parameters<typeof settlePlacement>[4]) => {
    await settlePlacement(database, campaign, pledge, changes, movements);
  };

  if ('setupIntentId' in intent) {
    const setup = await stripe.setupIntents.retrieve(intent.setupIntentId);
    if (setup.status === 'succeeded') return settle({ status: 'authorized', payment_method_id: setup.payment_method as string });
    if (setup.status === 'requires_payment_method' || setup.status === 'canceled') return failAuthentication(database, pledge, setup.last_setup_error);
    return; // still with the backer: a later event will say how it ended
  }

  let payment: Stripe.PaymentIntent = await retrieveWithCharge(stripe, intent.paymentIntentId);
  const failure = payment.last_payment_error;
  if (payment.status === 'requires_payment_method') payment = await cancelFailedIntent(stripe, pledge.id, payment.id);
  switch (payment.status) {
    case 'succeeded': {
      const charge = payment.latest_charge as Stripe.Charge;
      const balance = charge.balance_transaction as Stripe.BalanceTransaction;
      return settle(
        { status: 'captured', payment_method_id: payment.payment_method as string, amount_captured: payment.amount_received, processing_fee: balance.fee, captured_at: new Date() },
        [
          { kind: 'capture', amount: payment.amount_received, stripeObjectId: charge.id, availableOn: fundsAvailableOn(balance) },
          { kind: 'processing_fee', amount: balance.fee, stripeObjectId: balance.id, availableOn: fundsAvailableOn(balance) },
        ],
      );
    }
    case 'requires_capture':
      return settle({ status: 'authorized', payment_method_id: payment.payment_method as string, hold_expires_at: new Date((payment.created + 7 * 86_400) * 1000) });
    case 'canceled': {
      const charge = payment.latest_charge as Stripe.Charge | null;
      if (payment.cancellation_reason === 'automatic' && charge?.status === 'succeeded') {
        // Authorized, then lapsed before we heard of it: the backer did authenticate and the card was saved for
        // off-session use, so settlement charges it as it does any hold that lapsed.
        return settle({ status: 'authorized', payment_method_id: payment.payment_method as string, hold_expires_at: new Date(payment.canceled_at! * 1000) });
      }
      return failAuthentication(database, pledge, failure ?? payment.last_payment_error);
    }
    default:
      return; // still with the backer: a later event will say how it ended
  }
}

const retrieveWithCharge = (stripe: Stripe, paymentIntentId: string) => stripe.paymentIntents.retrieve(paymentIntentId, { expand: ['latest_charge.balance_transaction'] });

/**
 * A failed challenge leaves the intent open to another try with its client secret. The pledge is about to fail and
 * free its reward unit, so the intent is cancelled first: otherwise a retry that later succeeded would take money
 * for a pledge that no longer exists. If a retry won the race, the intent as it is now says so.
 */
async function cancelFailedIntent(stripe: Stripe, pledgeId: string, paymentIntentId: string): Promise<Stripe.PaymentIntent> {
  try {
    await stripe.paymentIntents.cancel(paymentIntentId, { cancellation_reason: 'abandoned' }, { idempotencyKey: stripeKeys.pledgeRelease(pledgeId, paymentIntentId) });
  } catch (error) {
    if (!(error instanceof Stripe.errors.StripeInvalidRequestError || error instanceof Stripe.errors.StripeIdempotencyError)) throw error;
  }
  return retrieveWithCharge(stripe, paymentIntentId);
}

function failAuthentication(database: AppDatabase, pledge: Pledge, error: { code?: string; message?: string } | null | undefined): Promise<void> {
  return failPlacement(database, pledge, { code: error?.code ?? 'authentication_failed', message: error?.message ?? 'Authentication failed' }, AWAITING_AUTHENTICATION);
}

async function ensureCustomer(database: AppDatabase, stripe: Stripe, backer: User): Promise<string> {
  if (backer.stripe_customer_id) return backer.stripe_customer_id;
  const customer = await stripe.customers.create({ email: backer.email, name: backer.name, metadata: { user_id: backer.id } }, { idempotencyKey: stripeKeys.customer(backer.id) });
  await database.db.updateTable('users').set({ stripe_customer_id: customer.id }).where('id', '=', backer.id).where('stripe_customer_id', 'is', null).execute();
  return customer.id;
}

async function awaitingAction(database: AppDatabase, pledge: Pledge, ids: { payment_intent_id?: string; setup_intent_id?: string }, clientSecret: string): Promise<PlacedPledge> {
  const updated = await database.db
    .updateTable('pledges')
    .set({ status: 'requires_action', ...ids, updated_at: new Date() })
    .where('id', '=', pledge.id)
    .where('status', 'in', ['pending', 'requires_action'])
    .returningAll()
    .executeTakeFirst();
  // Stripe replays its first answer to a retry or the sweep even after the webhook completed the pledge.
  if (!updated) return { pledge: await currentPledge(database, pledge.id) };
  return { pledge: updated, nextAction: { type: 'use_stripe_sdk', clientSecret } };
}

function currentPledge(database: AppDatabase, id: string): Promise<Pledge> {
  return database.db.selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** The pledge's outcome, its ledger entries, newly crossed stretch goals and the receipt, in one transaction. */
async function settlePlacement(
  database: AppDatabase,
  campaign: Campaign,
  pledge: Pledge,
  changes: Record<string, unknown>,
  movements: Array<{ kind: 'capture' | 'processing_fee'; amount: number; stripeObjectId: string; availableOn: Date }> = [],
): Promise<Pledge> {
  return database.transaction(async (trx) => {
    // Locking the stretch goals first serialises concurrent placements of one campaign here, so each sees the
    // total the previous one left and a goal is crossed by exactly one pledge.
    const goals = await trx.selectFrom('stretch_goals').selectAll().where('campaign_id', '=', campaign.id).forUpdate().execute();
    const before = await tallyPledges(trx, campaign.id);
    const updated = await trx
      .updateTable('pledges')
      .set({ ...changes, authorized_at: new Date(), updated_at: new Date() })
      .where('id', '=', pledge.id)
      .where('status', 'in', ['pending', 'requires_action'])
      .returningAll()
      .executeTakeFirst();
    // Settled meanwhile by the same answer reaching a retry, the sweep or the webhook first: nothing left to record.
    if (!updated) return trx.selectFrom('pledges').selectAll().where('id', '=', pledge.id).executeTakeFirstOrThrow();
    await recordLedgerEntries(trx, movements.map((movement) => ({ ...movement, campaignId: campaign.id, pledgeId: pledge.id, currency: pledge.currency })));
    const after = before.totalPledged + updated.amount;
    const crossed = crossedStretchGoals(goals.map((goal) => ({ ...goal, targetAmount: goal.target_amount, unlockedAt: goal.unlocked_at })), before.totalPledged, after);
    for (const goal of crossed) {
      await trx.updateTable('stretch_goals').set({ unlocked_at: new Date() }).where('id', '=', goal.id).where('unlocked_at', 'is', null).execute();
      const backers = await trx.selectFrom('pledges').select('backer_id').distinct().where('campaign_id', '=', campaign.id).where('status', 'in', ['authorized', 'captured']).execute();
      await enqueueNotifications(
        trx,
        backers.map(({ backer_id }) => ({
          recipientId: backer_id,
          template: 'stretch_goal_unlocked' as const,
          payload: { campaignTitle: campaign.title, stretchGoalTitle: goal.title, targetAmount: fromMinorUnits(goal.target_amount, campaign.currency), currency: campaign.currency },
          dedupeKey: `stretch-goal-${goal.id}-unlocked-${backer_id}`,
        })),
      );
    }
    await enqueueNotifications(trx, [
      {
        recipientId: pledge.backer_id,
        template: 'pledge_receipt',
        payload: { pledgeId: pledge.id, campaignTitle: campaign.title, amount: fromMinorUnits(pledge.amount, pledge.currency), currency: pledge.currency },
        dedupeKey: `pledge-${pledge.id}-receipt`,
      },
    ]);
    return updated;
  });
}

async function failPlacement(
  database: AppDatabase,
  pledge: Pledge,
  error: { code?: string; decline_code?: string; message: string },
  from: Array<'pending' | 'requires_action'> = ['pending'],
): Promise<void> {
  await database.transaction(async (trx) => {
    const failed = await trx
      .updateTable('pledges')
      .set({ status: 'failed', failure_code: error.decline_code ?? error.code ?? 'card_declined', failure_message: error.message, updated_at: new Date() })
      .where('id', '=', pledge.id)
      .where('status', 'in', from)
      .executeTakeFirst();
    if (failed.numUpdatedRows > 0n && pledge.reward_id) await releaseRewardUnit(trx, pledge.reward_id);
  });
}
