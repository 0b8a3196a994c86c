/**
 * A refund can fail days after Stripe made it (https://docs.stripe.com/refunds#failed-refunds): the card was closed
 * or expired, the bank sends the money back, Stripe returns it to the platform's balance, lowers the charge's
 * `amount_refunded` and says so with `refund.updated` / `refund.failed`. The books are then put back as if the
 * refund had not been made, in one transaction: the refund row `failed` (with Stripe's reason), a `refund_failed`
 * ledger entry for its money, the pledge's refunded amount back down (and the pledge `captured` again), the
 * backer told and support told (the backer still wants the money, by another way).
 *
 * After the payout a refund also took the creator's share back by a transfer reversal, and gave up the commission
 * on it. Stripe cannot undo a reversal, so the rule is: the creator is owed that share again, and is paid it by a
 * transfer of its own (key `refund-<id>-restore`), and the commission is the platform's again. Both are worked out
 * as what the payout arithmetic says the campaign owes now less what has gone out, so a refund made before the
 * payout (which made the payout smaller) is put right the same way. Before the payout there is nothing to pay: the
 * payout reads the ledger, `refund_failed` included.
 *
 * Events are prompts: the refund is read from Stripe as it is now, the row is locked and changed only from
 * `succeeded`, and the restore transfer is a recorded step with its own key, so the same event twice, or
 * `refund.updated` and `refund.failed` of one failure, act once, and a delivery that failed half-way is resumed.
 */
import type Stripe from 'stripe';
import { sql } from 'kysely';
import { type AppDatabase, type Tx } from '../../db/database';
import { type Refund } from '../../db/schema';
import { DomainError } from '../errors';
import { ledgerTotals, recordLedgerEntries, settlementOf } from '../ledger/ledger';
import { fromMinorUnits } from '../money';
import { enqueueNotifications, type NotificationRequest } from '../notifications/outbox';
import { stripeKeys } from '../payments/idempotency-keys';
import { collectedFromLedger, computePayout } from '../rules/payout';

type Deps = { database: AppDatabase; stripe: Stripe };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type RefundUpdateOutcome = 'unknown_refund' | 'status_noted' | 'failure_recorded' | 'already_recorded';

/** `refund.updated`, `refund.failed` and `charge.refund.updated`: brings our refund row up to date with Stripe's refund. */
export async function applyRefundUpdate(deps: Deps, stripeRefundId: string): Promise<RefundUpdateOutcome> {
  const refund = await deps.stripe.refunds.retrieve(stripeRefundId, { expand: ['failure_balance_transaction'] });
  const row = await findRow(deps.database, refund);
  if (!row) return 'unknown_refund';
  if (row.status === 'requested') {
    // Our refund activity made it and has not recorded it yet: undoing a refund not yet in the books would leave
    // the failure without its refund. Stripe delivers the event again later.
    throw new DomainError('unavailable', 'refund_not_recorded_yet', `Refund ${refund.id} is not recorded yet; Stripe delivers this event again`);
  }
  if (refund.status !== 'failed' && refund.status !== 'canceled') {
    // Still pending at the bank, or confirmed: it is in the books already; only Stripe's word on it changes.
    if (row.status === 'succeeded' && refund.status) {
      await deps.database.db.updateTable('refunds').set({ stripe_status: refund.status as Refund['stripe_status'] }).where('id', '=', row.id).where('status', '=', 'succeeded').execute();
    }
    return 'status_noted';
  }
  const recorded = row.status === 'succeeded' ? await recordFailure(deps.database, row.id, refund) : false;
  await payRestore(deps, row.id);
  return recorded ? 'failure_recorded' : 'already_recorded';
}

/** Our row of a Stripe refund: by its id once recorded, else by the `refund_id` our activity put in its metadata. */
async function findRow(database: AppDatabase, refund: Stripe.Refund): Promise<Refund | undefined> {
  const db = database.db;
  const byStripeId = await db.selectFrom('refunds').selectAll().where('stripe_refund_id', '=', refund.id).executeTakeFirst();
  if (byStripeId) return byStripeId;
  const ours = refund.metadata?.refund_id;
  if (!ours || !UUID.test(ours)) return undefined;
  return db.selectFrom('refunds').selectAll().where('id', '=', ours).executeTakeFirst();
}

