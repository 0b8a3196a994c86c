/**
 * One campaign, from publication to the end of its refund window, as one durable workflow (`campaign-<id>`):
 *
 *   scheduled -> active -> settling -> (funded | failed | cancelled) -> paying out -> refund window -> done
 *
 * It sleeps until the start and then the deadline (a cancel signal wakes it early), closes pledging, decides the
 * outcome with the pure rule, settles every pledge through a sliding window of `settlePledgeWorkflow` children
 * (settlement-window.ts), pays the creator once the payout delay has passed and the funds are there (payout.ts),
 * releases the payout's reserve against chargebacks when its period ends, if the payout held one back (reserve.ts),
 * and stays open for support's refunds (refund-queue.ts) until both the refund window and the reserve period are over.
 * No dependency being down fails it: a step that gives up
 * waits as `stuck`. It continues as new between settlement pages, and in the payout and refund-window phases once
 * its history grows, so no run's history grows with the number of pledges or refunds.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { decideOutcome } from '../src/rules/outcome';
import { databaseActivities, stripeActivities } from './activity-proxies';
import { type CampaignRun, type CampaignRunState, initialRunState, MoneyLock } from './campaign-run';
import {
  campaignStateQuery,
  type CampaignSettings,
  type CampaignState,
  cancelCampaignSignal,
  connectAccountUpdatedSignal,
  pledgeSettledSignal,
  pledgeSettlementWorkflowId,
  refundPledgeSignal,
  retryPledgeSettlementSignal,
  retrySettlementSignal,
} from './messages';
import { payOut } from './payout';
import { releaseReserve, reserveHeld } from './reserve';
import { startRefundQueue } from './refund-queue';
import { CampaignEndsAtKey, CampaignIdKey, CampaignModelKey, CampaignStatusKey } from './search-attributes';
import { applyReport, settleAllPledges } from './settlement-window';
import { applyBatchReport, SETTLEMENT_BATCHES, settleInBatches } from './settlement-batches';
import { pledgeBatchSettledSignal } from './settle-pledge-batch';
import { progressText, progressView } from './settlement-progress';
import { waitUntil } from './stuck';

export type { CampaignRunState } from './campaign-run';

/** Runs recorded before the payout and refund-window phases could continue as new replay without doing so. */
const CONTINUE_AS_NEW_AFTER_SETTLEMENT = 'continue-as-new-after-settlement';
/** Runs recorded before payouts could hold a reserve back replay without its timer and release. */
const PAYOUT_RESERVE = 'payout-reserve';
/**
 * A run hands over to a new one after this many refunds signalled or payout checks (each adds a handful of events),
 * or once its history reaches HISTORY_EVENTS_PER_RUN, whichever comes first: far below Temporal's limits.
 */
const STEPS_PER_RUN = 500;
const HISTORY_EVENTS_PER_RUN = 5_000;

export interface CampaignWorkflowInput {
  campaignId: string;
  settings: CampaignSettings;
  /** Carried across continue-as-new. */
  resume?: CampaignRunState;
}

/** The status shown to ops in Temporal UI and searched with `CampaignStatus = '...'`. */
function statusOf(state: CampaignRunState): string {
  if (state.phase === 'done') return 'closed';
  if (state.payout?.state === 'stuck') return 'payout_stuck';
  if (state.reserve?.state === 'stuck') return 'reserve_stuck';
  if (state.refunds && Object.keys(state.refunds.stuck).length > 0) return 'refund_stuck';
  if (state.payout?.state === 'paid') return 'paid_out';
  if (state.outcome && state.phase !== 'settling') return state.outcome;
  return state.phase;
}

