/**
 * The long-running housekeeping workflows, one of each per Temporal namespace: the notification outbox, the pending-pledge
 * sweep and data retention. Every worker process starts them at start-up; one already running is left as it is.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { NOTIFICATION_OUTBOX_WORKFLOW_ID, type notificationOutboxWorkflow } from '../../workflows/notification-outbox';
import { PENDING_PLEDGE_SWEEP_WORKFLOW_ID, type pendingPledgeSweepWorkflow } from '../../workflows/pending-pledge-sweep';
import { DATA_RETENTION_WORKFLOW_ID, type dataRetentionWorkflow } from '../../workflows/data-retention';

export async function startHousekeepingWorkflows(client: Client, taskQueue: string, stripeTaskQueue: string): Promise<void> {
  await startNotificationOutbox(client, taskQueue);
  await startPendingPledgeSweep(client, taskQueue, stripeTaskQueue);
  await startDataRetention(client, taskQueue);
}

/** Starts the one outbox-draining workflow unless it already runs. */
async function startNotificationOutbox(client: Client, taskQueue: string): Promise<void> {
  try {
    await client.workflow.start<typeof notificationOutboxWorkflow>('notificationOutboxWorkflow', {
      workflowId: NOTIFICATION_OUTBOX_WORKFLOW_ID,
      taskQueue,
      args: [{ intervalMs: 2_000, batchSize: 50 }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: 'Mails queued notifications (outbox)',
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/** Starts the one pending-pledge sweep unless it already runs: every 5 minutes, pledges pending over 10 minutes. */
async function startPendingPledgeSweep(client: Client, taskQueue: string, stripeTaskQueue: string): Promise<void> {
  try {
    await client.workflow.start<typeof pendingPledgeSweepWorkflow>('pendingPledgeSweepWorkflow', {
      workflowId: PENDING_PLEDGE_SWEEP_WORKFLOW_ID,
      taskQueue,
      args: [{ intervalMs: 5 * 60_000, olderThanMs: 10 * 60_000, stripeTaskQueue }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: 'Resolves pledges left pending between our database and Stripe',
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/**
 * Starts the one data-retention workflow unless it already runs: hourly, so each round has at most an hour's worth
 * to purge; up to 20 statements of 1,000 rows a call (a call well inside its 30 s timeout).
 */
async function startDataRetention(client: Client, taskQueue: string): Promise<void> {
  try {
    await client.workflow.start<typeof dataRetentionWorkflow>('dataRetentionWorkflow', {
      workflowId: DATA_RETENTION_WORKFLOW_ID,
      taskQueue,
      args: [{ intervalMs: 60 * 60_000, batchSize: 1_000, maxBatches: 20 }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: 'Purges Stripe event payloads, sign-in attempts, idempotency keys, dead tokens and old notifications past retention',
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}
