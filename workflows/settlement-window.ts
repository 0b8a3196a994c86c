/**
 * Settlement: every pledge of a decided campaign settled by its own `settlePledgeWorkflow` child, through a sliding
 * window of at most `settlementWindowSize` children, one page of pledges per run (batch-sliding-window sample). Since
 * `settlement-batches` campaigns settle in batches (settlement-batches.ts) and start a child only for a pledge that
 * needs one; campaigns that began settling before replay this way. Both share how reports are applied.
 */
import { condition, ParentClosePolicy, patched, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { databaseActivities } from './activity-proxies';
import { type CampaignRun, type CampaignRunState } from './campaign-run';
import { type PledgeReport, pledgeSettlementWorkflowId } from './messages';
import { settlePledgeWorkflow, type SettlePledgeInput } from './settle-pledge';
import { noteProgress } from './settlement-progress';

/** The patch under which settlement starts a whole window of children in one workflow task. */
const CONCURRENT_CHILD_STARTS = 'settlement-concurrent-child-starts';

/**
 * Records a child's report once: duplicates (a retried signal) and reports for unknown pledges change nothing.
 * Errored and stuck children keep the pledge waiting; every other kind is final.
 */
export function applyReport(state: CampaignRunState, report: PledgeReport): void {
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
  noteProgress(settlement, Date.now());
}

/**
 * The sliding window. Before continuing as new, every child of the page has started and every signal handler has
 * finished, so no report is lost between runs; children report by workflow id and so reach the next run. Returns
 * once every pledge has a final report.
 */
export async function settleAllPledges(run: CampaignRun): Promise<void> {
  const { campaignId, settings, state } = run;
  const settlement = state.settlement;
  // Runs recorded before the window was filled in one workflow task replay as they ran: one start at a time.
  const concurrentStarts = patched(CONCURRENT_CHILD_STARTS);
  while (!settlement.allStarted) {
    const page = await databaseActivities.listPledgesToSettle({
      campaignId,
      outcome: state.outcome!,
      afterPledgeId: settlement.cursor,
      limit: settings.settlementPageSize,
    });
    const starting: Array<Promise<void>> = [];
    for (const pledge of page.pledges) {
      await condition(() => settlement.inFlight.length < settings.settlementWindowSize);
      settlement.inFlight.push(pledge.pledgeId);
      const started = startSettlement(run, pledge);
      // Each start resolves a workflow task later; awaiting them one by one would start one child per round trip.
      if (concurrentStarts) starting.push(started);
      else await started;
    }
    // Every child of the page has started before the run continues as new (a start still pending would be lost).
    await Promise.all(starting);
    settlement.cursor = page.nextCursor;
    settlement.allStarted = page.nextCursor === null;
    run.upsertStatusAndDetails();
    if (!settlement.allStarted) await run.continueAsNew();
  }
  await condition(() => settlement.inFlight.length === 0 && Object.keys(settlement.waiting).length === 0);
}

/** Starts the child that settles one pledge; one already started (by a run ops reset) is left to its own record. */
export async function startSettlement(run: CampaignRun, pledge: { pledgeId: string; action: SettlePledgeInput['action'] }): Promise<void> {
  const { campaignId, settings } = run;
  const settlement = run.state.settlement;
  const input: SettlePledgeInput = {
    campaignId,
    pledgeId: pledge.pledgeId,
    action: pledge.action,
    graceWindowMs: settings.graceWindowMs,
    stripeTaskQueue: settings.stripeTaskQueue,
    ...(settings.stuckRetryIntervalMs === undefined ? {} : { stuckRetryIntervalMs: settings.stuckRetryIntervalMs }),
  };
  try {
    await startChild(settlePledgeWorkflow, {
      workflowId: pledgeSettlementWorkflowId(campaignId, pledge.pledgeId),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [input],
    });
  } catch (error) {
    // Already settled by an earlier run (ops reset the workflow): its state is in Postgres, not ours to redo.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    settlement.inFlight.splice(settlement.inFlight.indexOf(pledge.pledgeId), 1);
  }
}
