/**
 * Notifications are written to an outbox in the same transaction as the change they tell about, and a delivery
 * activity drains it. The dedupe key names the business event, so a retried write queues one message. A message
 * that fails is retried on its own schedule (exponential back-off) and parked for ops after too many attempts.
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
  | 'refund_failed'
  | 'refund_failed_support'
  | 'payout_sent'
  | 'connect_onboarding_reminder'
  | 'dispute_opened'
  | 'dispute_closed'
  | 'email_verification'
  | 'signup_existing_account'
  | 'campaign_update'
  | 'survey_invitation'
  | 'survey_reminder';

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

/** A message that failed this many times is parked: no longer retried, listed for ops. */
export const MAX_DELIVERY_ATTEMPTS = 10;
const FIRST_RETRY_DELAY_MS = 60_000;
const MAX_RETRY_DELAY_MS = 2 * 60 * 60_000;

/**
 * The wait before the next attempt of a message that has failed `attempts` times: doubling from a minute, at most
 * two hours, so a mail server down for a few hours is ridden out before the message is parked (~6 h in all).
 */
export function deliveryRetryDelayMs(attempts: number): number {
  return Math.min(FIRST_RETRY_DELAY_MS * 2 ** (attempts - 1), MAX_RETRY_DELAY_MS);
}

/**
 * Parked messages, most recent first: what ops look at after an incident. Setting `parked_at = null,
 * next_attempt_at = now()` on a row gives it one more attempt.
 */
export async function listParkedNotifications(db: Db, limit = 100) {
  return db
    .selectFrom('notifications')
    .select(['id', 'recipient_id', 'template', 'dedupe_key', 'attempts', 'last_error', 'created_at', 'parked_at'])
    .where('sent_at', 'is', null)
    .where('parked_at', 'is not', null)
    .orderBy('parked_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
