/**
 * One campaign, from publication to the end of its refund window, as one durable workflow (`campaign-<id>`):
 *
 *   scheduled -> active -> settling -> (funded | failed | cancelled) -> paying out -> refund window -> done
 *
 * It sleeps until the start and then the deadline (a cancel signal wakes it early), closes pledging, decides the
 * outcome with the pure rule, settles every pledge through a sliding window of `settlePledgeWorkflow` children
 * (continuing as new between pages, so no history grows with the number of pledges), pays the creator once the
 * payout delay has passed and Stripe has the funds, and stays open for support's refunds.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  ActivityFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { PAYOUT_NOT_READY } from '../src/payments/failure-types';
import { decideOutcome, type Outcome } from '../src/rules/outcome';
import { databaseActivities as db, stripeActivities } from './activity-proxies';
import {
  campaignStateQuery,
  type CampaignPhase,
  type CampaignSettings,
  type CampaignState,
  cancelCampaignSignal,
  connectAccountUpdatedSignal,
  type PledgeReport,
  pledgeSettledSignal,
  pledgeSettlementWorkflowId,
  refundPledgeSignal,
  retryPledgeSettlementSignal,
  retrySettlementSignal,
} from './messages';
import { CampaignEndsAtKey, CampaignIdKey, CampaignModelKey, CampaignStatusKey } from './search-attributes';
import { settlePledgeWorkflow, type SettlePledgeInput } from './settle-pledge';

/** The patch under which settlement starts a whole window of children in one workflow task. */
const CONCURRENT_CHILD_STARTS = 'settlement-concurrent-child-starts';

export interface CampaignWorkflowInput {
  campaignId: string;
  settings: CampaignSettings;
  /** Carried across continue-as-new during settlement. */
  resume?: CampaignRunState;
}

/** Everything a run must hand to the next one. */
export interface CampaignRunState {
  phase: CampaignPhase;
  outcome: Outcome | null;
  cancelReason: string | null;
  totals: CampaignState['totals'];
  settlement: {
    /** Last pledge id handed to a child; the next page starts after it. */
    cursor: string | null;
    allStarted: boolean;
    inFlight: string[];
    /** Pledges whose child waits: for the backer's new card (errored) or for ops (stuck). */
    waiting: Record<string, 'errored' | 'stuck'>;
    counts: { captured: number; released: number; refunded: number; dropped: number };
  };
  settledAt: number | null;
  payout: CampaignState['payout'];
  failedRefunds: string[];
}

function initialState(): CampaignRunState {
  return {
    phase: 'scheduled',
    outcome: null,
    cancelReason: null,
    totals: { pledged: 0, backers: 0, captured: 0, refunded: 0 },
    settlement: { cursor: null, allStarted: false, inFlight: [], waiting: {}, counts: { captured: 0, released: 0, refunded: 0, dropped: 0 } },
    settledAt: null,
    payout: null,
    failedRefunds: [],
  };
}

/** Serialises the activities that move the campaign's money (payout, refunds), so each sees the other's result. */
class MoneyLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** The status shown to ops in Temporal UI and searched with `CampaignStatus = '...'`. */
function statusOf(state: CampaignRunState): string {
  if (state.phase === 'done') return 'closed';
  if (state.payout?.state === 'paid') return 'paid_out';
  if (state.outcome && state.phase !== 'settling') return state.outcome;
  return state.phase;
}

