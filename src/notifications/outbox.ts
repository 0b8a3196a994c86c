/**
 * Notifications are written to an outbox in the same transaction as the change they tell about, and a delivery
 * activity drains it. The dedupe key names the business event, so a retried write queues one message.
 */
import { type Db, type Tx } from '../../db/database';

export type NotificationTemplate =
  | 'pledge_receipt'
  | 'pledge_changed'
  | 'pledge_cancelled'
  | 'campaign_funded'
  | 'campaign_failed'
  | 'campaign_cancelled'
  | 'stretch_goal_unlocked'
  | 'payment_failed'
  | 'pledge_dropped'
  | 'refund_issued'
  | 'payout_sent'
  | 'connect_onboarding_reminder';

export interface NotificationRequest {
  recipientId: string;
  template: NotificationTemplate;
  payload: Record<string, unknown>;
  dedupeKey: string;
}

export async function enqueueNotifications(trx: Db | Tx, notifications: NotificationRequest[]): Promise<void> {
  if (notifications.length === 0) return;
  await trx
    .insertInto('notifications')
    .values(
      notifications.map((notification) => ({
        recipient_id: notification.recipientId,
        template: notification.template,
        payload: JSON.stringify(notification.payload),
        dedupe_key: notification.dedupeKey,
      })),
    )
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .execute();
}
