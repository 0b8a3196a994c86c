/** How an update is shown: camelCase; the markdown body as written, or null where the reader may not see it. */
import { type CreatorUpdate } from '../../db/schema';
import { campaignUpdateSendWorkflowId } from '../../workflows/update-send';
import { type UpdateReader } from './readers';

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

export function updateView(update: CreatorUpdate, reader: UpdateReader) {
  const bodyVisible = update.audience === 'public' || reader !== 'anyone';
  return {
    id: update.id,
    campaignId: update.campaign_id,
    number: update.number,
    title: update.title,
    audience: update.audience,
    createdAt: iso(update.created_at),
    /** Markdown; null when the update is for backers and the reader is not one. */
    body: bodyVisible ? update.body : null,
    bodyHidden: !bodyVisible,
    ...(reader === 'creator' || reader === 'staff'
      ? {
          delivery: {
            status: update.send_status,
            recipientsQueued: update.recipients_queued,
            pagesQueued: update.pages_queued,
            startedAt: iso(update.send_started_at),
            finishedAt: iso(update.send_finished_at),
            workflowId: campaignUpdateSendWorkflowId(update.id),
          },
        }
      : {}),
  };
}
