/**
 * Stripe activities that settle one pledge: capture the hold, or charge the saved card off-session when there is
 * no valid hold; release a hold; mark a pledge errored or dropped. Money moves and its ledger entries are written
 * in one transaction, guarded by the pledge's state, so a retried activity records nothing twice; Stripe calls
 * carry keys from `stripeKeys`, so a retried call charges nobody twice.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type Stripe from 'stripe';
import { sql } from 'kysely';
import { COUNTED_PLEDGE_STATUSES, type Pledge } from '../db/schema';
import { captureMovements, recordLedgerEntries } from '../src/ledger/ledger';
import { fromMinorUnits } from '../src/money';
import { enqueueNotifications } from '../src/notifications/outbox';
import { releaseRewardUnit } from '../src/pledges/reward-units';
import { stripeKeys } from '../src/payments/idempotency-keys';
import { type Outcome, settlementAction } from '../src/rules/outcome';
import { type ActivityDeps } from './deps';
import { callStripe, cardFailure, toActivityFailure } from './stripe-failures';

export interface CaptureResult {
  pledgeId: string;
  amountCaptured: number;
  processingFee: number;
  paymentIntentId: string;
  /** How the money was collected: the original hold, or an off-session charge of the saved card. */
  method: 'hold' | 'off_session';
}

/** A pledge of a settlement batch: captured (a funded campaign) or released (a failed or cancelled one). */
export interface BatchPledge {
  pledgeId: string;
  action: 'capture' | 'release';
}

/**
 * What became of a pledge of a batch: settled, or handed back to be settled on its own (`settlePledgeWorkflow`),
 * which retries, waits for a new card and waits out outages as one pledge's settlement always has.
 */
export type BatchSettlement =
  | { pledgeId: string; kind: 'captured'; amount: number }
  | { pledgeId: string; kind: 'released' }
  | { pledgeId: string; kind: 'on_its_own'; reason: string };

/** How often a batch tells Temporal it is alive (its heartbeat timeout is longer). */
const BATCH_HEARTBEAT_MS = 5_000;

const EXPAND_CHARGE = ['latest_charge.balance_transaction'];

function chargeOf(intent: Stripe.PaymentIntent): { chargeId: string; fee: number; balance: Stripe.BalanceTransaction } {
  const charge = intent.latest_charge;
  if (!charge || typeof charge === 'string') throw new Error(`PaymentIntent ${intent.id} has no expanded charge`);
  const balance = charge.balance_transaction;
  if (!balance || typeof balance === 'string') throw new Error(`charge ${charge.id} has no expanded balance transaction`);
  return { chargeId: charge.id, fee: balance.fee, balance };
}