/** The failure in the books, once: false when another delivery recorded it first. */
async function recordFailure(database: AppDatabase, refundId: string, refund: Stripe.Refund): Promise<boolean> {
  return database.transaction(async (trx) => {
    const { campaign_id: campaignId } = await trx
      .selectFrom('refunds')
      .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
      .select('pledges.campaign_id')
      .where('refunds.id', '=', refundId)
      .executeTakeFirstOrThrow();
    // In the order the refund activity locks (payout, then refund): what the creator is owed is decided against a
    // payout that stays put, one refund at a time.
    const payout = await trx.selectFrom('payouts').selectAll().where('campaign_id', '=', campaignId).forUpdate().executeTakeFirst();
    const row = await trx.selectFrom('refunds').selectAll().where('id', '=', refundId).forUpdate().executeTakeFirstOrThrow();
    if (row.status !== 'succeeded') return false;
    if (row.reversal_status === 'pending') {
      // Its reversal is still being made (the refund activity retries it until Stripe takes it): undone only once
      // it is made and recorded, or its money would be lost from the books.
      throw new DomainError('unavailable', 'refund_reversal_in_progress', `The transfer reversal of refund ${row.id} is not made yet; Stripe delivers this event again`);
    }
    const campaign = await trx.selectFrom('campaigns').select(['id', 'title', 'platform_fee_bps']).where('id', '=', campaignId).executeTakeFirstOrThrow();
    const pledge = await trx.selectFrom('pledges').select(['id', 'backer_id']).where('id', '=', row.pledge_id).executeTakeFirstOrThrow();
    const reason = refund.failure_reason ?? (refund.status === 'canceled' ? 'canceled' : 'unknown');

    await trx
      .updateTable('refunds')
      .set({ status: 'failed', stripe_status: refund.status as Refund['stripe_status'], failure_reason: reason, failure_message: `Stripe ${refund.status} the refund after it was made (${reason})`, failed_at: new Date() })
      .where('id', '=', row.id)
      .execute();
    await recordLedgerEntries(trx, [
      { campaignId, pledgeId: row.pledge_id, kind: 'refund_failed', amount: row.amount, currency: row.currency, ...(await settlementBack(trx, refund)), stripeObjectId: refund.id },
    ]);
    await trx
      .updateTable('pledges')
      .set({
        amount_refunded: sql`amount_refunded - ${row.amount}`,
        status: sql`case when status = 'refunded' then 'captured' else status end`,
        updated_at: new Date(),
      })
      .where('id', '=', row.pledge_id)
      .execute();

    if (payout?.status === 'paid') await restoreCreatorShare(trx, { campaignId, platformFeeBps: campaign.platform_fee_bps, payout, refundRow: row, stripeRefundId: refund.id });

    const payload = { refundId: row.id, pledgeId: row.pledge_id, campaignTitle: campaign.title, amount: fromMinorUnits(row.amount, row.currency), currency: row.currency, reason };
    await enqueueNotifications(trx, [
      { recipientId: pledge.backer_id, template: 'refund_failed', payload, dedupeKey: `refund-${row.id}-failed` },
      ...(await supportRecipients(trx, row.requested_by)).map(
        (staffId): NotificationRequest => ({ recipientId: staffId, template: 'refund_failed_support', payload, dedupeKey: `refund-${row.id}-failed-support-${staffId}` }),
      ),
    ]);
    return true;
  });
}

/**
 * What came back to the platform's balance, in the settlement currency: the failure's balance transaction, or
 * (when Stripe did not give one) exactly what the refund's own entry took out.
 */
async function settlementBack(trx: Tx, refund: Stripe.Refund) {
  const failure = refund.failure_balance_transaction;
  if (failure && typeof failure !== 'string') return settlementOf(failure);
  const entry = await trx.selectFrom('ledger_entries').selectAll().where('kind', '=', 'refund').where('stripe_object_id', '=', refund.id).executeTakeFirst();
  return entry ? { settlementAmount: entry.settlement_amount, settlementCurrency: entry.settlement_currency, exchangeRate: entry.exchange_rate === null ? null : Number(entry.exchange_rate) } : {};
}

/**
 * After the payout: the commission the platform gave up on the refund is its own again (a `platform_fee` entry named
 * by the refund), and the creator is owed what the payout arithmetic now gives them beyond what they hold (their
 * reversed share; or, for a refund made before the payout, the share the payout left out). The transfer is
 * `pending` here and made by `payRestore` once this is committed. All in the settlement currency, as the payout.
 */
