/**
 * Settles one pledge of a campaign: capture (the hold, or the saved card off-session), release, or refund. A card
 * that fails leaves the pledge `errored`; the backer has the grace window to save a new card
 * (`paymentMethodUpdatedSignal`), after which the pledge is dropped. Every state change is reported to the
 * campaign workflow by signal, by workflow id, so it reaches the campaign's current run.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  log,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { CARD_ERROR } from '../src/payments/failure-types';
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

export interface SettlePledgeInput {
  campaignId: string;
  pledgeId: string;
  action: 'capture' | 'release' | 'refund';
  graceWindowMs: number;
  stripeTaskQueue: string;
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
    const parent = workflowInfo().parent;
    if (!parent) return;
    const message: PledgeReport = { pledgeId: input.pledgeId, kind, ...(amount === undefined ? {} : { amount }) };
    try {
      await getExternalWorkflowHandle(parent.workflowId).signal(pledgeSettledSignal, message);
    } catch (error) {
      // The campaign is gone (terminated by ops); the pledge's own state in Postgres is still right.
      log.warn('could not report to the campaign workflow', { pledgeId: input.pledgeId, error });
    }
  };

  if (input.action === 'release') {
    await stripe.releasePledge({ pledgeId: input.pledgeId });
    await report('released');
    return state;
  }
  if (input.action === 'refund') {
    const refund = await stripe.refundPledgeInFull({ pledgeId: input.pledgeId });
    await report('refunded', refund?.amount ?? 0);
    return state;
  }

  let reportedWaiting: PledgeReportKind | null = null;
  for (;;) {
    try {
      const captured = await stripe.capturePledge({ pledgeId: input.pledgeId, attempt: state.attempt });
      await report('captured', captured.amountCaptured);
      return state;
    } catch (error) {
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
      } else {
        // Not the backer's problem (Stripe down past the retry budget, or a bug): keep the same attempt, since the
        // charge may have gone through, and wait for ops.
        state.lastError = error instanceof Error ? error.message : String(error);
        log.error('pledge settlement stuck; waiting for retrySettlement', { pledgeId: input.pledgeId, error: state.lastError });
        if (reportedWaiting !== 'stuck') await report('stuck');
        reportedWaiting = 'stuck';
        state.status = 'stuck';
        await condition(() => newCard || retryRequested);
      }
      newCard = false;
      retryRequested = false;
      state.status = 'settling';
    }
  }
}