export function createPledgeSettlementActivities({ database, stripe, config }: ActivityDeps) {
  const db = database.db;
  type LoadedPledge = Awaited<ReturnType<typeof loadPledge>>;

  async function loadPledge(pledgeId: string) {
    return db
      .selectFrom('pledges')
      .innerJoin('users', 'users.id', 'pledges.backer_id')
      .innerJoin('campaigns', 'campaigns.id', 'pledges.campaign_id')
      .selectAll('pledges')
      .select(['users.stripe_customer_id', 'campaigns.title as campaign_title'])
      .where('pledges.id', '=', pledgeId)
      .executeTakeFirstOrThrow();
  }

  /** The pledges of a batch, in one query. */
  async function loadPledges(pledgeIds: string[]) {
    if (pledgeIds.length === 0) return new Map<string, LoadedPledge>();
    const rows = await db
      .selectFrom('pledges')
      .innerJoin('users', 'users.id', 'pledges.backer_id')
      .innerJoin('campaigns', 'campaigns.id', 'pledges.campaign_id')
      .selectAll('pledges')
      .select(['users.stripe_customer_id', 'campaigns.title as campaign_title'])
      .where('pledges.id', 'in', pledgeIds)
      .execute();
    return new Map(rows.map((row) => [row.id, row]));
  }

  /** Notes that settlement `attempt` of these pledges has begun, before anything of it reaches Stripe. */
  async function recordAttempt(pledgeIds: string[], attempt: number): Promise<void> {
    await db
      .updateTable('pledges')
      .set({ settlement_attempts: sql`greatest(settlement_attempts, ${attempt})` })
      .where('id', 'in', pledgeIds)
      .execute();
  }

  /** Records a successful collection: pledge captured, capture and processing-fee ledger entries, one transaction. */
  async function recordCapture(pledge: Pledge, intent: Stripe.PaymentIntent, method: CaptureResult['method']): Promise<CaptureResult> {
    const { chargeId, fee, balance } = chargeOf(intent);
    const amount = intent.amount_received;
    await database.transaction(async (trx) => {
      const updated = await trx
        .updateTable('pledges')
        .set({
          status: 'captured',
          amount_captured: amount,
          processing_fee: fee,
          payment_intent_id: intent.id,
          captured_at: new Date(),
          updated_at: new Date(),
          failure_code: null,
          failure_message: null,
        })
        .where('id', '=', pledge.id)
        .where('status', 'in', ['authorized', 'errored'])
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) return; // recorded by an earlier attempt
      // The capture in both currencies and Stripe's fee in the settlement currency, from the balance transaction.
      const movements = captureMovements({ chargeId, amount, currency: pledge.currency, balance });
      await recordLedgerEntries(trx, movements.map((movement) => ({ ...movement, campaignId: pledge.campaign_id, pledgeId: pledge.id })));
    });
    return { pledgeId: pledge.id, amountCaptured: amount, processingFee: fee, paymentIntentId: intent.id, method };
  }

  /** Charges the pledge's saved card off-session, once per settlement `attempt` (its idempotency key). */
  function chargeSavedCard(pledge: Pledge & { stripe_customer_id: string | null }, attempt: number): Promise<Stripe.PaymentIntent> {
    return callStripe(() =>
      stripe.paymentIntents.create(
        {
          amount: pledge.amount,
          currency: pledge.currency.toLowerCase(),
          customer: pledge.stripe_customer_id!,
          payment_method: pledge.payment_method_id!,
          off_session: true,
          confirm: true,
          transfer_group: pledge.campaign_id,
          metadata: { pledge_id: pledge.id, campaign_id: pledge.campaign_id, attempt: String(attempt) },
          expand: EXPAND_CHARGE,
        },
        { idempotencyKey: stripeKeys.pledgeCharge(pledge.id, attempt) },
      ),
    );
  }

  /** The off-session charge of this pledge's settlement `attempt`, if Stripe has one (found by its metadata). */
  async function findOffSessionCharge(customerId: string, pledgeId: string, attempt: number): Promise<Stripe.PaymentIntent | undefined> {
    // Listing by customer is strongly consistent (search is not), and a backer has few PaymentIntents.
    for await (const intent of stripe.paymentIntents.list({ customer: customerId, limit: 100 })) {
      if (intent.metadata.pledge_id === pledgeId && intent.metadata.attempt === String(attempt)) {
        return callStripe(() => stripe.paymentIntents.retrieve(intent.id, { expand: EXPAND_CHARGE }));
      }
    }
    return undefined;
  }

  /**
   * Collects an authorized or errored pledge. `attempt` is the settlement attempt (1 for the first, +1 each time
   * the backer supplies a new card): it names the off-session charge's idempotency key, so activity retries of
   * one attempt are one request to Stripe, and a new attempt after a definitive decline is a new request.
   */
  async function captureLoaded(pledge: LoadedPledge, attempt: number, options: { attemptRecorded?: boolean } = {}): Promise<CaptureResult> {
    if (pledge.status === 'captured' && pledge.payment_intent_id) {
      const intent = await callStripe(() => stripe.paymentIntents.retrieve(pledge.payment_intent_id!, { expand: EXPAND_CHARGE }));
      return { pledgeId: pledge.id, amountCaptured: pledge.amount_captured, processingFee: pledge.processing_fee, paymentIntentId: intent.id, method: 'hold' };
    }
    if (pledge.status !== 'authorized' && pledge.status !== 'errored') {
      throw ApplicationFailure.create({ type: 'PledgeNotCapturable', message: `pledge is ${pledge.status}`, nonRetryable: true });
    }
    if (!options.attemptRecorded) await recordAttempt([pledge.id], attempt);

    // The hold, if there is one: captured in one request (settlement is bound by Stripe's rate limit) while its
    // `capture_before` has not passed. A hold Stripe will not capture was captured before (a lost answer past the
    // key's 24 h) or has lapsed: one read tells which, and a lapsed hold falls through to the saved card. Past
    // `capture_before` no capture is tried; the read is made only if an earlier execution may have captured it.
    const holdLapsed = pledge.hold_expires_at !== null && pledge.hold_expires_at.getTime() <= Date.now();
    if (pledge.payment_intent_id && attempt === 1 && holdLapsed && pledge.settlement_attempts >= 1) {
      const hold = await callStripe(() => stripe.paymentIntents.retrieve(pledge.payment_intent_id!, { expand: EXPAND_CHARGE }));
      if (hold.status === 'succeeded') return recordCapture(pledge, hold, 'hold');
    }
    if (pledge.payment_intent_id && attempt === 1 && !holdLapsed) {
      try {
        const captured = await stripe.paymentIntents.capture(
          pledge.payment_intent_id,
          { expand: EXPAND_CHARGE },
          { idempotencyKey: stripeKeys.pledgeCapture(pledge.id) },
        );
        return recordCapture(pledge, captured, 'hold');
      } catch (error) {
        if (!isUnexpectedState(error)) throw toActivityFailure(error);
        const hold = await callStripe(() => stripe.paymentIntents.retrieve(pledge.payment_intent_id!, { expand: EXPAND_CHARGE }));
        if (hold.status === 'succeeded') return recordCapture(pledge, hold, 'hold');
      }
    }

    if (!pledge.payment_method_id || !pledge.stripe_customer_id) {
      throw cardFailure({ code: 'no_saved_payment_method', message: 'No saved card to charge' });
    }
    // An earlier execution of this attempt got this far, so its charge may exist with the answer lost. Stripe keeps
    // an idempotency key for 24 h, and this one may come back later than that (ops retrying a settlement that was
    // stuck through an outage): Stripe is asked for that charge rather than trusted to replay it.
    const earlier = pledge.settlement_attempts >= attempt ? await findOffSessionCharge(pledge.stripe_customer_id, pledge.id, attempt) : undefined;
    const intent = earlier ?? (await chargeSavedCard(pledge, attempt));
    if (intent.status === 'requires_payment_method' || intent.status === 'canceled') {
      // Only a charge found again can be here (a new one that is declined throws): it was declined back then.
      const declined = intent.last_payment_error;
      throw cardFailure({ code: declined?.code ?? 'card_declined', ...(declined?.decline_code ? { declineCode: declined.decline_code } : {}), message: declined?.message ?? 'The card was declined', paymentIntentId: intent.id });
    }
    if (intent.status !== 'succeeded') {
      // An off-session confirmation that needs the customer (3-D Secure) is a failure the backer must fix.
      throw cardFailure({ code: 'authentication_required', message: 'The card needs authentication', paymentIntentId: intent.id });
    }
    return recordCapture(pledge, intent, 'off_session');
  }

  /** Cancels a hold (or simply stops holding a saved card) and frees the pledge's reward unit. */
  async function releaseLoaded(pledge: LoadedPledge): Promise<void> {
    if (pledge.status !== 'authorized') return;
    if (pledge.payment_intent_id) {
      const hold = await callStripe(() => stripe.paymentIntents.retrieve(pledge.payment_intent_id!));
      if (hold.status === 'requires_capture' || hold.status === 'requires_payment_method' || hold.status === 'requires_confirmation' || hold.status === 'requires_action') {
        await callStripe(() =>
          stripe.paymentIntents.cancel(hold.id, { cancellation_reason: 'abandoned' }, { idempotencyKey: stripeKeys.pledgeRelease(pledge.id, hold.id) }),
        );
      }
    }
    await database.transaction(async (trx) => {
      const released = await trx
        .updateTable('pledges')
        .set({ status: 'released', released_at: new Date(), updated_at: new Date() })
        .where('id', '=', pledge.id)
        .where('status', '=', 'authorized')
        .executeTakeFirst();
      if (released.numUpdatedRows > 0n && pledge.reward_id) {
        await releaseRewardUnit(trx, pledge.reward_id);
      }
    });
  }

  return {
    /** Collects an authorized or errored pledge: see `captureLoaded`. */
    async capturePledge(input: { pledgeId: string; attempt: number }): Promise<CaptureResult> {
      return captureLoaded(await loadPledge(input.pledgeId), input.attempt);
    },

    /**
     * Settles a batch of a campaign's pledges (the campaign workflow's fast path), each as `capturePledge` (first
     * attempt) or `releasePledge` would, concurrently: Stripe's pace is the process's rate limiter's. A pledge that
     * is not simply settled (a declined card, a pledge cancelled meanwhile, Stripe failing past the client's own
     * retries) is handed back to be settled on its own, where the same idempotency keys make a second try safe. Run
     * again (a worker died), it reads what the earlier run recorded: a pledge already captured costs no Stripe call.
     */
    async settlePledges(input: { pledges: BatchPledge[] }): Promise<BatchSettlement[]> {
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(), BATCH_HEARTBEAT_MS);
      try {
        const rows = await loadPledges(input.pledges.map((pledge) => pledge.pledgeId));
        // The first attempt of every capture of the batch is noted in one statement rather than one each.
        const capturing = new Set(
          input.pledges.filter(({ pledgeId, action }) => action === 'capture' && ['authorized', 'errored'].includes(rows.get(pledgeId)?.status ?? '')).map((pledge) => pledge.pledgeId),
        );
        if (capturing.size > 0) await recordAttempt([...capturing], 1);
        return await Promise.all(
          input.pledges.map(async ({ pledgeId, action }): Promise<BatchSettlement> => {
            const pledge = rows.get(pledgeId);
            try {
              if (!pledge) throw new Error('pledge not found');
              if (action === 'release') {
                await releaseLoaded(pledge);
                return { pledgeId, kind: 'released' };
              }
              if (pledge.status === 'captured') return { pledgeId, kind: 'captured', amount: pledge.amount_captured };
              const captured = await captureLoaded(pledge, 1, { attemptRecorded: capturing.has(pledgeId) });
              return { pledgeId, kind: 'captured', amount: captured.amountCaptured };
            } catch (error) {
              return { pledgeId, kind: 'on_its_own', reason: error instanceof Error ? error.message : String(error) };
            }
          }),
        );
      } finally {
        clearInterval(heartbeat);
      }
    },

    /** How many of the campaign's pledges the outcome settles (captures, releases or refunds): settlement's total. */
    async countPledgesToSettle(input: { campaignId: string; outcome: Outcome }): Promise<number> {
      const rows = await db
        .selectFrom('pledges')
        .select(['status', sql<number>`count(*)::int`.as('count')])
        .where('campaign_id', '=', input.campaignId)
        .where('status', 'in', COUNTED_PLEDGE_STATUSES)
        .groupBy('status')
        .execute();
      return rows.reduce((total, row) => total + (settlementAction(input.outcome, row.status) === 'none' ? 0 : Number(row.count)), 0);
    },

    /** Cancels a hold (or simply stops holding a saved card) and frees the pledge's reward unit. */
    async releasePledge(input: { pledgeId: string }): Promise<void> {
      await releaseLoaded(await loadPledge(input.pledgeId));
    },

    /** The charge failed: the backer is told how to fix it before `graceEndsAt`. */
    async markPledgeErrored(input: { pledgeId: string; code: string; message: string; graceEndsAt: string; attempt: number }): Promise<void> {
      const pledge = await loadPledge(input.pledgeId);
      await database.transaction(async (trx) => {
        await trx
          .updateTable('pledges')
          .set({
            status: 'errored',
            failure_code: input.code,
            failure_message: input.message,
            errored_at: new Date(),
            grace_ends_at: new Date(input.graceEndsAt),
            updated_at: new Date(),
          })
          .where('id', '=', pledge.id)
          .where('status', 'in', ['authorized', 'errored'])
          .execute();
        await enqueueNotifications(trx, [
          {
            recipientId: pledge.backer_id,
            template: 'payment_failed',
            payload: {
              pledgeId: pledge.id,
              campaignTitle: pledge.campaign_title,
              amount: fromMinorUnits(pledge.amount, pledge.currency),
              currency: pledge.currency,
              reason: input.message,
              graceEndsAt: input.graceEndsAt,
              fixUrl: `${config.http.publicUrl}/pledges/${pledge.id}/payment-method`,
            },
            dedupeKey: `pledge-${pledge.id}-payment-failed-${input.attempt}`,
          },
        ]);
      });
    },

    /** The grace window passed without a working card: the pledge is dropped and its reward unit freed. */
    async dropPledge(input: { pledgeId: string }): Promise<void> {
      const pledge = await loadPledge(input.pledgeId);
      await database.transaction(async (trx) => {
        const dropped = await trx
          .updateTable('pledges')
          .set({ status: 'dropped', dropped_at: new Date(), updated_at: new Date() })
          .where('id', '=', pledge.id)
          .where('status', 'in', ['authorized', 'errored'])
          .executeTakeFirst();
        if (dropped.numUpdatedRows === 0n) return;
        if (pledge.reward_id) {
          await releaseRewardUnit(trx, pledge.reward_id);
        }
        await enqueueNotifications(trx, [
          {
            recipientId: pledge.backer_id,
            template: 'pledge_dropped',
            payload: { pledgeId: pledge.id, campaignTitle: pledge.campaign_title, amount: fromMinorUnits(pledge.amount, pledge.currency), currency: pledge.currency },
            dedupeKey: `pledge-${pledge.id}-dropped`,
          },
        ]);
      });
    },
  };
}

function isUnexpectedState(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === 'payment_intent_unexpected_state';
}