export async function campaignWorkflow(input: CampaignWorkflowInput): Promise<CampaignState> {
  const { campaignId, settings } = input;
  const resumed = input.resume ?? initialRunState();
  // Runs continued by an earlier version of this workflow carry neither.
  const state = {
    ...resumed,
    payoutWake: resumed.payoutWake ?? { accountUpdated: false, retry: false },
    refunds: resumed.refunds ?? { queue: [], stuck: {}, retryAt: null },
  };
  const settlement = state.settlement;
  // Mutated by signal handlers; held in an object so the compiler does not narrow it to its initial value.
  const cancel: { request: { reason: string } | null } = { request: null };
  let stepsThisRun = 0;
  let mayContinueAsNew = false;

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
    refunds: { queued: state.refunds.queue.length, stuck: state.refunds.stuck },
    failedRefunds: state.failedRefunds,
    ...(state.reserve ? { reserve: state.reserve } : {}),
    ...(settlement.progress ? { settlement: progressView(settlement, Date.now()) } : {}),
  });

  // Loaded after the handlers are registered; status updates before then have nothing to show.
  const loaded: { campaign?: Awaited<ReturnType<typeof databaseActivities.loadCampaign>> } = {};

  /** What ops read in Temporal UI's details: the status, the money, settlement's progress, and what is stuck. */
  const details = (campaign: NonNullable<typeof loaded.campaign>): string => {
    const status = statusOf(state);
    const p = view().pledges;
    const stuckRefunds = Object.keys(state.refunds.stuck).length;
    const progress = state.phase === 'settling' ? progressView(settlement, Date.now()) : undefined;
    return (
      `**${status}** · pledged ${state.totals.pledged} ${campaign.currency} minor units by ${state.totals.backers} backers` +
      (progress ? ` · ${progressText(progress)}` : '') +
      (state.outcome ? ` · captured ${p.captured}, released ${p.released}, refunded ${p.refunded}, errored ${p.errored}, dropped ${p.dropped}, stuck ${p.stuck}` : '') +
      (state.payout?.state === 'stuck' ? ` · payout stuck: ${state.payout.reason ?? 'unknown'}` : '') +
      (state.reserve?.state === 'stuck' ? ` · reserve release stuck: ${state.reserve.reason ?? 'unknown'}` : '') +
      (stuckRefunds > 0 ? ` · ${stuckRefunds} refunds stuck, e.g. ${Object.values(state.refunds.stuck)[0]}` : '')
    );
  };

  const run: CampaignRun = {
    campaignId,
    settings,
    state,
    stripe: stripeActivities(settings.stripeTaskQueue),
    money: new MoneyLock(),
    upsertStatusAndDetails() {
      const campaign = loaded.campaign;
      if (!campaign) return;
      const status = statusOf(state);
      upsertSearchAttributes([
        { key: CampaignIdKey, value: campaignId },
        { key: CampaignStatusKey, value: status },
        { key: CampaignModelKey, value: campaign.model },
        { key: CampaignEndsAtKey, value: new Date(campaign.endsAt) },
      ]);
      setCurrentDetails(details(campaign));
    },
    showProgress() {
      if (loaded.campaign) setCurrentDetails(details(loaded.campaign));
    },
    countStep() {
      stepsThisRun++;
    },
    continueAsNewDue: () => {
      if (!mayContinueAsNew) return false;
      const info = workflowInfo();
      return info.continueAsNewSuggested || info.historyLength >= HISTORY_EVENTS_PER_RUN || stepsThisRun >= STEPS_PER_RUN;
    },
    async continueAsNew() {
      // Nothing half done crosses into the new run: the refund in progress and every handler finish first.
      await refunds.hold();
      await condition(allHandlersFinished);
      return continueAsNew<typeof campaignWorkflow>({ ...input, resume: state });
    },
  };
  const refunds = startRefundQueue(run);

  // Handlers first, before any await, so no signal or query is ever missed.
  setHandler(campaignStateQuery, view);
  setHandler(cancelCampaignSignal, ({ reason }) => {
    if (state.phase === 'scheduled' || state.phase === 'active') cancel.request ??= { reason };
  });
  setHandler(pledgeSettledSignal, (report) => {
    applyReport(state, report);
    run.showProgress();
  });
  setHandler(pledgeBatchSettledSignal, (report) => {
    applyBatchReport(state, report);
    run.showProgress();
  });
  setHandler(connectAccountUpdatedSignal, () => {
    state.payoutWake.accountUpdated = true;
  });
  setHandler(refundPledgeSignal, ({ refundId }) => {
    run.countStep();
    refunds.add(refundId);
  });
  setHandler(retrySettlementSignal, async () => {
    if (state.payout?.state === 'stuck' || state.reserve?.state === 'stuck') state.payoutWake.retry = true;
    if (state.refunds.retryAt !== null) state.refunds.retryAt = null;
    for (const pledgeId of Object.keys(settlement.waiting)) {
      await getExternalWorkflowHandle(pledgeSettlementWorkflowId(campaignId, pledgeId))
        .signal(retryPledgeSettlementSignal)
        .catch((error: unknown) => log.warn('could not signal pledge settlement', { pledgeId, error }));
    }
  });

  const campaign = (loaded.campaign = await databaseActivities.loadCampaign(campaignId));
  run.upsertStatusAndDetails();

  const until = (iso: string) => Math.max(new Date(iso).getTime() - Date.now(), 0);

  if (state.phase === 'scheduled') {
    await condition(() => cancel.request !== null, until(campaign.startsAt));
    if (!cancel.request) {
      await databaseActivities.markCampaignActive(campaignId);
      state.phase = 'active';
      run.upsertStatusAndDetails();
    }
  }
  if (state.phase === 'active') {
    await condition(() => cancel.request !== null, until(campaign.endsAt));
  }
  if (state.phase === 'scheduled' || state.phase === 'active') {
    state.phase = 'settling';
    const tally = await databaseActivities.closePledging(campaignId);
    state.totals.pledged = tally.totalPledged;
    state.totals.backers = tally.backers;
    state.cancelReason = cancel.request?.reason ?? null;
    state.outcome = decideOutcome({ model: campaign.model, goalAmount: campaign.goalAmount, totalPledged: tally.totalPledged, cancelled: cancel.request !== null });
    await databaseActivities.recordOutcome({ campaignId, outcome: state.outcome, raised: tally.totalPledged, ...(cancel.request ? { reason: cancel.request.reason } : {}) });
    run.upsertStatusAndDetails();
  }

  if (state.phase === 'settling') {
    // Campaigns that began settling with a child per pledge replay that way; since then, pledges settle in batches.
    if (patched(SETTLEMENT_BATCHES)) await settleInBatches(run);
    else await settleAllPledges(run);
    state.settledAt = Date.now();
    state.phase = state.outcome === 'funded' ? 'paying_out' : 'done';
    run.upsertStatusAndDetails();
  }

  // From here on, refunds and payout checks can go on for months: this run hands over to a new one as it grows.
  mayContinueAsNew = patched(CONTINUE_AS_NEW_AFTER_SETTLEMENT);

  if (state.phase === 'paying_out') {
    if ((await payOut(run)) === 'continue_as_new') return run.continueAsNew();
    const reserve = settings.payoutReserve;
    if (reserve && (state.payout?.reserve ?? 0) > 0 && patched(PAYOUT_RESERVE)) state.reserve = reserveHeld(reserve.periodMs);
    state.phase = 'refund_window';
    run.upsertStatusAndDetails();
  }

  if (state.phase === 'refund_window') {
    const closesAt = (state.settledAt ?? Date.now()) + settings.refundWindowMs;
    // The reserve period and the refund window overlap: the campaign closes once both are over.
    if (state.reserve && (await releaseReserve(run, state.reserve)) === 'continue_as_new') return run.continueAsNew();
    await waitUntil(closesAt, run.continueAsNewDue);
    if (run.continueAsNewDue()) return run.continueAsNew();
    state.phase = 'done';
  }

  // Refunds already signalled are carried out (retried until done) before the workflow closes.
  await condition(() => (refunds.empty() && allHandlersFinished()) || run.continueAsNewDue());
  if (run.continueAsNewDue()) return run.continueAsNew();
  await databaseActivities.closeCampaign(campaignId);
  run.upsertStatusAndDetails();
  // A refund signalled while the campaign closed is carried out too.
  await condition(() => refunds.empty() && allHandlersFinished());
  return view();
}
