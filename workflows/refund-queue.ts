/**
 * Support's refunds, carried out one at a time in the order they were signalled, under the campaign's money lock
 * (so a refund and the payout each see the other's result). The signal handler only queues the refund id; the
 * queue lives in the run state and so survives continue-as-new. A refund whose activity gives up stays queued and
 * `stuck` and is retried until done: after the stuck interval, or at once on `retrySettlement`. After an outage
 * (the activity ran out of retries) the whole queue waits; a refund refused outright waits alone.
 */
import { condition, log, patched } from '@temporalio/workflow';
import { type CampaignRun } from './campaign-run';
import { failureReason, isOutage, stuckRetryIntervalMs, waitUntil } from './stuck';

/** Runs recorded before refunds were queued gave a failed refund up (`failedRefunds`) instead of retrying it. */
const STUCK_REFUNDS_RETRY = 'stuck-refunds-retry-until-done';

export interface RefundQueue {
  /** Queues a signalled refund (once: a repeated signal for a queued refund changes nothing). */
  add(refundId: string): void;
  /** Takes no new refund and resolves once none is in progress, so that the run can continue as new. */
  hold(): Promise<void>;
  /** Nothing queued: every signalled refund has been carried out (or refused for good). */
  empty(): boolean;
}

export function startRefundQueue(run: CampaignRun): RefundQueue {
  const refunds = run.state.refunds;
  let held = false;
  let busy = false;

  async function carryOut(refundId: string): Promise<void> {
    try {
      const refund = await run.money.run(() => run.stripe.executeRefund({ refundId }));
      refunds.queue.splice(refunds.queue.indexOf(refundId), 1);
      const wasStuck = refundId in refunds.stuck;
      delete refunds.stuck[refundId];
      // Older activity results carry no campaign total: they were added up, as before.
      if (refund.status === 'succeeded') run.state.totals.refunded = refund.campaignRefunded ?? run.state.totals.refunded + refund.amount;
      else run.state.failedRefunds.push(refundId);
      if (wasStuck) run.upsertStatusAndDetails();
    } catch (error) {
      const reason = failureReason(error);
      if (!patched(STUCK_REFUNDS_RETRY)) {
        log.error('refund failed', { refundId, error: reason });
        refunds.queue.splice(refunds.queue.indexOf(refundId), 1);
        run.state.failedRefunds.push(refundId);
        return;
      }
      log.error('refund stuck; retrying after the stuck interval or on retrySettlement', { refundId, reason });
      refunds.stuck[refundId] = reason;
      // To the back of the queue, so that one refund Stripe refuses does not hold up the others...
      refunds.queue.splice(refunds.queue.indexOf(refundId), 1);
      refunds.queue.push(refundId);
      // ...unless Stripe is down (the next would give up too) or only stuck refunds are left.
      if (isOutage(error) || refunds.queue.every((id) => id in refunds.stuck)) refunds.retryAt = Date.now() + stuckRetryIntervalMs(run.settings);
      run.upsertStatusAndDetails();
    }
  }

  const loop = async () => {
    for (;;) {
      await condition(() => !held && refunds.queue.length > 0);
      if (refunds.retryAt !== null) {
        await waitUntil(refunds.retryAt, () => held || refunds.retryAt === null);
        if (held) continue;
        refunds.retryAt = null;
      }
      busy = true;
      try {
        await carryOut(refunds.queue[0]!);
      } finally {
        busy = false;
      }
    }
  };
  void loop();

  return {
    add(refundId) {
      if (!refunds.queue.includes(refundId)) refunds.queue.push(refundId);
    },
    async hold() {
      held = true;
      await condition(() => !busy);
    },
    empty: () => refunds.queue.length === 0,
  };
}
