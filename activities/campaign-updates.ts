/** The activity of an update's send workflow (workflows/update-send.ts): one page of backers, one transaction. */
import { ApplicationFailure } from '@temporalio/common';
import { CampaignUpdateNotFound, queueUpdatePage, type UpdatePageResult } from '../src/updates/queue-update-page';
import { type ActivityDeps } from './deps';

export function createCampaignUpdateActivities(deps: ActivityDeps) {
  return {
    async queueCampaignUpdatePage(input: { updateId: string; limit: number }): Promise<UpdatePageResult> {
      try {
        return await queueUpdatePage(deps, input);
      } catch (error) {
        // No row will appear by retrying; anything else (the database) is retried.
        if (error instanceof CampaignUpdateNotFound) throw ApplicationFailure.create({ type: 'CampaignUpdateNotFound', message: error.message, nonRetryable: true });
        throw error;
      }
    },
  };
}
