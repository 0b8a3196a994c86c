/**
 * Refunds when Stripe fails mid-way (issue #14, defect 4), driven through the refund activity with its real
 * dependencies: the refund is recorded as soon as Stripe made it, the creator's share is taken back in its own
 * step that is retried until done, and a retry that comes back after Stripe forgot the idempotency key (24 h) finds
 * what the first attempt did instead of doing it again.
 *
 * Amounts worked out by hand: a 100.00 USD pledge costs 2.9% + 0.30 in card fees (320); the platform keeps 6% of
 * what was collected net of refunds (600); the creator is paid the rest (10,000 - 600 - 320 = 9,080). A 40.00
 * refund after the payout lowers the commission by 6% of 4,000 (240); the creator gives back 4,000 - 240 = 3,760.
 */
import { createRefundActivities } from '../../activities/refunds';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { requestRefund } from '../../src/refunds/request-refund';
import { createRefundWorld, type RefundWorld } from '../helpers/refund-fixtures';

const PLEDGE = 10_000;
const PAYOUT = 10_000 - 600 - 320;
const REFUND = 4_000;
const REVERSAL = REFUND - 240;
const HOURS_25 = 25 * 3600;

let w: RefundWorld;
let refunds: ReturnType<typeof createRefundActivities>;
let supportId: string;
beforeAll(async () => {
  w = await createRefundWorld();
  refunds = createRefundActivities(w.deps);
  supportId = (await w.user('support')).id;
});
afterAll(() => w.close());
afterEach(() => w.testStripe.clearFaults());

const db = () => w.testDb.database.db;
const refundRow = (id: string) => db().selectFrom('refunds').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const ledgerOf = (pledgeId: string, kind: 'refund' | 'transfer_reversal' | 'platform_fee_reversal') =>
  db().selectFrom('ledger_entries').select(['amount', 'stripe_object_id']).where('pledge_id', '=', pledgeId).where('kind', '=', kind).execute();

async function refundOf(pledgeId: string, amount: number) {
  const { refund } = await requestRefund(w.testDb.database, { pledgeId, amount, reason: 'damaged in transit', requestedBy: supportId });
  return refund.id;
}

/** Stripe requests that were carried out (not replayed, not failed) for `path`. */
async function madeOnStripe(path: RegExp) {
  return (await w.testStripe.requests()).filter((r) => r.method === 'POST' && path.test(r.path) && r.status === 200 && !r.replayed);
}

