/**
 * Drains the notification outbox one message at a time. Each message is claimed (`FOR UPDATE SKIP LOCKED`, so
 * parallel drains never mail a row twice), mailed and marked in its own transaction: a crash mid-drain re-sends at
 * most the message in flight, and a message that cannot be rendered or mailed fails alone. A failed message is
 * due again after an exponential back-off and parked after `MAX_DELIVERY_ATTEMPTS`, so it never blocks the rest.
 */
import { Context } from '@temporalio/activity';
import { renderNotification } from '../src/notifications/templates';
import { deliveryRetryDelayMs, MAX_DELIVERY_ATTEMPTS, type NotificationTemplate } from '../src/notifications/outbox';
import { type ActivityDeps } from './deps';

export interface NotificationActivityOptions {
  /** The clock deciding which messages are due (tests move it by hand). */
  now?: () => Date;
}

type Outcome = 'sent' | 'failed' | 'none due';

export function createNotificationActivities({ database, mailer }: ActivityDeps, { now = () => new Date() }: NotificationActivityOptions = {}) {
  /** Renders and mails one message; returns why it failed, if it did. */
  async function send(notification: { template: string; payload: unknown; email: string }): Promise<string | undefined> {
    let message: { subject: string; text: string };
    try {
      message = renderNotification(notification.template as NotificationTemplate, notification.payload as Record<string, unknown>);
    } catch (error) {
      return `rendering template ${notification.template}: ${errorMessage(error)}`;
    }
    try {
      await mailer.send({ to: notification.email, ...message });
      return undefined;
    } catch (error) {
      return errorMessage(error);
    }
  }

  async function deliverNext(): Promise<Outcome> {
    return database.transaction(async (trx) => {
      const at = now();
      const notification = await trx
        .selectFrom('notifications')
        .innerJoin('users', 'users.id', 'notifications.recipient_id')
        .select(['notifications.id', 'notifications.template', 'notifications.payload', 'notifications.attempts', 'users.email'])
        .where('notifications.sent_at', 'is', null)
        .where('notifications.parked_at', 'is', null)
        .where('notifications.next_attempt_at', '<=', at)
        .orderBy('notifications.next_attempt_at')
        .orderBy('notifications.id')
        .limit(1)
        .forUpdate('notifications')
        .skipLocked()
        .executeTakeFirst();
      if (!notification) return 'none due';

      const attempts = notification.attempts + 1;
      const failure = await send(notification);
      // Database errors are not caught: the transaction rolls back and the activity is retried.
      if (failure === undefined) {
        await trx.updateTable('notifications').set({ sent_at: at, attempts }).where('id', '=', notification.id).execute();
        return 'sent';
      }
      const parked = attempts >= MAX_DELIVERY_ATTEMPTS;
      await trx
        .updateTable('notifications')
        .set({
          attempts,
          last_error: failure,
          next_attempt_at: new Date(at.getTime() + deliveryRetryDelayMs(attempts)),
          ...(parked ? { parked_at: at } : {}),
        })
        .where('id', '=', notification.id)
        .execute();
      if (parked) {
        activityLog()?.warn('notification parked after its last delivery attempt', {
          notificationId: notification.id,
          template: notification.template,
          attempts,
          lastError: failure,
        });
      }
      return 'failed';
    });
  }

  return {
    /** Tries up to `limit` due notifications; returns how many were sent. */
    async deliverNotifications(input: { limit: number }): Promise<number> {
      let sent = 0;
      for (let tried = 0; tried < input.limit; tried++) {
        const outcome = await deliverNext();
        if (outcome === 'none due') break;
        if (outcome === 'sent') sent++;
      }
      return sent;
    },
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The activity's logger; none when the function is called outside an activity (a script, a test). */
function activityLog() {
  try {
    return Context.current().log;
  } catch {
    return undefined;
  }
}
