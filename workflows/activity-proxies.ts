/**
 * Activity stubs, one per timeout class. Database activities are quick and retried for up to a day (a Postgres
 * outage should pause a campaign, not fail it). Stripe activities run on their own rate-limited task queue and are
 * retried with back-off for up to an hour; card errors are non-retryable and come back to the workflow at once.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { DatabaseActivities, StripeActivities } from '../activities';

export const databaseActivities = proxyActivities<DatabaseActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export function stripeActivities(taskQueue: string) {
  return proxyActivities<StripeActivities>({
    taskQueue,
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: '1 hour',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  });
}
