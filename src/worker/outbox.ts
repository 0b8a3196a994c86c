import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { NOTIFICATION_OUTBOX_WORKFLOW_ID, type notificationOutboxWorkflow } from '../../workflows/notification-outbox';

/** Starts the one outbox-draining workflow unless it already runs (every worker process calls this at start). */
export async function startNotificationOutbox(client: Client, taskQueue: string): Promise<void> {
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
