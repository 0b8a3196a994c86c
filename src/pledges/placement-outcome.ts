/**
 * How a placement's answer from Stripe is written down: the pledge held, charged or saved (with its ledger entries,
 * the stretch goals it crossed and the backer's receipt, in one transaction), failed (freeing its reward unit), or
 * waiting for the backer's 3-D Secure. Every write is guarded by the pledge's status, because the same answer can
 * reach the request, its retry, the sweep and the webhook.
 */
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Campaign, type Pledge } from '../../db/schema';
import { captureMovements, type ChargeMovement, recordLedgerEntries } from '../ledger/ledger';
import { fromMinorUnits } from '../money';
import { enqueueNotifications } from '../notifications/outbox';
import { stripeKeys } from '../payments/idempotency-keys';
import { crossedStretchGoals } from '../rules/outcome';
import { tallyPledges } from '../campaigns/tally';
import { releaseRewardUnit } from './reward-units';

export interface PlacedPledge {
  pledge: Pledge;
  nextAction?: { type: 'use_stripe_sdk'; clientSecret: string };
}

/** A ledger movement of a placement: the campaign and pledge it belongs to are filled in when it is recorded. */
export type PlacementMovement = ChargeMovement;

/**
 * A placement charged in full: the pledge's columns and its ledger entries (the capture in the campaign's and the
 * settlement currency, and Stripe's fee on it in the settlement currency, from the charge's balance transaction).
 */
export function collectedPayment(intent: Stripe.PaymentIntent, amount: number): { changes: Record<string, unknown>; movements: PlacementMovement[] } {
  const charge = intent.latest_charge as Stripe.Charge;
  const balance = charge.balance_transaction as Stripe.BalanceTransaction;
  return {
    changes: { status: 'captured', payment_method_id: intent.payment_method as string, amount_captured: amount, processing_fee: balance.fee, captured_at: new Date() },
    movements: captureMovements({ chargeId: charge.id, amount, currency: intent.currency.toUpperCase(), balance }),
  };
}

/**
 * When Stripe stops letting a hold be captured: its charge's `capture_before`, which depends on who initiated the
 * authorization and the card's brand (7 days for a customer-initiated one; 4 days 18 hours for a merchant-initiated
 * Visa one). Null when Stripe did not say: such a hold is never relied upon. The intent's `latest_charge` must be
 * expanded.
 */
export function holdExpiresAt(intent: Stripe.PaymentIntent): Date | null {
  const charge = intent.latest_charge;
  if (typeof charge === 'string') throw new Error(`PaymentIntent ${intent.id} needs its latest_charge expanded`);
  const captureBefore = charge?.payment_method_details?.card?.capture_before;
  return captureBefore ? new Date(captureBefore * 1000) : null;
}

/**
 * Settlement starts at the deadline and captures a large campaign under Stripe's rate limit, so a hold must outlast
 * the deadline by this much to be relied upon.
 */
const CAPTURE_MARGIN_MS = 3_600_000;

/**
 * Can settlement capture this hold at the deadline? If not, the pledge is charged off-session on its saved card
 * instead (placement saved it with `setup_future_usage`), and the hold is only money tied up on the backer's card.
 */
export const holdCoversDeadline = (expiresAt: Date | null, deadline: Date): expiresAt is Date =>
  expiresAt !== null && deadline.getTime() + CAPTURE_MARGIN_MS <= expiresAt.getTime();

/**
 * The pledge's columns for an authorized hold: the hold with its real expiry when it outlasts the deadline, and
 * otherwise the saved card alone (no hold to capture; the caller releases it).
 */
export function heldOrSaved(intent: Stripe.PaymentIntent, deadline: Date): { payment_intent_id: string | null; payment_method_id: string; hold_expires_at: Date | null } {
  const expiresAt = holdExpiresAt(intent);
  const paymentMethodId = intent.payment_method as string;
  if (holdCoversDeadline(expiresAt, deadline)) return { payment_intent_id: intent.id, payment_method_id: paymentMethodId, hold_expires_at: expiresAt };
  return { payment_intent_id: null, payment_method_id: paymentMethodId, hold_expires_at: null };
}

/** Cancels a hold the pledge does not use. Best effort: a hold Stripe does not hear cancelled lapses on its own, charging nobody. */
export async function releaseUnusedHold(stripe: Stripe, pledgeId: string, paymentIntentId: string): Promise<void> {
  await stripe.paymentIntents.cancel(paymentIntentId, { cancellation_reason: 'abandoned' }, { idempotencyKey: stripeKeys.pledgeRelease(pledgeId, paymentIntentId) }).catch(() => undefined);
}

export async function awaitingAction(database: AppDatabase, pledge: Pledge, ids: { payment_intent_id?: string; setup_intent_id?: string }, clientSecret: string): Promise<PlacedPledge> {
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

export function currentPledge(database: AppDatabase, id: string): Promise<Pledge> {
  return database.db.selectFrom('pledges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** The pledge's outcome, its ledger entries, newly crossed stretch goals and the receipt, in one transaction. */
export async function settlePlacement(database: AppDatabase, campaign: Campaign, pledge: Pledge, changes: Record<string, unknown>, movements: PlacementMovement[] = []): Promise<Pledge> {
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
    await recordLedgerEntries(trx, movements.map((movement) => ({ ...movement, campaignId: campaign.id, pledgeId: pledge.id })));
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

export async function failPlacement(
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
