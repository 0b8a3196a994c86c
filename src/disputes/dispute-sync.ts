/**
 * A chargeback as the platform books it. Every `charge.dispute.*` event is only a prompt: the dispute is retrieved
 * from Stripe and written as Stripe has it now (events arrive late, twice and out of order; an older copy must not
 * undo a newer state). Each sync, in one transaction under the dispute row's lock:
 * - the row: status (never moved back: an open dispute does not reopen once closed), reason, evidence deadline;
 * - the ledger, from the dispute's balance transactions, each booked once by its id: the withdrawal (presentment
 *   amount and its settlement figures), Stripe's dispute fee (settlement only), and the reinstatement when won;
 * - the pledge marked disputed; the creator and support staff told when it opens and when it closes;
 * - once closed, who bears the loss (src/disputes/dispute-recovery.ts), and after the payout the reversal it needs.
 */
import type Stripe from 'stripe';
import { type AppDatabase, type Tx } from '../../db/database';
import { type Dispute, type DisputeStatus, OPEN_DISPUTE_STATUSES } from '../../db/schema';
import { DomainError } from '../errors';
import { type LedgerMovement, recordLedgerEntries, settlementOf } from '../ledger/ledger';
import { fromMinorUnits } from '../money';
import { enqueueNotifications, type NotificationRequest } from '../notifications/outbox';
import { decideRecovery, type DisputeRecoveryPolicy, recoverFromCreator } from './dispute-recovery';

