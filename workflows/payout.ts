/**
 * The payout: one transfer of the net to the creator, after the payout delay, once their account can receive it
 * and the campaign's own funds are available. Until then the creator is reminded, and the payout waits for
 * `connectAccountUpdatedSignal` or a timer. A payout whose activity gives up (Stripe down for longer than the
 * retry budget) is `stuck`, never failed: it tries again after the stuck interval, or at once on `retrySettlement`.
 * Its progress lives in the run state, deadlines as absolute times, so the loop resumes in a new run.
 */
import { ActivityFailure, ApplicationFailure, log } from '@temporalio/workflow';
import { PAYOUT_NOT_READY } from '../src/payments/failure-types';
import { databaseActivities } from './activity-proxies';
import { type CampaignRun } from './campaign-run';
import { failureReason, stuckRetryIntervalMs, waitUntil } from './stuck';

const isPayoutNotReady = (error: unknown) => error instanceof ActivityFailure && error.cause instanceof ApplicationFailure && error.cause.type === PAYOUT_NOT_READY;

/** Pays the creator; 'continue_as_new' when the run should hand over first (the next run calls this again). */
export async function payOut(run: CampaignRun): Promise<'done' | 'continue_as_new'> {
  const { campaignId, settings, state, stripe } = run;
  const wake = state.payoutWake;
  const progress = (state.payoutProgress ??= { dueAt: (state.settledAt ?? Date.now()) + settings.payoutDelayMs, nextCheckAt: null, reminders: 0 });

  if (state.payout === null) {
    await waitUntil(progress.dueAt, run.continueAsNewDue);
    if (run.continueAsNewDue()) return 'continue_as_new';
    state.payout = { state: 'waiting', amount: null, transferId: null };
  }

  for (;;) {
    if (progress.nextCheckAt !== null) {
      const waitingAs = state.payout.state;
      await waitUntil(
        progress.nextCheckAt,
        () => run.continueAsNewDue() || (waitingAs === 'account_not_ready' && wake.accountUpdated) || (waitingAs === 'stuck' && wake.retry),
      );
      if (run.continueAsNewDue()) return 'continue_as_new';
      if (waitingAs === 'account_not_ready') wake.accountUpdated = false;
      if (waitingAs === 'stuck') wake.retry = false;
      progress.nextCheckAt = null;
    }

    run.countStep();
    const wasStuck = state.payout.state === 'stuck';
    try {
      // A reserve against chargebacks comes off the transfer (released later: reserve.ts).
      const reserveBps = settings.payoutReserve?.bps ?? 0;
      const readiness = await stripe.payoutReadiness({ campaignId, asOfMs: Date.now(), ...(reserveBps > 0 ? { reserveBps } : {}) });
      if (readiness.state === 'nothing_to_pay') {
        state.payout = { state: 'nothing_to_pay', amount: 0, transferId: null };
        return 'done';
      }
      if (readiness.state === 'ready') {
        try {
          const sent = await run.money.run(() => stripe.sendPayout({ campaignId, ...(reserveBps > 0 ? { reserveBps } : {}) }));
          state.payout = sent
            ? { state: 'paid', amount: sent.amount, transferId: sent.transferId, ...(sent.reserve > 0 ? { reserve: sent.reserve } : {}) }
            : { state: 'nothing_to_pay', amount: 0, transferId: null };
          return 'done';
        } catch (error) {
          if (!isPayoutNotReady(error)) throw error;
          state.payout = { state: 'funds_pending', amount: readiness.transfer, transferId: null };
          progress.nextCheckAt = Date.now() + settings.fundsRetryIntervalMs;
        }
      } else if (readiness.state === 'account_not_ready') {
        state.payout = { state: 'account_not_ready', amount: null, transferId: null };
        await databaseActivities.remindCreatorToOnboard({ campaignId, reminder: ++progress.reminders });
        progress.nextCheckAt = Date.now() + settings.onboardingReminderIntervalMs;
      } else {
        state.payout = { state: 'funds_pending', amount: readiness.transfer, transferId: null };
        // Ask again when Stripe makes the campaign's funds available, and at the latest after the retry interval.
        const available = readiness.nextAvailableAtMs;
        progress.nextCheckAt = Date.now() + settings.fundsRetryIntervalMs;
        if (available !== null && available > Date.now()) progress.nextCheckAt = Math.min(progress.nextCheckAt, available);
      }
      if (wasStuck) run.upsertStatusAndDetails();
    } catch (error) {
      const reason = failureReason(error);
      log.error('payout stuck; trying again after the stuck interval or on retrySettlement', { campaignId, reason });
      state.payout = { state: 'stuck', amount: state.payout.amount, transferId: null, reason };
      progress.nextCheckAt = Date.now() + stuckRetryIntervalMs(settings);
      run.upsertStatusAndDetails();
    }
  }
}
