/**
 * Support staff's side of disputes: the queue, evidence sent to Stripe, and accepting a loss. Stripe is written to
 * with keys built from the dispute and what is sent, and its answer (the dispute as it is now) is booked at once, as
 * the webhook that follows would book it. Each is audited once Stripe has taken it and it is booked.
 */
import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import { type DisputeStatus, OPEN_DISPUTE_STATUSES } from '../../db/schema';
import { type AuditContext, recordStaffAction } from '../audit/staff-audit';
import { conflict, DomainError, notFound } from '../errors';
import { stripeKeys } from '../payments/idempotency-keys';
import { type DisputeDeps, recordDispute } from './dispute-sync';
import { disputeView, type DisputeView } from './dispute-view';

/** `open`: what support can still act on; `closed`: decided; `all`; or one of Stripe's statuses. */
export type DisputeFilter = 'open' | 'closed' | 'all' | DisputeStatus;

/** Stripe takes evidence while the dispute needs a response, and accepts a loss then too. */
const ANSWERABLE: DisputeStatus[] = ['needs_response', 'warning_needs_response'];

export async function listDisputes(deps: Pick<DisputeDeps, 'database'>, filter: { status: DisputeFilter; limit: number }): Promise<DisputeView[]> {
  let query = deps.database.db.selectFrom('disputes').selectAll();
  if (filter.status === 'open') query = query.where('status', 'in', [...OPEN_DISPUTE_STATUSES]);
  else if (filter.status === 'closed') query = query.where('status', 'not in', [...OPEN_DISPUTE_STATUSES]);
  else if (filter.status !== 'all') query = query.where('status', '=', filter.status);
  // The most urgent first: the nearest evidence deadline.
  const rows = await query.orderBy('evidence_due_by', (ob) => ob.asc().nullsLast()).orderBy('created_at').orderBy('id').limit(filter.limit).execute();
  return rows.map(disputeView);
}

async function answerableDispute(deps: DisputeDeps, disputeId: string) {
  const dispute = await deps.database.db.selectFrom('disputes').selectAll().where('id', '=', disputeId).executeTakeFirst();
  if (!dispute) throw notFound('Dispute');
  if (!ANSWERABLE.includes(dispute.status)) throw conflict('dispute_not_open', `The dispute is ${dispute.status}: Stripe no longer takes evidence or an acceptance for it`);
  return dispute;
}

/** Stripe refused the request because of the dispute's state (decided meanwhile): a conflict, not our failure. */
async function askStripe(call: () => Promise<Stripe.Dispute>): Promise<Stripe.Dispute> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof Stripe.errors.StripeInvalidRequestError) throw new DomainError('conflict', 'dispute_not_open', error.message, { cause: error });
    throw error;
  }
}

/** Text evidence (Stripe's field names), staged and, unless `submit` is false, submitted for the issuer to decide. */
export async function submitEvidence(deps: DisputeDeps, input: { disputeId: string; evidence: Record<string, string>; submit: boolean; audit: AuditContext }): Promise<DisputeView> {
  const dispute = await answerableDispute(deps, input.disputeId);
  const sorted = Object.fromEntries(Object.entries(input.evidence).sort(([a], [b]) => a.localeCompare(b)));
  const digest = createHash('sha256').update(JSON.stringify({ evidence: sorted, submit: input.submit })).digest('hex').slice(0, 32);
  const updated = await askStripe(() =>
    deps.stripe.disputes.update(
      dispute.stripe_dispute_id,
      { evidence: sorted, submit: input.submit, metadata: { dispute_id: dispute.id } },
      { idempotencyKey: stripeKeys.disputeEvidence(dispute.stripe_dispute_id, digest) },
    ),
  );
  const view = disputeView((await recordDispute(deps, updated))!);
  // Which fields, not their text: evidence carries the backer's personal data, and Stripe keeps it.
  await recordStaffAction(deps.database.db, input.audit, {
    action: 'dispute.evidence_submitted',
    objectType: 'dispute',
    objectId: dispute.id,
    details: { stripeDisputeId: dispute.stripe_dispute_id, fields: Object.keys(sorted), submitted: input.submit, evidenceDigest: digest, status: updated.status },
  });
  return view;
}

/** Accepts the loss (Stripe's `close`): the dispute is lost at once, and who bears it is decided as for any loss. */
export async function acceptDispute(deps: DisputeDeps, input: { disputeId: string; audit: AuditContext }): Promise<DisputeView> {
  const dispute = await answerableDispute(deps, input.disputeId);
  const closed = await askStripe(() => deps.stripe.disputes.close(dispute.stripe_dispute_id, {}, { idempotencyKey: stripeKeys.disputeClose(dispute.stripe_dispute_id) }));
  const view = disputeView((await recordDispute(deps, closed))!);
  await recordStaffAction(deps.database.db, input.audit, {
    action: 'dispute.accepted',
    objectType: 'dispute',
    objectId: dispute.id,
    details: { stripeDisputeId: dispute.stripe_dispute_id, amount: dispute.amount, currency: dispute.currency, statusBefore: dispute.status, status: closed.status },
  });
  return view;
}
