/**
 * One page of an update's send: the next `limit` backers after the update's `send_cursor` (by user id, one per
 * backer whatever their pledges, leaving out who unsubscribed from the campaign) get their mail queued in the
 * outbox, and the row's cursor and counts move on, all in one transaction under the update row's lock. The row is
 * the send's one truth: a page retried after its commit (its answer lost with a worker) queues the next page
 * rather than this one again, and a send started afresh goes on where the last one stopped.
 */
import { sql } from 'kysely';
import { type AppDatabase } from '../../db/database';
import { type Config } from '../config';
import { enqueueNotifications } from '../notifications/outbox';
import { UPDATE_BACKER_PLEDGE_STATUSES } from './backers';
import { unsubscribeToken } from './unsubscribe-token';

export interface UpdatePageResult {
  /** Every backer's mail is queued: the send is over. */
  done: boolean;
  /** Mails queued by this page. */
  queued: number;
  recipientsQueued: number;
  pagesQueued: number;
}

export class CampaignUpdateNotFound extends Error {
  override name = 'CampaignUpdateNotFound';
}

export async function queueUpdatePage(deps: { database: AppDatabase; config: Config }, input: { updateId: string; limit: number }): Promise<UpdatePageResult> {
  const { config } = deps;
  return deps.database.transaction(async (trx) => {
    const update = await trx
      .selectFrom('campaign_updates')
      .innerJoin('campaigns', 'campaigns.id', 'campaign_updates.campaign_id')
      .select([
        'campaign_updates.id',
        'campaign_updates.campaign_id',
        'campaign_updates.number',
        'campaign_updates.title',
        'campaign_updates.body',
        'campaign_updates.audience',
        'campaign_updates.send_status',
        'campaign_updates.send_cursor',
        'campaign_updates.recipients_queued',
        'campaign_updates.pages_queued',
        'campaigns.title as campaign_title',
      ])
      .where('campaign_updates.id', '=', input.updateId)
      .forUpdate('campaign_updates')
      .executeTakeFirst();
    if (!update) throw new CampaignUpdateNotFound(`campaign update ${input.updateId} not found`);
    if (update.send_status === 'sent') return { done: true, queued: 0, recipientsQueued: update.recipients_queued, pagesQueued: update.pages_queued };

    const cursor = update.send_cursor;
    // One more than a page: whether another page follows is known now, so the last page ends the send.
    const rows = await trx
      .selectFrom('pledges')
      .select('pledges.backer_id')
      .where('pledges.campaign_id', '=', update.campaign_id)
      .where('pledges.status', 'in', UPDATE_BACKER_PLEDGE_STATUSES)
      .$if(cursor !== null, (query) => query.where('pledges.backer_id', '>', cursor!))
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('campaign_unsubscribes')
              .select(sql<number>`1`.as('one'))
              .whereRef('campaign_unsubscribes.user_id', '=', 'pledges.backer_id')
              .where('campaign_unsubscribes.campaign_id', '=', update.campaign_id),
          ),
        ),
      )
      .groupBy('pledges.backer_id')
      .orderBy('pledges.backer_id')
      .limit(input.limit + 1)
      .execute();
    const recipients = rows.slice(0, input.limit).map((row) => row.backer_id);
    const done = rows.length <= input.limit;

    const payload = {
      campaignId: update.campaign_id,
      campaignTitle: update.campaign_title,
      updateId: update.id,
      number: update.number,
      title: update.title,
      body: update.body,
      audience: update.audience,
      updateUrl: `${config.http.publicUrl}/campaigns/${update.campaign_id}/updates/${update.id}`,
    };
    await enqueueNotifications(
      trx,
      recipients.map((userId) => ({
        recipientId: userId,
        template: 'campaign_update' as const,
        payload: { ...payload, unsubscribeUrl: `${config.http.publicUrl}/unsubscribe?token=${unsubscribeToken(config.auth.secret, userId, update.campaign_id)}` },
        dedupeKey: `update-${update.id}-${userId}`,
      })),
    );

    const now = new Date();
    const progressed = await trx
      .updateTable('campaign_updates')
      .set({
        send_status: done ? 'sent' : 'sending',
        send_cursor: recipients.at(-1) ?? cursor,
        recipients_queued: update.recipients_queued + recipients.length,
        pages_queued: update.pages_queued + (recipients.length > 0 ? 1 : 0),
        send_started_at: sql<Date>`coalesce(send_started_at, ${now})`,
        ...(done ? { send_finished_at: now } : {}),
      })
      .where('id', '=', update.id)
      .returning(['recipients_queued', 'pages_queued'])
      .executeTakeFirstOrThrow();
    return { done, queued: recipients.length, recipientsQueued: progressed.recipients_queued, pagesQueued: progressed.pages_queued };
  });
}
