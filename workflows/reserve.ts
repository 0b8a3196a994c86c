/**
 * The payout's reserve against chargebacks: held from the payout for the campaign's reserve period (a durable timer,
 * its end an absolute workflow time in the run state, so a new run waits only what is left), then what disputes left
 * of it is paid to the creator by a second transfer (`releaseReserve`). A release whose activity gives up (Stripe down
 * past its retries) is `stuck`, never failed: it tries again after the stuck interval, or at once on `retrySettlement`.
 */
import { log } from '@temporalio/workflow';
import { type CampaignRun } from './campaign-run';
import { type ReserveState } from './messages';
import { failureReason, stuckRetryIntervalMs, waitUntil } from './stuck';

/** The reserve's state once the payout held one back, its period starting now (the payout's workflow time). */
export function reserveHeld(periodMs: number): ReserveState {
  return { state: 'held', releaseAt: Date.now() + periodMs, nextCheckAt: null, released: null, transferId: null };
}

/** Releases the reserve when its period ends; 'continue_as_new' when the run should hand over first. */
export async function releaseReserve(run: CampaignRun, reserve: ReserveState): Promise<'done' | 'continue_as_new'> {
  const { campaignId, settings, state, stripe } = run;
  const wake = state.payoutWake;
  while (reserve.state !== 'released') {
    const stuck = reserve.state === 'stuck';
    await waitUntil(reserve.nextCheckAt ?? reserve.releaseAt, () => run.continueAsNewDue() || (stuck && wake.retry));
    if (run.continueAsNewDue()) return 'continue_as_new';
    if (stuck) wake.retry = false;

    run.countStep();
    try {
      // Under the money lock: a refund being carried out sees the reserve as it was, or as released.
      const released = await run.money.run(() => stripe.releaseReserve({ campaignId }));
      Object.assign(reserve, { state: 'released', nextCheckAt: null, released: released?.amount ?? 0, transferId: released?.transferId ?? null });
      delete reserve.reason;
    } catch (error) {
      const reason = failureReason(error);
      log.error('reserve release stuck; trying again after the stuck interval or on retrySettlement', { campaignId, reason });
      Object.assign(reserve, { state: 'stuck', nextCheckAt: Date.now() + stuckRetryIntervalMs(settings), reason });
    }
    run.upsertStatusAndDetails();
  }
  return 'done';
}