async function restoreCreatorShare(
  trx: Tx,
  input: { campaignId: string; platformFeeBps: number; payout: { amount: number; currency: string }; refundRow: Refund; stripeRefundId: string },
): Promise<void> {
  const { campaignId, payout, refundRow } = input;
  const settled = await ledgerTotals(trx, campaignId, 'settlement');
  const owed = computePayout({ ...collectedFromLedger(settled), platformFeeBps: input.platformFeeBps });
  // Decided, made or not: reversals the creator owes and restores the platform owes (as the refund activity counts them).
  const decided = await trx
    .selectFrom('refunds')
    .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
    .select([sql<number>`coalesce(sum(refunds.transfer_reversal_amount), 0)`.as('reversed'), sql<number>`coalesce(sum(refunds.restore_amount), 0)`.as('restored')])
    .where('pledges.campaign_id', '=', campaignId)
    .executeTakeFirstOrThrow();
  const creatorHolds = payout.amount - Number(decided.reversed) + Number(decided.restored);
  const commissionBack = owed.platformFee - (settled.platform_fee - settled.platform_fee_reversal);
  const restore = Math.max(owed.transfer - creatorHolds, 0);
  await recordLedgerEntries(trx, [
    { campaignId, pledgeId: refundRow.pledge_id, kind: 'platform_fee', amount: Math.max(commissionBack, 0), currency: payout.currency, stripeObjectId: input.stripeRefundId },
  ]);
  if (restore > 0) await trx.updateTable('refunds').set({ restore_amount: restore, restore_status: 'pending' }).where('id', '=', refundRow.id).execute();
}

/** Support staff to tell: whoever asked for the refund, or (a campaign's cancellation, Stripe's dashboard) all of support. */
async function supportRecipients(trx: Tx, requestedBy: string | null): Promise<string[]> {
  if (requestedBy) return [requestedBy];
  const staff = await trx.selectFrom('users').select('id').where('role', '=', 'support').execute();
  return staff.map(({ id }) => id);
}

/**
 * Pays the creator's share owed after a failed refund, once: a transfer with its own key; a retry after Stripe may
 * have forgotten the key first looks for it by its metadata. Throws while Stripe does not take it, so the webhook
 * answers an error and Stripe delivers the event again, which resumes here.
 */
async function payRestore({ database, stripe }: Deps, refundId: string): Promise<void> {
  const db = database.db;
  const row = await db
    .selectFrom('refunds')
    .innerJoin('pledges', 'pledges.id', 'refunds.pledge_id')
    .innerJoin('payouts', 'payouts.campaign_id', 'pledges.campaign_id')
    .select(['refunds.id', 'refunds.pledge_id', 'refunds.restore_amount', 'refunds.restore_status', 'refunds.restore_attempts', 'pledges.campaign_id', 'payouts.currency', 'payouts.destination_account_id'])
    .where('refunds.id', '=', refundId)
    .executeTakeFirst();
  if (!row || row.restore_status !== 'pending') return;
  let transfer = row.restore_attempts > 0 ? await findRestore(stripe, row.campaign_id, row.id) : undefined;
  if (!transfer) {
    await db.updateTable('refunds').set({ restore_attempts: sql`restore_attempts + 1` }).where('id', '=', row.id).execute();
    transfer = await stripe.transfers.create(
      {
        amount: row.restore_amount,
        currency: row.currency.toLowerCase(),
        destination: row.destination_account_id,
        transfer_group: row.campaign_id,
        metadata: { campaign_id: row.campaign_id, refund_id: row.id, purpose: 'refund_failed_restore' },
      },
      { idempotencyKey: stripeKeys.refundFailureRestore(row.id) },
    );
  }
  const transferId = transfer.id;
  await database.transaction(async (trx) => {
    const done = await trx
      .updateTable('refunds')
      .set({ restore_status: 'succeeded', restore_transfer_id: transferId })
      .where('id', '=', row.id)
      .where('restore_status', '=', 'pending')
      .executeTakeFirst();
    if (done.numUpdatedRows === 0n) return;
    await recordLedgerEntries(trx, [{ campaignId: row.campaign_id, pledgeId: row.pledge_id, kind: 'transfer', amount: row.restore_amount, currency: row.currency, stripeObjectId: transferId }]);
  });
}

async function findRestore(stripe: Stripe, campaignId: string, refundId: string): Promise<Stripe.Transfer | undefined> {
  for await (const transfer of stripe.transfers.list({ transfer_group: campaignId, limit: 100 })) {
    if (transfer.metadata?.refund_id === refundId && transfer.metadata?.purpose === 'refund_failed_restore') return transfer;
  }
  return undefined;
}
