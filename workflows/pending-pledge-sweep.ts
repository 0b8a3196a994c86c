/**
 * Resolves pledges left `pending` by a crash or an outage between the pledge row and Stripe's answer, for as long
 * as the platform runs (one instance, id `pending-pledge-sweep`, started by the worker). Continues as new after a
 * bounded number of rounds so its history stays small.
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
const ROUNDS_PER_RUN = 200;

export async function pendingPledgeSweepWorkflow(input: PendingPledgeSweepInput): Promise<void> {
  const stripe = stripeActivities(input.stripeTaskQueue);
  for (let round = 0; round < ROUNDS_PER_RUN; round++) {
    await stripe.resolvePendingPledges({ olderThanMs: input.olderThanMs });
    await sleep(input.intervalMs);
  }
  await continueAsNew<typeof pendingPledgeSweepWorkflow>(input);
}
