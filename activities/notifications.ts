/**
 * Drains the notification outbox: each unsent row is mailed and marked sent. Rows are claimed with
 * `FOR UPDATE SKIP LOCKED`, so several workers drain in parallel without mailing a row twice.
 */
import { renderNotification } from '../src/notifications/templates';
import { type NotificationTemplate } from '../src/notifications/outbox';
import { type ActivityDeps } from './deps';

export function createNotificationActivities({ database, mailer }: ActivityDeps) {
  return {
    /** Sends up to `limit` pending notifications; returns how many were sent. */
    async deliverNotifications(input: { limit: number }): Promise<number> {
      return database.transaction(async (trx) => {
        const pending = await trx
          .selectFrom('notifications')
          .innerJoin('users', 'users.id', 'notifications.recipient_id')
          .select(['notifications.id', 'notifications.template', 'notifications.payload', 'users.email'])
          .where('notifications.sent_at', 'is', null)
          .orderBy('notifications.id')
          .limit(input.limit)
          .forUpdate('notifications')
          .skipLocked()
          .execute();
        let sent = 0;
        for (const notification of pending) {
          const message = renderNotification(notification.template as NotificationTemplate, notification.payload as Record<string, unknown>);
          try {
            await mailer.send({ to: notification.email, ...message });
            await trx.updateTable('notifications').set({ sent_at: new Date(), attempts: (eb) => eb('attempts', '+', 1) }).where('id', '=', notification.id).execute();
            sent++;
          } catch (error) {
            await trx
              .updateTable('notifications')
              .set({ attempts: (eb) => eb('attempts', '+', 1), last_error: error instanceof Error ? error.message : String(error) })
              .where('id', '=', notification.id)
              .execute();
          }
        }
        return sent;
      });
    },
  };
}