export async function campaignWorkflow(input: CampaignWorkflowInput): Promise<CampaignState> {
  const { campaignId, settings } = input;
  const stripe = stripeActivities(settings.stripeTaskQueue);
  const state = input.resume ?? initialState();
  const settlement = state.settlement;
  const money = new MoneyLock();
  // Mutated by signal handlers; held in objects so the compiler does not narrow them to their initial value.
  const cancel: { request: { reason: string } | null } = { request: null };
  const connect = { accountUpdated: false };

  const view = (): CampaignState => ({
    campaignId,
    phase: state.phase,
    outcome: state.outcome,
    cancelReason: state.cancelReason,
    totals: state.totals,
    pledges: {
      ...settlement.counts,
      errored: Object.values(settlement.waiting).filter((kind) => kind === 'errored').length,
      stuck: Object.values(settlement.waiting).filter((kind) => kind === 'stuck').length,
      inFlight: settlement.inFlight.length,
    },
    payout: state.payout,
    failedRefunds: state.failedRefunds,
  });

  // Handlers first, before any await, so no signal or query is ever missed.
  setHandler(campaignStateQuery, view);
  setHandler(cancelCampaignSignal, ({ reason }) => {
    if (state.phase === 'scheduled' || state.phase === 'active') cancel.request ??= { reason };
  });
  setHandler(pledgeSettledSignal, (report) => applyReport(state, report));
  setHandler(connectAccountUpdatedSignal, () => {
    connect.accountUpdated = true;
  });
  setHandler(refundPledgeSignal, async ({ refundId }) => {
    try {
      const refund = await money.run(() => stripe.executeRefund({ refundId }));
      if (refund.status === 'succeeded') state.totals.refunded += refund.amount;
      else state.failedRefunds.push(refundId);
    } catch (error) {
      // The refund row stays `requested`; support or ops can send the signal again once the cause is fixed.
      log.error('refund failed', { refundId, error: error instanceof Error ? error.message : String(error) });
      state.failedRefunds.push(refundId);
    }
  });
  setHandler(retrySettlementSignal, async () => {
    for (const pledgeId of Object.keys(settlement.waiting)) {
      await getExternalWorkflowHandle(pledgeSettlementWorkflowId(campaignId, pledgeId))
        .signal(retryPledgeSettlementSignal)
        .catch((error: unknown) => log.warn('could not signal pledge settlement', { pledgeId, error }));
    }
  });

  const campaign = await db.loadCampaign(campaignId);
  const publish = () => {
    const status = statusOf(state);
    upsertSearchAttributes([
      { key: CampaignIdKey, value: campaignId },
      { key: CampaignStatusKey, value: status },
      { key: CampaignModelKey, value: campaign.model },
      { key: CampaignEndsAtKey, value: new Date(campaign.endsAt) },
    ]);
    const p = view().pledges;
    setCurrentDetails(
      `**${status}** · pledged ${state.totals.pledged} ${campaign.currency} minor units by ${state.totals.backers} backers` +
        (state.outcome ? ` · captured ${p.captured}, released ${p.released}, refunded ${p.refunded}, errored ${p.errored}, dropped ${p.dropped}, stuck ${p.stuck}` : ''),
    );
  };
  publish();

  const until = (iso: string) => Math.max(new Date(iso).getTime() - Date.now(), 0);

  if (state.phase === 'scheduled') {
    await condition(() => cancel.request !== null, until(campaign.startsAt));
    if (!cancel.request) {
      await db.markCampaignActive(campaignId);
      state.phase = 'active';
      publish();
    }
  }
  if (state.phase === 'active') {
    await condition(() => cancel.request !== null, until(campaign.endsAt));
  }
  if (state.phase === 'scheduled' || state.phase === 'active') {
    state.phase = 'settling';
    const tally = await db.closePledging(campaignId);
    state.totals.pledged = tally.totalPledged;
    state.totals.backers = tally.backers;
    state.cancelReason = cancel.request?.reason ?? null;
    state.outcome = decideOutcome({ model: campaign.model, goalAmount: campaign.goalAmount, totalPledged: tally.totalPledged, cancelled: cancel.request !== null });
    await db.recordOutcome({ campaignId, outcome: state.outcome, raised: tally.totalPledged, ...(cancel.request ? { reason: cancel.request.reason } : {}) });
    publish();
  }

  if (state.phase === 'settling') {
    await settleAllPledges(input, state, publish);
    state.settledAt = Date.now();
    state.phase = state.outcome === 'funded' ? 'paying_out' : 'done';
    publish();
  }

  if (state.phase === 'paying_out') {
    await sleep(settings.payoutDelayMs);
    await payOut(input, state, money, connect);
    state.phase = 'refund_window';
    publish();
  }

  if (state.phase === 'refund_window') {
    const closesAt = (state.settledAt ?? Date.now()) + settings.refundWindowMs;
    await sleep(Math.max(closesAt - Date.now(), 0));
    state.phase = 'done';
  }

  // Refunds already signalled finish before the workflow closes.
  await condition(allHandlersFinished);
  await db.closeCampaign(campaignId);
  publish();
  return view();
}

/** Records a child's report once: duplicates (a retried signal) and reports for unknown pledges change nothing. */
function applyReport(state: CampaignRunState, report: PledgeReport): void {
  const settlement = state.settlement;
  const inFlight = settlement.inFlight.indexOf(report.pledgeId);
  const waiting = settlement.waiting[report.pledgeId];
  if (inFlight < 0 && waiting === undefined) return;
  if (inFlight >= 0) settlement.inFlight.splice(inFlight, 1);
  if (report.kind === 'errored' || report.kind === 'stuck') {
    settlement.waiting[report.pledgeId] = report.kind;
    return;
  }
  delete settlement.waiting[report.pledgeId];
  settlement.counts[report.kind]++;
  if (report.kind === 'captured') state.totals.captured += report.amount ?? 0;
  if (report.kind === 'refunded') state.totals.refunded += report.amount ?? 0;
}

