/**
 * Settles a batch of a campaign's pledges (`<campaign>/batch-<first pledge id>`): one Stripe activity captures or
 * releases them all (`settlePledges`), and one signal tells the campaign which were settled. A pledge the batch
 * could not simply settle (a declined card, a pledge cancelled meanwhile, Stripe failing past the client's retries)
 * goes on to a `settlePledgeWorkflow` of its own, started here and reporting to the campaign, which waits for a new
 * card or out an outage as every pledge's settlement always has. The batch never fails: an activity that gives up
 * (Postgres out for its hour) hands every pledge on.
 */
import { defineSignal, getExternalWorkflowHandle, log, ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { BatchPledge, BatchSettlement } from '../activities/pledge-settlement';
import type { StripeActivities } from '../activities';
import { campaignWorkflowId, type PledgeReport, pledgeSettlementWorkflowId } from './messages';
import { settlePledgeWorkflow, type SettlePledgeInput } from './settle-pledge';
import { failureReason } from './stuck';

export interface SettlePledgeBatchInput extends Omit<SettlePledgeInput, 'pledgeId' | 'action' | 'reportTo'> {
  pledges: BatchPledge[];
}

/** A batch's outcome, for its campaign: pledges settled for good, and those an earlier run had already handed on. */
export interface PledgeBatchReport {
  /** The batch's first pledge's id, which names it. */
  batchId: string;
  settled: PledgeReport[];
  /** Pledges whose own settlement had already been started (by a run ops reset): theirs to report, not this batch's. */
  leftAlone: string[];
}
export const pledgeBatchSettledSignal = defineSignal<[PledgeBatchReport]>('pledgeBatchSettled');

export function settlementBatchWorkflowId(campaignId: string, firstPledgeId: string): string {
  return `${campaignWorkflowId(campaignId)}/batch-${firstPledgeId}`;
}

export async function settlePledgeBatchWorkflow(input: SettlePledgeBatchInput): Promise<PledgeBatchReport> {
  // A batch waits for tokens of the worker's Stripe rate limiter, so it may run a while. It heartbeats: a batch lost
  // with its worker is tried again after the heartbeat timeout, not the start-to-close one.
  const stripe = proxyActivities<StripeActivities>({
    taskQueue: input.stripeTaskQueue,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '30 seconds',
    scheduleToCloseTimeout: '1 hour',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  });
  const campaign = workflowInfo().parent?.workflowId ?? campaignWorkflowId(input.campaignId);
  let results: BatchSettlement[] = [];
  try {
    results = await stripe.settlePledges({ pledges: input.pledges });
  } catch (error) {
    log.warn('settlement batch gave up; each of its pledges is settled on its own', { error: failureReason(error) });
  }

  const byId = new Map(results.map((result) => [result.pledgeId, result]));
  const report: PledgeBatchReport = { batchId: input.pledges[0]!.pledgeId, settled: [], leftAlone: [] };
  const handedOn: Array<Promise<void>> = [];
  for (const pledge of input.pledges) {
    const result = byId.get(pledge.pledgeId);
    if (result?.kind === 'captured') report.settled.push({ pledgeId: pledge.pledgeId, kind: 'captured', amount: result.amount });
    else if (result?.kind === 'released') report.settled.push({ pledgeId: pledge.pledgeId, kind: 'released' });
    else handedOn.push(settleOnItsOwn(input, pledge, campaign).catch((error: unknown) => handedOnBefore(error, pledge, report)));
  }
  await Promise.all(handedOn);
  try {
    await getExternalWorkflowHandle(campaign).signal(pledgeBatchSettledSignal, report);
  } catch (error) {
    // The campaign is gone (terminated by ops); the pledges' own state in Postgres is still right.
    log.warn('could not report to the campaign workflow', { error: failureReason(error) });
  }
  return report;
}

async function settleOnItsOwn(input: SettlePledgeBatchInput, pledge: BatchPledge, campaign: string): Promise<void> {
  const { pledges: _, ...settings } = input;
  await startChild(settlePledgeWorkflow, {
    workflowId: pledgeSettlementWorkflowId(input.campaignId, pledge.pledgeId),
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [{ ...settings, pledgeId: pledge.pledgeId, action: pledge.action, reportTo: campaign }],
  });
}

/** Already settled by an earlier run (ops reset the campaign): its state is in Postgres, not ours to redo. */
function handedOnBefore(error: unknown, pledge: BatchPledge, report: PledgeBatchReport): void {
  if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  report.leftAlone.push(pledge.pledgeId);
}
