/**
 * How the API starts an update's send workflow. The workflow id is the update's business key, so a second start
 * (a retried POST, the retry of a start that was lost) finds the first instead of mailing twice; a run that failed
 * or was terminated may be started again, and goes on from the progress on the update row.
 */
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { CampaignIdKey } from '../../workflows/search-attributes';
import {
  type campaignUpdateSendWorkflow,
  campaignUpdateSendWorkflowId,
  DEFAULT_UPDATE_SEND_PACING,
  type UpdateSendPacing,
} from '../../workflows/update-send';
import { type Config } from '../config';

export interface SendableUpdate {
  id: string;
  campaignId: string;
  number: number;
}

export class CampaignUpdateSends {
  constructor(
    private readonly client: Client,
    private readonly config: Config,
    private readonly pacing: UpdateSendPacing = DEFAULT_UPDATE_SEND_PACING,
  ) {}

  /** Starts `campaign-update-<id>`; true if this call started it, false if it was already running or done. */
  async start(update: SendableUpdate): Promise<boolean> {
    try {
      await this.client.workflow.start<typeof campaignUpdateSendWorkflow>('campaignUpdateSendWorkflow', {
        workflowId: campaignUpdateSendWorkflowId(update.id),
        taskQueue: this.config.temporal.taskQueue,
        args: [{ updateId: update.id, ...this.pacing }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        typedSearchAttributes: [{ key: CampaignIdKey, value: update.campaignId }],
        staticSummary: `Mails update #${update.number} of campaign ${update.campaignId} to its backers`,
      });
      return true;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return false;
      throw error;
    }
  }
}