async function expectBalanced(campaignId: string) {
  const report = await reconcileCampaign(db(), campaignId, w.deps.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
}

test('a refund after the payout whose transfer reversal meets an outage is recorded at once, and the reversal is made once when Stripe is back', async () => {
  const { campaignId, pledgeId } = await w.collectedPledge(PLEDGE);
  const transferId = await w.payOut(campaignId);
  expect((await w.deps.stripe.transfers.retrieve(transferId)).amount).toBe(PAYOUT);
  const refundId = await refundOf(pledgeId, REFUND);
  await w.testStripe.clearRequests();

  await w.testStripe.injectFault({ kind: '500', method: 'POST', path: '^/v1/transfers/[^/]+/reversals$' });
  const outage = await refunds.executeRefund({ refundId }).then(
    () => undefined,
    (error: unknown) => error,
  );
  // Retryable: the workflow keeps calling until Stripe is back.
  expect(outage).toBeInstanceOf(Error);
  expect(outage).not.toMatchObject({ nonRetryable: true });

  // The backer's money went back: that is on record whatever happens to the reversal.
  const recorded = await refundRow(refundId);
  expect(recorded).toMatchObject({ status: 'succeeded', stripe_refund_id: expect.stringMatching(/^re_/), reversal_status: 'pending', transfer_reversal_amount: REVERSAL });
  expect(await ledgerOf(pledgeId, 'refund')).toEqual([{ amount: REFUND, stripe_object_id: recorded.stripe_refund_id }]);
  expect(await ledgerOf(pledgeId, 'transfer_reversal')).toEqual([]);
  const pledge = await db().selectFrom('pledges').selectAll().where('id', '=', pledgeId).executeTakeFirstOrThrow();
  expect(pledge).toMatchObject({ amount_refunded: REFUND, status: 'captured' });
  expect(await db().selectFrom('notifications').select('template').where('dedupe_key', '=', `refund-${refundId}-issued`).execute()).toHaveLength(1);

  // Still down: the retry does not make the refund again, and still fails retryably.
  await expect(refunds.executeRefund({ refundId })).rejects.not.toMatchObject({ nonRetryable: true });

  await w.testStripe.clearFaults();
  expect(await refunds.executeRefund({ refundId })).toMatchObject({ refundId, status: 'succeeded', amount: REFUND, transferReversal: REVERSAL });
  expect(await refunds.executeRefund({ refundId })).toMatchObject({ refundId, status: 'succeeded', amount: REFUND, transferReversal: REVERSAL });

  const transfer = await w.deps.stripe.transfers.retrieve(transferId);
  expect(transfer.amount_reversed).toBe(REVERSAL);
  expect(transfer.reversals.data).toHaveLength(1);
  expect(await madeOnStripe(/^\/v1\/refunds$/)).toHaveLength(1);
  expect(await madeOnStripe(/^\/v1\/transfers\/[^/]+\/reversals$/)).toHaveLength(1);
  const done = await refundRow(refundId);
  expect(done).toMatchObject({ reversal_status: 'succeeded', transfer_reversal_id: transfer.reversals.data[0]!.id });
  expect(await ledgerOf(pledgeId, 'transfer_reversal')).toEqual([{ amount: REVERSAL, stripe_object_id: transfer.reversals.data[0]!.id }]);
  expect(await ledgerOf(pledgeId, 'platform_fee_reversal')).toEqual([{ amount: 240, stripe_object_id: recorded.stripe_refund_id }]);
  await expectBalanced(campaignId);
});

test('a refund whose answer was lost, retried after Stripe forgot its idempotency key, is found on Stripe and not made twice', async () => {
  const { campaignId, pledgeId, paymentIntentId } = await w.collectedPledge(PLEDGE);
  // Less than half the pledge, so Stripe would accept a second refund of it.
  const refundId = await refundOf(pledgeId, 3_000);

  // Stripe refunds, and every answer (the client's own retries included) is lost on the way back.
  await w.testStripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/refunds$' });
  await expect(refunds.executeRefund({ refundId })).rejects.toThrow();
  expect(await refundRow(refundId)).toMatchObject({ status: 'requested', stripe_refund_id: null });
  await w.testStripe.clearFaults();
  await w.testStripe.advanceClock(HOURS_25);

  expect(await refunds.executeRefund({ refundId })).toMatchObject({ refundId, status: 'succeeded', amount: 3_000, transferReversal: 0 });
  const onStripe = (await w.deps.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })).data;
  expect(onStripe.map((refund) => refund.amount)).toEqual([3_000]);
  expect(await refundRow(refundId)).toMatchObject({ status: 'succeeded', stripe_refund_id: onStripe[0]!.id, reversal_status: 'not_needed' });
  expect(await ledgerOf(pledgeId, 'refund')).toEqual([{ amount: 3_000, stripe_object_id: onStripe[0]!.id }]);
  await expectBalanced(campaignId);
});

test('a transfer reversal whose answer was lost, retried after Stripe forgot its key, is found on Stripe and not made twice', async () => {
  const { campaignId, pledgeId } = await w.collectedPledge(PLEDGE);
  const transferId = await w.payOut(campaignId);
  const refundId = await refundOf(pledgeId, REFUND);

  await w.testStripe.injectFault({ kind: 'lost', method: 'POST', path: '^/v1/transfers/[^/]+/reversals$' });
  await expect(refunds.executeRefund({ refundId })).rejects.toThrow();
  await w.testStripe.clearFaults();
  await w.testStripe.advanceClock(HOURS_25);

  expect(await refunds.executeRefund({ refundId })).toMatchObject({ refundId, status: 'succeeded', amount: REFUND, transferReversal: REVERSAL });
  const transfer = await w.deps.stripe.transfers.retrieve(transferId);
  expect(transfer.amount_reversed).toBe(REVERSAL);
  expect(transfer.reversals.data).toHaveLength(1);
  expect(await ledgerOf(pledgeId, 'transfer_reversal')).toEqual([{ amount: REVERSAL, stripe_object_id: transfer.reversals.data[0]!.id }]);
  await expectBalanced(campaignId);
});

test('a cancelled campaign’s full refund of a pledge is made once however often it is asked for', async () => {
  const { campaignId, pledgeId, paymentIntentId } = await w.collectedPledge(PLEDGE);
  const first = await refunds.refundPledgeInFull({ pledgeId });
  expect(first).toMatchObject({ status: 'succeeded', amount: PLEDGE, transferReversal: 0 });
  expect(await refunds.refundPledgeInFull({ pledgeId })).toEqual(first);
  expect((await w.deps.stripe.refunds.list({ payment_intent: paymentIntentId })).data).toHaveLength(1);
  expect(await db().selectFrom('pledges').select('status').where('id', '=', pledgeId).executeTakeFirstOrThrow()).toEqual({ status: 'refunded' });
  await expectBalanced(campaignId);
});
