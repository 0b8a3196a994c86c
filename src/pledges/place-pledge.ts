/**
 * Placing a pledge, the one money call the API makes synchronously (the backer needs an answer now). Crash-safe in
 * this order: the pledge row (and its reward unit) is committed before any Stripe call; every Stripe call carries a
 * key from the pledge id, so a retry is the same request; the outcome is written with its ledger entries in one
 * transaction. keep-it-all charges now; all-or-nothing and hybrid hold the card when the deadline is within the hold
 * window, and otherwise save it for an off-session charge at the deadline.
 */
import { sql } from 'kysely';
import Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Campaign, type Pledge, type User } from '../../db/schema';
import { ApiError, conflict, invalidField, notFound, unprocessable } from '../api/errors';
import { type Config } from '../config';
import { recordLedgerEntries } from '../ledger/ledger';
import { fromMinorUnits, minimumChargeAmount, MoneyError, toMinorUnits } from '../money';
import { enqueueNotifications } from '../notifications/outbox';
import { stripeKeys } from '../payments/idempotency-keys';
import { crossedStretchGoals } from '../rules/outcome';
import { tallyPledges } from '../campaigns/tally';

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
  let amount: number;
  try {
    amount = toMinorUnits(request.amount, campaign.currency);
  } catch (error) {
    if (error instanceof MoneyError) throw invalidField('amount', error.message);
    throw error;
  }
  if (amount < minimumChargeAmount(campaign.currency)) {
    throw unprocessable('amount_below_currency_minimum', `The smallest pledge is ${fromMinorUnits(minimumChargeAmount(campaign.currency), campaign.currency)} ${campaign.currency}`);
  }

  const placement: Placement = campaign.model === 'kia' ? 'charge' : campaign.ends_at.getTime() - Date.now() <= config.campaigns.holdWindowMs ? 'hold' : 'save';

  // 1. The pledge row and its reward unit, committed before Stripe hears of it.
  const pledge = await database.transaction(async (trx) => {
    // FOR SHARE: closing pledging (an UPDATE of this row) waits for us, and we see it once it committed.
    const locked = await trx.selectFrom('campaigns').select(['status', 'ends_at']).where('id', '=', campaign.id).forShare().executeTakeFirstOrThrow();
    if (locked.status !== 'active' || locked.ends_at.getTime() <= Date.now()) throw unprocessable('campaign_not_active', 'This campaign is not taking pledges');
    if (request.rewardId) {
      const reward = await trx.selectFrom('rewards').selectAll().where('id', '=', request.rewardId).where('campaign_id', '=', campaign.id).executeTakeFirst();
      if (!reward) throw invalidField('rewardId', 'is not a reward of this campaign');
      if (amount < reward.min_pledge) {
        throw unprocessable('amount_below_reward_minimum', `This reward needs a pledge of at least ${fromMinorUnits(reward.min_pledge, campaign.currency)} ${campaign.currency}`);
      }
      const claimed = await trx
        .updateTable('rewards')
        .set({ claimed_qty: sql`claimed_qty + 1` })
        .where('id', '=', reward.id)
        .where((eb) => eb.or([eb('limit_qty', 'is', null), eb('claimed_qty', '<', eb.ref('limit_qty'))]))
        .executeTakeFirst();
      if (claimed.numUpdatedRows === 0n) throw conflict('reward_sold_out', 'This reward is sold out');
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

  // 2. Stripe, with keys from the pledge id.
  try {
    const customerId = await ensureCustomer(database, stripe, request.backer);
    return await askStripe(database, stripe, campaign, { ...pledge, placement, payment_method_id: request.paymentMethodId }, customerId);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError) {
      await failPlacement(database, pledge, error);
      if (error instanceof Stripe.errors.StripeCardError) {
        throw new ApiError(402, error.code ?? 'card_declined', error.message, error.decline_code ? [{ path: 'paymentMethodId', message: error.decline_code }] : undefined);
      }
      throw new ApiError(400, 'invalid_payment_method', error.message, [{ path: 'paymentMethodId', message: error.message }]);
    }
    // Anything else (Stripe unreachable): the pledge stays pending; a retry with the same Idempotency-Key, or the
    // sweep (resolvePendingPledges), asks Stripe again with the same key and finds out what happened.
    throw new ApiError(503, 'payment_provider_unavailable', 'The card network did not answer; try again with the same Idempotency-Key');
  }
}

type Placement = 'hold' | 'save' | 'charge';

/**
 * The one Stripe request a pledge's placement makes, built only from the pledge row, so placement and the sweep
 * send byte-for-byte the same request under the same key (Stripe replays it rather than charging twice).
 */
async function askStripe(database: AppDatabase, stripe: Stripe, campaign: Campaign, pledge: Pledge, customerId: string): Promise<PlacedPledge> {
  const metadata = { pledge_id: pledge.id, campaign_id: campaign.id };
  const key = { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id) };
  if (pledge.placement === 'save') {
    const setup = await stripe.setupIntents.create({ customer: customerId, payment_method: pledge.payment_method_id!, confirm: true, usage: 'off_session', metadata }, key);
    if (setup.status === 'requires_action') return awaitingAction(database, pledge, { setup_intent_id: setup.id }, setup.client_secret!);
    return { pledge: await settlePlacement(database, campaign, pledge, { status: 'authorized', setup_intent_id: setup.id, payment_method_id: setup.payment_method as string }) };
  }
  const intent = await stripe.paymentIntents.create(
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
  );
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
          { kind: 'capture', amount: pledge.amount, stripeObjectId: charge.id },
          { kind: 'processing_fee', amount: balance.fee, stripeObjectId: balance.id },
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
 * Pledges left `pending` (a crash, or Stripe unreachable, between the row and Stripe's answer) are resolved by
 * asking Stripe again with the same request and key: Stripe replays what it did, or does it now. Card errors fail
 * the pledge and free its reward unit. Returns how many pledges it settled.
 */
export async function resolvePendingPledges(deps: { database: AppDatabase; stripe: Stripe }, options: { olderThanMs: number; limit?: number }): Promise<number> {
  const { database, stripe } = deps;
  const pending = await database.db
    .selectFrom('pledges')
    .innerJoin('users', 'users.id', 'pledges.backer_id')
    .selectAll('pledges')
    .select('users.stripe_customer_id')
    .where('pledges.status', '=', 'pending')
    .where('pledges.placement', 'is not', null)
    .where('pledges.created_at', '<', new Date(Date.now() - options.olderThanMs))
    .orderBy('pledges.created_at')
    .limit(options.limit ?? 100)
    .execute();
  let resolved = 0;
  for (const { stripe_customer_id: customerId, ...pledge } of pending) {
    const campaign = await database.db.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
    try {
      if (!customerId) throw new Stripe.errors.StripeInvalidRequestError({ message: 'the backer never became a Stripe customer', type: 'invalid_request_error' });
      await askStripe(database, stripe, campaign, pledge, customerId);
      resolved++;
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError || error instanceof Stripe.errors.StripeInvalidRequestError) {
        await failPlacement(database, pledge, error);
        resolved++;
      }
      // Still unreachable: try again on the next sweep.
    }
  }
  return resolved;
}

/**
 * A pledge that waited for 3-D Secure learns the outcome from Stripe's webhook. Idempotent: only a pledge still
 * waiting changes, so duplicate or late events do nothing.
 */
export async function completeAuthentication(deps: { database: AppDatabase; stripe: Stripe }, event: Stripe.Event): Promise<void> {
  const { database, stripe } = deps;
  const db = database.db;
  const object = event.data.object as { id: string };
  const column = event.type.startsWith('setup_intent.') ? 'setup_intent_id' : 'payment_intent_id';
  const pledge = await db.selectFrom('pledges').selectAll().where(column, '=', object.id).executeTakeFirst();
  if (!pledge || (pledge.status !== 'requires_action' && pledge.status !== 'pending')) return;
  const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).executeTakeFirstOrThrow();
  switch (event.type) {
    case 'setup_intent.succeeded': {
      const setup = event.data.object as Stripe.SetupIntent;
      await settlePlacement(database, campaign, pledge, { status: 'authorized', payment_method_id: setup.payment_method as string });
      return;
    }
    case 'payment_intent.amount_capturable_updated': {
      const intent = event.data.object as Stripe.PaymentIntent;
      await settlePlacement(database, campaign, pledge, {
        status: 'authorized',
        payment_method_id: intent.payment_method as string,
        hold_expires_at: new Date((intent.created + 7 * 86_400) * 1000),
      });
      return;
    }
    case 'payment_intent.succeeded': {
      const intent = await stripe.paymentIntents.retrieve(object.id, { expand: ['latest_charge.balance_transaction'] });
      const charge = intent.latest_charge as Stripe.Charge;
      const balance = charge.balance_transaction as Stripe.BalanceTransaction;
      await settlePlacement(
        database,
        campaign,
        pledge,
        { status: 'captured', payment_method_id: intent.payment_method as string, amount_captured: intent.amount_received, processing_fee: balance.fee, captured_at: new Date() },
        [
          { kind: 'capture', amount: intent.amount_received, stripeObjectId: charge.id },
          { kind: 'processing_fee', amount: balance.fee, stripeObjectId: balance.id },
        ],
      );
      return;
    }
    case 'payment_intent.payment_failed':
    case 'setup_intent.setup_failed': {
      const failure = (event.data.object as { last_payment_error?: { code?: string; message?: string }; last_setup_error?: { code?: string; message?: string } });
      const error = failure.last_payment_error ?? failure.last_setup_error ?? {};
      await failPlacement(database, pledge, { code: error.code ?? 'authentication_failed', message: error.message ?? 'Authentication failed' }, ['requires_action', 'pending']);
      return;
    }
    default:
      return;
  }
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
    .returningAll()
    .executeTakeFirstOrThrow();
  return { pledge: updated, nextAction: { type: 'use_stripe_sdk', clientSecret } };
}

/** The pledge's outcome, its ledger entries, newly crossed stretch goals and the receipt, in one transaction. */
async function settlePlacement(
  database: AppDatabase,
  campaign: Campaign,
  pledge: Pledge,
  changes: Record<string, unknown>,
  movements: Array<{ kind: 'capture' | 'processing_fee'; amount: number; stripeObjectId: string }> = [],
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
      .executeTakeFirstOrThrow();
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
    if (failed.numUpdatedRows > 0n && pledge.reward_id) {
      await trx.updateTable('rewards').set({ claimed_qty: sql`claimed_qty - 1` }).where('id', '=', pledge.reward_id).execute();
    }
  });
}
