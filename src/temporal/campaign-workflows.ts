/**
 * How the API drives campaign workflows: start on publish, signal (cancel, refund, retry, Connect account updated,
 * new card), and query. The workflow id is the business key, so starting twice is refused by Temporal itself.
 */
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { type campaignWorkflow } from '../../workflows/campaign';
import {
  campaignStateQuery,
  type CampaignState,
  campaignWorkflowId,
  cancelCampaignSignal,
  connectAccountUpdatedSignal,
  paymentMethodUpdatedSignal,
  pledgeSettlementWorkflowId,
  refundPledgeSignal,
  retrySettlementSignal,
} from '../../workflows/messages';
import { CampaignEndsAtKey, CampaignIdKey, CampaignModelKey, CampaignStatusKey } from '../../workflows/search-attributes';
import { type Config } from '../config';
import { campaignSettings } from './campaign-settings';

export interface PublishableCampaign {
  id: string;
  title: string;
  creatorId: string;
  model: string;
  endsAt: Date;
}

export class CampaignWorkflows {
  constructor(
    private readonly client: Client,
    private readonly config: Config,
  ) {}

  /** Starts `campaign-<id>`; true if this call started it, false if it was already running or done. */
  async start(campaign: PublishableCampaign): Promise<boolean> {
    try {
      await this.client.workflow.start<typeof campaignWorkflow>('campaignWorkflow', {
        workflowId: campaignWorkflowId(campaign.id),
        taskQueue: this.config.temporal.taskQueue,
        args: [{ campaignId: campaign.id, settings: campaignSettings(this.config) }],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: CampaignIdKey, value: campaign.id },
          { key: CampaignStatusKey, value: 'scheduled' },
          { key: CampaignModelKey, value: campaign.model },
          { key: CampaignEndsAtKey, value: campaign.endsAt },
        ],
        memo: { title: campaign.title, creatorId: campaign.creatorId },
        staticSummary: `Campaign "${campaign.title}" (${campaign.model}), ends ${campaign.endsAt.toISOString()}`,
      });
      return true;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return false;
      throw error;
    }
  }

  private handle(campaignId: string) {
    return this.client.workflow.getHandle(campaignWorkflowId(campaignId));
  }

  cancel(campaignId: string, reason: string, requestedBy: string): Promise<void> {
    return this.handle(campaignId).signal(cancelCampaignSignal, { reason, requestedBy });
  }

  refund(campaignId: string, refundId: string): Promise<void> {
    return this.handle(campaignId).signal(refundPledgeSignal, { refundId });
  }

  retrySettlement(campaignId: string): Promise<void> {
    return this.handle(campaignId).signal(retrySettlementSignal);
  }

  /** Tells a campaign waiting to pay out that its creator's account changed; a closed workflow is not an error. */
  async connectAccountUpdated(campaignId: string): Promise<void> {
    await this.handle(campaignId)
      .signal(connectAccountUpdatedSignal)
      .catch((error: unknown) => {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      });
  }

  paymentMethodUpdated(campaignId: string, pledgeId: string): Promise<void> {
    return this.client.workflow.getHandle(pledgeSettlementWorkflowId(campaignId, pledgeId)).signal(paymentMethodUpdatedSignal);
  }

  async state(campaignId: string): Promise<{ state: CampaignState; execution: Awaited<ReturnType<ReturnType<CampaignWorkflows['handle']>['describe']>> }> {
    const handle = this.handle(campaignId);
    const [state, execution] = await Promise.all([handle.query(campaignStateQuery), handle.describe()]);
    return { state, execution };
  }
}
