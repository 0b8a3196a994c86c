/**
 * Mails one creator update to the campaign's backers (`campaign-update-<updateId>`, started by the API once the
 * update is stored). Each page of backers is queued in the notification outbox in one transaction by one activity,
 * and the update row records how far the send got, so a retried page, a killed worker or a restarted workflow goes
 * on from the last page committed; the outbox's dedupe key (`update-<updateId>-<userId>`) makes one mail per backer
 * hold even if a page were queued twice. Pages are paced, so that a 100,000-backer campaign is a steady flow into
 * the outbox rather than one burst, and the run continues as new every `pagesPerRun` pages, so its history stays
 * small whatever the number of backers.
 */
import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { DatabaseActivities } from '../activities';

export interface CampaignUpdateSendInput {
  updateId: string;
  /** Backers per page: one transaction, one activity. */
  pageSize: number;
  /** Pages queued per second, at most. */
  pagesPerSecond: number;
  /** Pages per run before continuing as new (about 11 history events a page). */
  pagesPerRun: number;
}

export interface CampaignUpdateSendResult {
  recipients: number;
  pages: number;
}

export type UpdateSendPacing = Omit<CampaignUpdateSendInput, 'updateId'>;

/** 500 mails a second into the outbox; a run holds about 1,100 history events. */
export const DEFAULT_UPDATE_SEND_PACING: UpdateSendPacing = { pageSize: 500, pagesPerSecond: 1, pagesPerRun: 100 };

export const campaignUpdateSendWorkflowId = (updateId: string) => `campaign-update-${updateId}`;

/**
 * A page is one insert of at most `pageSize` rows: a worker that dies with one in flight costs this timeout before
 * the page is tried again (the retry waits on the update row's lock, then goes on from what was committed).
 */
const { queueCampaignUpdatePage } = proxyActivities<DatabaseActivities>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function campaignUpdateSendWorkflow(input: CampaignUpdateSendInput): Promise<CampaignUpdateSendResult> {
  const pauseMs = Math.ceil(1000 / input.pagesPerSecond);
  for (let page = 0; page < input.pagesPerRun; page++) {
    const queued = await queueCampaignUpdatePage({ updateId: input.updateId, limit: input.pageSize });
    if (queued.done) return { recipients: queued.recipientsQueued, pages: queued.pagesQueued };
    await sleep(pauseMs);
  }
  return continueAsNew<typeof campaignUpdateSendWorkflow>(input);
}
