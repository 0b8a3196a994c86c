/**
 * How the API drives campaign workflows: start on publish, signal (cancel, refund, retry, Connect account updated,
 * new card), and query. The workflow id is the business key, so starting twice is refused by Temporal itself.
 * A signal to a workflow that has ended is the request's conflict with the state of things (409), never a 500:
 * cancel and new card say so here; refund, retry and state callers handle WorkflowNotFoundError themselves.
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
import { conflict } from '../errors';
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
    /** The Temporal client, for the API's other durable work (update sends, survey reminders). */
    readonly client: Client,
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

  /** A campaign whose workflow has ended (or was terminated by an operator) cannot be cancelled: a conflict. */
  async cancel(campaignId: string, reason: string, requestedBy: string): Promise<void> {
    try {
      await this.handle(campaignId).signal(cancelCampaignSignal, { reason, requestedBy });
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      throw conflict('campaign_workflow_closed', 'This campaign’s workflow is no longer running, so it cannot be cancelled');
    }
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

  /** Tells a failed pledge's settlement child about the new card; a child that has ended is a conflict, not a fault. */
  async paymentMethodUpdated(campaignId: string, pledgeId: string): Promise<void> {
    try {
      await this.client.workflow.getHandle(pledgeSettlementWorkflowId(campaignId, pledgeId)).signal(paymentMethodUpdatedSignal);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      throw conflict('settlement_closed', 'This pledge’s settlement has ended, so nothing will charge the new card (it stays saved)');
    }
  }

  async state(campaignId: string): Promise<{ state: CampaignState; execution: Awaited<ReturnType<ReturnType<CampaignWorkflows['handle']>['describe']>> }> {
    const handle = this.handle(campaignId);
    const [state, execution] = await Promise.all([handle.query(campaignStateQuery), handle.describe()]);
    return { state, execution };
  }
}
