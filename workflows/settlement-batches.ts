/**
 * Settlement in batches (since `settlement-batches`): each page of pledges is cut into batches of PLEDGES_PER_BATCH,
 * each settled by a `settlePledgeBatchWorkflow` child (one Stripe activity for the batch, one signal back), through a
 * sliding window of at most `settlementWindowSize` children; a pledge a batch could not simply settle, and every
 * refund, is settled by a `settlePledgeWorkflow` of its own, as every pledge was before, and holds a place in the
 * window until it reports. One page per run, as before: every child of the page has started before the run
 * continues as new, and children report by workflow id.
 *
 * Why: a child per pledge cost the worker a new workflow, three workflow tasks and a signal per pledge, and its one
 * workflow thread could not keep up with Stripe's 100 requests/s; a batch costs that for 25 pledges. The window is
 * counted in children as before, so it now holds up to 25 times as many pledges: what keeps the worker's Stripe
 * rate limiter (the pace at Stripe) from ever waiting for work, while each batch waits for its turn, reports and is
 * replaced (by Little's law, pledges in flight must exceed the rate times that turnaround).
 */
import { condition, ParentClosePolicy, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { PledgeToSettle } from '../activities/campaigns';
import type { BatchPledge } from '../activities/pledge-settlement';
import { databaseActivities } from './activity-proxies';
import { type CampaignRun, type CampaignRunState } from './campaign-run';
import { type PledgeBatchReport, settlePledgeBatchWorkflow, settlementBatchWorkflowId } from './settle-pledge-batch';
import { pledgesDone, startProgress } from './settlement-progress';
import { applyReport, startSettlement } from './settlement-window';

/** The patch under which campaigns settle in batches. */
export const SETTLEMENT_BATCHES = 'settlement-batches';

/** Pledges per batch: one Stripe activity, one workflow and one signal for this many pledges. */
const PLEDGES_PER_BATCH = 25;

/** The page in id order, cut into batches; a refund (settled by a child of its own) is a group of its own. */
export function groupsOf(pledges: PledgeToSettle[], size: number): PledgeToSettle[][] {
  const groups: PledgeToSettle[][] = [];
  let batch: PledgeToSettle[] = [];
  for (const pledge of pledges) {
    if (pledge.action === 'refund') {
      if (batch.length > 0) groups.push(batch);
      groups.push([pledge]);
      batch = [];
      continue;
    }
    batch.push(pledge);
    if (batch.length === size) {
      groups.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) groups.push(batch);
  return groups;
}

/** Records a batch's report once: a batch or pledges no longer in flight (a duplicate) change nothing. */
export function applyBatchReport(state: CampaignRunState, report: PledgeBatchReport): void {
  const settlement = state.settlement;
  if (settlement.batches) delete settlement.batches[report.batchId];
  for (const settled of report.settled) applyReport(state, settled);
  for (const pledgeId of report.leftAlone) {
    const index = settlement.inFlight.indexOf(pledgeId);
    if (index >= 0) settlement.inFlight.splice(index, 1);
  }
}

/** Places taken in the window: batches not yet reported, and pledges being settled on their own. */
function childrenInFlight(settlement: CampaignRunState['settlement']): number {
  const batches = Object.values(settlement.batches ?? {});
  const pledgesInBatches = batches.reduce((sum, size) => sum + size, 0);
  return batches.length + Math.max(0, settlement.inFlight.length - pledgesInBatches);
}

/** Returns once every pledge has a final report. */
export async function settleInBatches(run: CampaignRun): Promise<void> {
  const { campaignId, settings, state } = run;
  const settlement = state.settlement;
  // Fixed for the campaign's whole settlement, whatever later versions choose.
  const batchSize = (settlement.batchSize ??= PLEDGES_PER_BATCH);
  settlement.batches ??= {};
  if (!settlement.progress) {
    // Pledges still to settle, plus any that a run settling a child per pledge (before batches) already had.
    const left = await databaseActivities.countPledgesToSettle({ campaignId, outcome: state.outcome! });
    settlement.progress = startProgress(left + pledgesDone(settlement) + Object.keys(settlement.waiting).length, settlement, Date.now());
  }
  run.showProgress();
  while (!settlement.allStarted) {
    const page = await databaseActivities.listPledgesToSettle({
      campaignId,
      outcome: state.outcome!,
      afterPledgeId: settlement.cursor,
      limit: settings.settlementPageSize,
    });
    const starting: Array<Promise<void>> = [];
    for (const group of groupsOf(page.pledges, batchSize)) {
      await condition(() => childrenInFlight(settlement) < settings.settlementWindowSize);
      settlement.inFlight.push(...group.map((pledge) => pledge.pledgeId));
      const first = group[0]!;
      starting.push(first.action === 'refund' ? startSettlement(run, first) : startBatch(run, group as BatchPledge[]));
    }
    // Every child of the page has started before the run continues as new (a start still pending would be lost).
    await Promise.all(starting);
    settlement.cursor = page.nextCursor;
    settlement.allStarted = page.nextCursor === null;
    run.showProgress();
    if (!settlement.allStarted) await run.continueAsNew();
  }
  await condition(() => settlement.inFlight.length === 0 && Object.keys(settlement.waiting).length === 0);
  // A pledge counted at the start may have been cancelled by its backer since, and settled by nobody.
  settlement.progress.total = pledgesDone(settlement);
  run.showProgress();
}

/** Starts the child that settles one batch; one already started (by a run ops reset) is left to its own record. */
async function startBatch(run: CampaignRun, batch: BatchPledge[]): Promise<void> {
  const { campaignId, settings } = run;
  const batchId = batch[0]!.pledgeId;
  run.state.settlement.batches![batchId] = batch.length;
  try {
    await startChild(settlePledgeBatchWorkflow, {
      workflowId: settlementBatchWorkflowId(campaignId, batchId),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [
        {
          campaignId,
          pledges: batch,
          graceWindowMs: settings.graceWindowMs,
          stripeTaskQueue: settings.stripeTaskQueue,
          ...(settings.stuckRetryIntervalMs === undefined ? {} : { stuckRetryIntervalMs: settings.stuckRetryIntervalMs }),
        },
      ],
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    applyBatchReport(run.state, { batchId, settled: [], leftAlone: batch.map((pledge) => pledge.pledgeId) });
  }
}