/**
 * The sliding window: at most `settlementWindowSize` children settling at once, one page of pledges per run.
 * Before continuing as new, every child of the page has started and every signal handler has finished, so no
 * report is lost between runs; children report by workflow id and so reach the next run.
 */
async function settleAllPledges(input: CampaignWorkflowInput, state: CampaignRunState, publish: () => void): Promise<void> {
  const { campaignId, settings } = input;
  const settlement = state.settlement;
  // Runs recorded before the window was filled in one workflow task replay as they ran: one start at a time.
  const concurrentStarts = patched(CONCURRENT_CHILD_STARTS);
  while (!settlement.allStarted) {
    const page = await db.listPledgesToSettle({
      campaignId,
      outcome: state.outcome!,
      afterPledgeId: settlement.cursor,
      limit: settings.settlementPageSize,
    });
    const starting: Array<Promise<void>> = [];
    for (const pledge of page.pledges) {
      await condition(() => settlement.inFlight.length < settings.settlementWindowSize);
      settlement.inFlight.push(pledge.pledgeId);
      const started = startSettlement(input, settlement, pledge);
      // Each start resolves a workflow task later; awaiting them one by one would start one child per round trip.
      if (concurrentStarts) starting.push(started);
      else await started;
    }
    // Every child of the page has started before the run continues as new (a start still pending would be lost).
    await Promise.all(starting);
    settlement.cursor = page.nextCursor;
    settlement.allStarted = page.nextCursor === null;
    publish();
    if (!settlement.allStarted) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof campaignWorkflow>({ ...input, resume: state });
    }
  }
  await condition(() => settlement.inFlight.length === 0 && Object.keys(settlement.waiting).length === 0);
}

/** Starts the child that settles one pledge; one already started (by a run ops reset) is left to its own record. */
async function startSettlement(
  input: CampaignWorkflowInput,
  settlement: CampaignRunState['settlement'],
  pledge: { pledgeId: string; action: SettlePledgeInput['action'] },
): Promise<void> {
  const { campaignId, settings } = input;
  try {
    await startChild(settlePledgeWorkflow, {
      workflowId: pledgeSettlementWorkflowId(campaignId, pledge.pledgeId),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ campaignId, pledgeId: pledge.pledgeId, action: pledge.action, graceWindowMs: settings.graceWindowMs, stripeTaskQueue: settings.stripeTaskQueue }],
    });
  } catch (error) {
    // Already settled by an earlier run (ops reset the workflow): its state is in Postgres, not ours to redo.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    settlement.inFlight.splice(settlement.inFlight.indexOf(pledge.pledgeId), 1);
  }
}

/**
 * One transfer of the net to the creator, when their account can receive it and Stripe's available balance covers
 * it. Until then the creator is reminded, and the workflow waits for `connectAccountUpdatedSignal` or a timer.
 */
async function payOut(
  input: CampaignWorkflowInput,
  state: CampaignRunState,
  money: MoneyLock,
  connect: { accountUpdated: boolean },
): Promise<void> {
  const { campaignId, settings } = input;
  const stripe = stripeActivities(settings.stripeTaskQueue);
  let reminders = 0;
  state.payout = { state: 'waiting', amount: null, transferId: null };
  for (;;) {
    const readiness = await stripe.payoutReadiness({ campaignId });
    if (readiness.state === 'nothing_to_pay') {
      state.payout = { state: 'nothing_to_pay', amount: 0, transferId: null };
      return;
    }
    if (readiness.state === 'ready') {
      try {
        const sent = await money.run(() => stripe.sendPayout({ campaignId }));
        state.payout = sent ? { state: 'paid', amount: sent.amount, transferId: sent.transferId } : { state: 'nothing_to_pay', amount: 0, transferId: null };
        return;
      } catch (error) {
        const notReady = error instanceof ActivityFailure && error.cause instanceof ApplicationFailure && error.cause.type === PAYOUT_NOT_READY;
        if (!notReady) throw error;
        state.payout = { state: 'funds_pending', amount: readiness.transfer, transferId: null };
        await sleep(settings.fundsRetryIntervalMs);
        continue;
      }
    }
    if (readiness.state === 'account_not_ready') {
      state.payout = { state: 'account_not_ready', amount: null, transferId: null };
      await db.remindCreatorToOnboard({ campaignId, reminder: ++reminders });
      await condition(() => connect.accountUpdated, settings.onboardingReminderIntervalMs);
      connect.accountUpdated = false;
      continue;
    }
    state.payout = { state: 'funds_pending', amount: readiness.transfer, transferId: null };
    await sleep(settings.fundsRetryIntervalMs);
  }
}
