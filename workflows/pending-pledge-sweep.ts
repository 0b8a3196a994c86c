/**
 * Resolves pledges left `pending` by a crash or an outage between the pledge row and Stripe's answer. A Temporal
 * Schedule (`pending-pledge-sweep`, created by the worker) runs one `sweepPendingPledgesWorkflow` every few minutes,
 * so ops see, pause and trigger it in Temporal UI. `pendingPledgeSweepWorkflow`, the self-looping form it replaced,
 * stays registered so that instances started by earlier versions finish as they began.
 */
import { continueAsNew, sleep } from '@temporalio/workflow';
import { stripeActivities } from './activity-proxies';

export interface PendingPledgeSweepInput {
  intervalMs: number;
  /** Only pledges pending for longer than this: a placement still in flight is left alone. */
  olderThanMs: number;
  stripeTaskQueue: string;
}

export const PENDING_PLEDGE_SWEEP_WORKFLOW_ID = 'pending-pledge-sweep';
/** The schedule's id; its runs are `pending-pledge-sweep-<scheduled time>`. */
export const PENDING_PLEDGE_SWEEP_SCHEDULE_ID = 'pending-pledge-sweep';
const ROUNDS_PER_RUN = 200;

/** One sweep: what the schedule starts each time. */
export async function sweepPendingPledgesWorkflow(input: Pick<PendingPledgeSweepInput, 'olderThanMs' | 'stripeTaskQueue'>): Promise<number> {
  return stripeActivities(input.stripeTaskQueue).resolvePendingPledges({ olderThanMs: input.olderThanMs });
}

export async function pendingPledgeSweepWorkflow(input: PendingPledgeSweepInput): Promise<void> {
  const stripe = stripeActivities(input.stripeTaskQueue);
  for (let round = 0; round < ROUNDS_PER_RUN; round++) {
    await stripe.resolvePendingPledges({ olderThanMs: input.olderThanMs });
    await sleep(input.intervalMs);
  }
  await continueAsNew<typeof pendingPledgeSweepWorkflow>(input);
}
