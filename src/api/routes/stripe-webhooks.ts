/**
 * `POST /api/webhooks/stripe`: Stripe's events, on the raw body so the signature can be checked. Each event id is
 * recorded before it is acted on, so a replayed delivery is a no-op; handlers are idempotent, so a delivery that
 * failed half-way can be retried by Stripe, and two copies of one event arriving at once (both finding it not yet
 * processed) still act once. Handlers treat an event as a prompt and act on the object as Stripe has it now, never
 * on the event's copy of it: events arrive late and out of order, and an older copy would undo a newer state.
 */
import express, { Router } from 'express';
import type Stripe from 'stripe';
import { sql } from 'kysely';
import { z } from 'zod';
import { applyAccountUpdate } from '../../connect/account-updates';
import { recordExternalRefunds } from '../../pledges/external-refunds';
import { applyRefundUpdate } from '../../refunds/refund-failures';
import { syncDispute } from '../../disputes/dispute-sync';
import { completeAuthentication } from '../../pledges/complete-authentication';
import { type ApiContext, requireStripe } from '../context';
import { DomainError } from '../../errors';

/**
 * Signatures older than this are refused, so a captured delivery cannot be replayed later (Stripe's default and
 * recommendation). Stripe signs each retry afresh, so a late event still arrives with a current signature.
 */
const SIGNATURE_TOLERANCE_SECONDS = 300;

/** What the handlers read from an event; anything signed but shaped otherwise is refused before it is recorded. */
const stripeId = z.string().regex(/^[A-Za-z0-9_]{1,255}$/);
const eventShape = z
  .object({ id: stripeId.startsWith('evt_'), type: z.string().regex(/^[a-z_.]{1,100}$/), data: z.object({ object: z.object({ id: stripeId }).passthrough() }) })
  .passthrough();

export function stripeWebhookRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();

  router.post('/', express.raw({ type: '*/*', limit: '1mb' }), async (req, res) => {
    const stripe = requireStripe(context);
    const secret = context.config.stripe.webhookSecret;
    if (!secret) throw new DomainError('unavailable', 'webhooks_unavailable', 'STRIPE_WEBHOOK_SECRET is not configured');
    const signature = req.headers['stripe-signature'];
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(req.body as Buffer, typeof signature === 'string' ? signature : '', secret, SIGNATURE_TOLERANCE_SECONDS);
    } catch {
      throw new DomainError('invalid', 'invalid_signature', 'The Stripe-Signature header does not match this payload');
    }
    if (!eventShape.safeParse(event).success) throw new DomainError('invalid', 'invalid_event', 'The payload is not a Stripe event');
    const recorded = await db
      .insertInto('stripe_events')
      .values({ id: event.id, type: event.type, payload: JSON.stringify(event) })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    const earlier = recorded ? undefined : await db.selectFrom('stripe_events').select('processed_at').where('id', '=', event.id).executeTakeFirst();
    if (earlier?.processed_at) {
      res.json({ received: true, duplicate: true });
      return;
    }
    await handle(context, event);
    await db.updateTable('stripe_events').set({ processed_at: sql`now()` }).where('id', '=', event.id).execute();
    res.json({ received: true });
  });

  return router;
}

async function handle(context: ApiContext, event: Stripe.Event): Promise<void> {
  if (event.type === 'account.updated') {
    const waiting = await applyAccountUpdate({ database: context.database, stripe: requireStripe(context) }, event.data.object.id);
    for (const campaignId of waiting) await context.campaignWorkflows?.connectAccountUpdated(campaignId);
    return;
  }
  if (event.type.startsWith('payment_intent.') || event.type.startsWith('setup_intent.')) {
    await completeAuthentication({ database: context.database, stripe: requireStripe(context) }, event);
    return;
  }
  if (event.type === 'charge.refunded') {
    await recordExternalRefunds({ database: context.database, stripe: requireStripe(context) }, event.data.object);
  }
  // A refund that failed after it was made (or moved from pending): the books follow the refund as Stripe has it now.
  if (event.type === 'refund.updated' || event.type === 'refund.failed' || event.type === 'charge.refund.updated') {
    await applyRefundUpdate({ database: context.database, stripe: requireStripe(context) }, event.data.object.id);
    return;
  }
  // created, funds_withdrawn, updated, closed, funds_reinstated: each books the dispute as Stripe has it now.
  if (event.type.startsWith('charge.dispute.')) {
    await syncDispute({ database: context.database, stripe: requireStripe(context), recovery: context.config.disputes.recovery }, (event.data.object as { id: string }).id);
    return;
  }
  // Other events (transfer.*, customer.*) are recorded for the audit trail; the workflow's own calls already wrote
  // what they mean.
}