export interface DisputeDeps {
  database: AppDatabase;
  stripe: Stripe;
  recovery: DisputeRecoveryPolicy;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How far along a dispute is: a sync never moves it back (an older copy of it arriving late). */
const stage = (status: DisputeStatus): number => ((OPEN_DISPUTE_STATUSES as readonly string[]).includes(status) ? (status.endsWith('under_review') ? 1 : 0) : 2);
const isClosed = (status: DisputeStatus) => stage(status) === 2;
const idOf = (value: string | { id: string } | null) => (typeof value === 'string' ? value : (value?.id ?? null));

/** Retrieves the dispute from Stripe and books it; null when it is not a payment of this platform. */
export async function syncDispute(deps: DisputeDeps, stripeDisputeId: string): Promise<Dispute | null> {
  let dispute: Stripe.Dispute;
  try {
    dispute = await deps.stripe.disputes.retrieve(stripeDisputeId);
  } catch (error) {
    // An event about a dispute Stripe does not have (another account's, a hand-made test event): nothing to book.
    if ((error as { code?: unknown }).code === 'resource_missing') return null;
    throw error;
  }
  return recordDispute(deps, dispute);
}

/** The pledge a disputed charge collected, or null when it is not ours. */
async function pledgeOf(deps: DisputeDeps, paymentIntentId: string | null) {
  if (!paymentIntentId) return null;
  const db = deps.database.db;
  const byIntent = await db.selectFrom('pledges').selectAll().where('payment_intent_id', '=', paymentIntentId).executeTakeFirst();
  if (byIntent) return byIntent;
  const intent = await deps.stripe.paymentIntents.retrieve(paymentIntentId);
  const pledgeId = intent.metadata?.pledge_id;
  if (!pledgeId || !UUID.test(pledgeId)) return null;
  return (await db.selectFrom('pledges').selectAll().where('id', '=', pledgeId).executeTakeFirst()) ?? null;
}

/** The ledger movements of a dispute's balance transactions: negative ones withdrew the money, positive ones gave it back. */
function disputeMovements(dispute: Stripe.Dispute, base: Pick<LedgerMovement, 'campaignId' | 'pledgeId'>): LedgerMovement[] {
  const currency = dispute.currency.toUpperCase();
  return dispute.balance_transactions.flatMap((balance): LedgerMovement[] => {
    const moved = { ...base, amount: dispute.amount, currency, ...settlementOf(balance), stripeObjectId: balance.id };
    const fee: LedgerMovement[] =
      balance.fee > 0 ? [{ ...base, kind: 'dispute_fee', amount: balance.fee, currency: balance.currency.toUpperCase(), stripeObjectId: balance.id }] : [];
    if (balance.amount < 0) return [{ ...moved, kind: 'dispute_withdrawal' }, ...fee];
    if (balance.amount > 0) return [{ ...moved, kind: 'dispute_reinstatement' }, ...fee];
    return fee;
  });
}

/** Books Stripe's current copy of a dispute (from a retrieve, or the answer to an update or close). */
export async function recordDispute(deps: DisputeDeps, dispute: Stripe.Dispute): Promise<Dispute | null> {
  const db = deps.database.db;
  const chargeId = idOf(dispute.charge)!;
  const pledge = await pledgeOf(deps, idOf(dispute.payment_intent));
  if (!pledge) return null;
  // The withdrawal is booked against the capture it takes back; a capture the settlement is still recording is not in
  // the ledger yet, so Stripe is asked to deliver the event again later (as for refunds made in the dashboard).
  const capture = await db.selectFrom('ledger_entries').select('id').where('kind', '=', 'capture').where('stripe_object_id', '=', chargeId).executeTakeFirst();
  if (!capture) throw new DomainError('unavailable', 'capture_not_recorded_yet', `The capture of charge ${chargeId} is not recorded yet; Stripe delivers this event again`);

  const withdrawals = dispute.balance_transactions.filter((balance) => balance.amount < 0);
  const settlementAmount = withdrawals.reduce((sum, balance) => sum - balance.amount, 0);
  const fee = dispute.balance_transactions.reduce((sum, balance) => sum + balance.fee, 0);
  const settlementCurrency = dispute.balance_transactions[0]?.currency.toUpperCase() ?? null;
  const status = dispute.status as DisputeStatus;
  const dueBy = dispute.evidence_details?.due_by ? new Date(dispute.evidence_details.due_by * 1000) : null;

  const booked = await deps.database.transaction(async (trx) => {
    const created = await trx
      .insertInto('disputes')
      .values({
        stripe_dispute_id: dispute.id,
        campaign_id: pledge.campaign_id,
        pledge_id: pledge.id,
        charge_id: chargeId,
        payment_intent_id: idOf(dispute.payment_intent),
        amount: dispute.amount,
        currency: dispute.currency.toUpperCase(),
        status,
        reason: dispute.reason,
        evidence_due_by: dueBy,
      })
      .onConflict((oc) => oc.column('stripe_dispute_id').doNothing())
      .returning('id')
      .executeTakeFirst();
    const before = await trx.selectFrom('disputes').selectAll().where('stripe_dispute_id', '=', dispute.id).forUpdate().executeTakeFirstOrThrow();
    await recordLedgerEntries(trx, disputeMovements(dispute, { campaignId: pledge.campaign_id, pledgeId: pledge.id }));

    const newer = stage(status) >= stage(before.status);
    // A dispute first seen closed (its earlier events late) still closes here: told, and its loss decided.
    const closing = newer && isClosed(status) && (Boolean(created) || !isClosed(before.status));
    let row = await trx
      .updateTable('disputes')
      .set({
        ...(newer ? { status, reason: dispute.reason, evidence_due_by: dueBy } : {}),
        // Withdrawals and fees only ever add up: an older copy with fewer balance transactions changes nothing.
        settlement_amount: Math.max(before.settlement_amount, settlementAmount),
        fee: Math.max(before.fee, fee),
        settlement_currency: before.settlement_currency ?? settlementCurrency,
        ...(before.evidence_submitted_at === null && (dispute.evidence_details?.submission_count ?? 0) > 0 ? { evidence_submitted_at: new Date() } : {}),
        ...(closing ? { closed_at: new Date() } : {}),
        updated_at: new Date(),
      })
      .where('id', '=', before.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx.updateTable('pledges').set({ disputed_at: new Date(), updated_at: new Date() }).where('id', '=', pledge.id).where('disputed_at', 'is', null).execute();

    if (isClosed(row.status) && row.recovery === null) {
      const decision = await decideRecovery(trx, row, deps.recovery);
      row = await trx.updateTable('disputes').set({ ...decision, updated_at: new Date() }).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow();
    }
    await enqueueNotifications(trx, await notificationsFor(trx, row, { opened: Boolean(created), closed: closing }));
    return row;
  });

  if (booked.recovery === 'pending') await recoverFromCreator(deps, booked.id);
  return db.selectFrom('disputes').selectAll().where('id', '=', booked.id).executeTakeFirstOrThrow();
}

/**
 * The creator and every support staff member (role `support`) hear when a dispute opens and when it closes: support
 * answers it, the creator may hold the evidence (delivery, messages) and bears it when lost. Each message's dedupe key
 * names the dispute, the event and the recipient, so a sync repeated queues nothing twice.
 */
async function notificationsFor(trx: Tx, dispute: Dispute, happened: { opened: boolean; closed: boolean }): Promise<NotificationRequest[]> {
  if (!happened.opened && !happened.closed) return [];
  const campaign = await trx.selectFrom('campaigns').select(['title', 'creator_id']).where('id', '=', dispute.campaign_id).executeTakeFirstOrThrow();
  const staff = await trx.selectFrom('users').select('id').where('role', '=', 'support').execute();
  const recipients = [campaign.creator_id, ...staff.map((user) => user.id).filter((id) => id !== campaign.creator_id)];
  const payload = {
    disputeId: dispute.id,
    campaignTitle: campaign.title,
    amount: fromMinorUnits(dispute.amount, dispute.currency),
    currency: dispute.currency,
    reason: dispute.reason,
    status: dispute.status,
    dueBy: dispute.evidence_due_by?.toISOString() ?? null,
  };
  const events = [...(happened.opened ? (['opened'] as const) : []), ...(happened.closed ? (['closed'] as const) : [])];
  return events.flatMap((event) =>
    recipients.map((recipientId) => ({
      recipientId,
      template: event === 'opened' ? ('dispute_opened' as const) : ('dispute_closed' as const),
      payload,
      dedupeKey: `dispute-${dispute.id}-${event}-${recipientId}`,
    })),
  );
}
