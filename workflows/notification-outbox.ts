/**
 * Drains the notification outbox for as long as the platform runs (one instance, id `notification-outbox`,
 * started by the worker). It continues as new after a bounded number of rounds so its history stays small.
 */
import { continueAsNew, sleep } from '@temporalio/workflow';
import { databaseActivities } from './activity-proxies';

export interface NotificationOutboxInput {
  intervalMs: number;
  batchSize: number;
}

export const NOTIFICATION_OUTBOX_WORKFLOW_ID = 'notification-outbox';
const ROUNDS_PER_RUN = 500;

export async function notificationOutboxWorkflow(input: NotificationOutboxInput): Promise<void> {
  for (let round = 0; round < ROUNDS_PER_RUN; round++) {
    const sent = await databaseActivities.deliverNotifications({ limit: input.batchSize });
    if (sent < input.batchSize) await sleep(input.intervalMs);
  }
  await continueAsNew<typeof notificationOutboxWorkflow>(input);
}
