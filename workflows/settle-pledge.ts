/**
 * Settles one pledge of a campaign: capture (the hold, or the saved card off-session), release, or refund. A card
 * that fails leaves the pledge `errored`; the backer has the grace window to save a new card
 * (`paymentMethodUpdatedSignal`), after which the pledge is dropped. Any other failure (Stripe down past the retry
 * budget, or a bug) leaves the settlement `stuck`: it tries again after the stuck interval, or at once when ops ask
 * (`retryPledgeSettlementSignal`); it never fails. Every state change is reported to the campaign workflow by
 * signal, by workflow id, so it reaches the campaign's current run (its parent's, or `reportTo` when a settlement
 * batch started it).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { CARD_ERROR, PLEDGE_NOT_CAPTURABLE } from '../src/payments/failure-types';
import { databaseActivities, stripeActivities } from './activity-proxies';
import {
  paymentMethodUpdatedSignal,
  type PledgeReport,
  type PledgeReportKind,
  pledgeSettledSignal,
  pledgeSettlementStateQuery,
  type PledgeSettlementState,
  retryPledgeSettlementSignal,
} from './messages';
import { failureReason, stuckRetryIntervalMs } from './stuck';

/** Runs recorded before stuck settlements retried by themselves waited for ops alone (no timer). */
const STUCK_RETRIES_BY_ITSELF = 'settlement-stuck-retries-by-itself';

export interface SettlePledgeInput {
  campaignId: string;
  pledgeId: string;
  action: 'capture' | 'release' | 'refund';
  graceWindowMs: number;
  stripeTaskQueue: string;
  /** How long a stuck settlement waits before trying again by itself; absent: the default. */
  stuckRetryIntervalMs?: number;
  /** The campaign workflow to report to, when started by a settlement batch rather than by the campaign itself. */
  reportTo?: string;
}

interface CardFailure {
  code: string;
  message: string;
}

/** The card failure behind an activity failure, if that is what it was. */
function cardFailureOf(error: unknown): CardFailure | undefined {
  if (!(error instanceof ActivityFailure) || !(error.cause instanceof ApplicationFailure)) return undefined;
  if (error.cause.type !== CARD_ERROR) return undefined;
  const details = error.cause.details?.[0] as { code?: string; declineCode?: string } | undefined;
  return { code: details?.declineCode ?? details?.code ?? 'card_declined', message: error.cause.message };
}

/** The pledge can no longer be captured (the backer cancelled it before settlement reached it). */
function isNotCapturable(error: unknown): boolean {
  return error instanceof ActivityFailure && error.cause instanceof ApplicationFailure && error.cause.type === PLEDGE_NOT_CAPTURABLE;
}

export async function settlePledgeWorkflow(input: SettlePledgeInput): Promise<PledgeSettlementState> {
  const stripe = stripeActivities(input.stripeTaskQueue);
  const state: PledgeSettlementState = {
    pledgeId: input.pledgeId,
    action: input.action,
    status: 'settling',
    attempt: 1,
    graceEndsAt: null,
    lastError: null,
  };
  let newCard = false;
  let retryRequested = false;
  setHandler(pledgeSettlementStateQuery, () => state);
  setHandler(paymentMethodUpdatedSignal, () => {
    newCard = true;
  });
  setHandler(retryPledgeSettlementSignal, () => {
    retryRequested = true;
  });

  const report = async (kind: PledgeReportKind, amount?: number) => {
    state.status = kind;
    const campaign = input.reportTo ?? workflowInfo().parent?.workflowId;
    if (!campaign) return;
    const message: PledgeReport = { pledgeId: input.pledgeId, kind, ...(amount === undefined ? {} : { amount }) };
    try {
      await getExternalWorkflowHandle(campaign).signal(pledgeSettledSignal, message);
    } catch (error) {
      // The campaign is gone (terminated by ops); the pledge's own state in Postgres is still right.
      log.warn('could not report to the campaign workflow', { pledgeId: input.pledgeId, error });
    }
  };

  let reportedWaiting: PledgeReportKind | null = null;
  /** Not the backer's problem: keep everything as it is (a capture keeps its attempt: it may have gone through). */
  const waitWhileStuck = async (error: unknown) => {
    state.lastError = failureReason(error);
    log.error('pledge settlement stuck; retrying after the stuck interval or on retrySettlement', { pledgeId: input.pledgeId, error: state.lastError });
    if (reportedWaiting !== 'stuck') await report('stuck');
    reportedWaiting = 'stuck';
    state.status = 'stuck';
    if (patched(STUCK_RETRIES_BY_ITSELF)) await condition(() => newCard || retryRequested, stuckRetryIntervalMs(input));
    else await condition(() => newCard || retryRequested);
    newCard = false;
    retryRequested = false;
    state.status = 'settling';
  };

  if (input.action === 'release') {
    for (;;) {
      try {
        await stripe.releasePledge({ pledgeId: input.pledgeId });
        break;
      } catch (error) {
        await waitWhileStuck(error);
      }
    }
    await report('released');
    return state;
  }
  if (input.action === 'refund') {
    for (;;) {
      try {
        const refund = await stripe.refundPledgeInFull({ pledgeId: input.pledgeId });
        await report('refunded', refund?.amount ?? 0);
        return state;
      } catch (error) {
        await waitWhileStuck(error);
      }
    }
  }

  for (;;) {
    try {
      const captured = await stripe.capturePledge({ pledgeId: input.pledgeId, attempt: state.attempt });
      await report('captured', captured.amountCaptured);
      return state;
    } catch (error) {
      if (isNotCapturable(error)) {
        // Final, not stuck: nothing was collected and nothing ever will be; the pledge row already says why (the
        // backer cancelled). Reported as released, the kind that means "the backer keeps their money".
        state.lastError = failureReason(error);
        await report('released');
        return state;
      }
      const card = cardFailureOf(error);
      if (card) {
        state.lastError = `${card.code}: ${card.message}`;
        state.graceEndsAt ??= new Date(Date.now() + input.graceWindowMs).toISOString();
        await databaseActivities.markPledgeErrored({
          pledgeId: input.pledgeId,
          code: card.code,
          message: card.message,
          graceEndsAt: state.graceEndsAt,
          attempt: state.attempt,
        });
        if (reportedWaiting !== 'errored') await report('errored');
        reportedWaiting = 'errored';
        state.status = 'errored';
        const remaining = new Date(state.graceEndsAt).getTime() - Date.now();
        const fixed = remaining > 0 && (await condition(() => newCard || retryRequested, remaining));
        if (!fixed) {
          await databaseActivities.dropPledge({ pledgeId: input.pledgeId });
          await report('dropped');
          return state;
        }
        // A definitive decline: the next try is a new charge, under a new idempotency key.
        state.attempt++;
        newCard = false;
        retryRequested = false;
        state.status = 'settling';
      } else {
        await waitWhileStuck(error);
      }
    }
  }
}
