/**
 * The housekeeping, one of each per Temporal namespace: the notification outbox and data retention (long-running
 * workflows) and the pending-pledge sweep (a Temporal Schedule). Every worker process starts them at start-up;
 * one already running is left as it is.
 */
import { type Client, ScheduleAlreadyRunning, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { NOTIFICATION_OUTBOX_WORKFLOW_ID, type notificationOutboxWorkflow } from '../../workflows/notification-outbox';
import { PENDING_PLEDGE_SWEEP_SCHEDULE_ID, PENDING_PLEDGE_SWEEP_WORKFLOW_ID } from '../../workflows/pending-pledge-sweep';
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

/**
 * The pending-pledge sweep as a Temporal Schedule (every 5 minutes, pledges pending over 10 minutes; a sweep still
 * running when the next is due is skipped), created unless it exists, so ops see, pause and trigger it in Temporal
 * UI. The self-looping workflow it replaces is stopped if an earlier version left one running.
 */
async function startPendingPledgeSweep(client: Client, taskQueue: string, stripeTaskQueue: string): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: PENDING_PLEDGE_SWEEP_SCHEDULE_ID,
      spec: { intervals: [{ every: '5 minutes' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'sweepPendingPledgesWorkflow',
        workflowId: PENDING_PLEDGE_SWEEP_WORKFLOW_ID,
        taskQueue,
        args: [{ olderThanMs: 10 * 60_000, stripeTaskQueue }],
      },
      policies: { overlap: 'SKIP' },
      state: { note: 'Resolves pledges left pending between our database and Stripe' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.workflow
    .getHandle(PENDING_PLEDGE_SWEEP_WORKFLOW_ID)
    .terminate('replaced by the pending-pledge-sweep schedule')
    .catch((error: unknown) => {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    });
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
