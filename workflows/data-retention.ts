/**
 * Purges what is past its retention period (src/retention/retention-periods.ts) for as long as the platform runs
 * (one instance, id `data-retention`, started by the worker): Stripe event payloads, sign-in attempts, API
 * idempotency keys, dead sign-in tokens, finished notifications, and (since VELOCITY_AND_IP_RETENTION) velocity
 * events, pledges' client addresses and dead email verification links. Each round calls one activity per table; a backlog
 * larger than a call purges is worked off round after round without sleeping, in small transactions. Continues as
 * new after a bounded number of rounds so its history stays small.
 */
import { continueAsNew, patched, sleep } from '@temporalio/workflow';
import type { RetentionResult, RetentionRound } from '../activities/retention';
import { databaseActivities } from './activity-proxies';

export interface DataRetentionInput {
  intervalMs: number;
  /** Rows per statement (one short transaction each). */
  batchSize: number;
  /** Statements per activity call. */
  maxBatches: number;
}

export const DATA_RETENTION_WORKFLOW_ID = 'data-retention';
/** Three more purges each round (issue #17): runs started before them replay without them. */
export const VELOCITY_AND_IP_RETENTION = 'velocity-and-ip-retention';
/** About 55 history events a round (eight activities and a timer): a run stays near 5,500. */
const ROUNDS_PER_RUN = 100;

export async function dataRetentionWorkflow(input: DataRetentionInput): Promise<void> {
  for (let round = 0; round < ROUNDS_PER_RUN; round++) {
    // Workflow time is deterministic: a replay or a retried activity counts back from the same moment.
    const purge: RetentionRound = { asOf: new Date().toISOString(), batchSize: input.batchSize, maxBatches: input.maxBatches };
    // One table at a time, so the purge never competes with itself for the database.
    const results: RetentionResult[] = [
      await databaseActivities.dropStripeEventPayloads(purge),
      await databaseActivities.purgeLoginAttempts(purge),
      await databaseActivities.purgeIdempotencyKeys(purge),
      await databaseActivities.purgeDeadAuthTokens(purge),
      await databaseActivities.purgeFinishedNotifications(purge),
    ];
    if (patched(VELOCITY_AND_IP_RETENTION)) {
      results.push(
        await databaseActivities.purgeVelocityEvents(purge),
        await databaseActivities.clearPledgeIps(purge),
        await databaseActivities.purgeDeadVerificationLinks(purge),
      );
    }
    if (!results.some((result) => result.more)) await sleep(input.intervalMs);
  }
  await continueAsNew<typeof dataRetentionWorkflow>(input);
}
