/**
 * How the API drives a survey's workflows: both started when the creator sends it (invitations, then reminders every
 * two days), and the reminders told when it is locked. Ids are business keys: sending again (a retry after a failure)
 * finds a running or completed workflow and starts nothing; only one that failed or was terminated starts anew, and
 * its mails' dedupe keys keep it from mailing anyone twice.
 */
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { type surveyInvitationsWorkflow } from '../../workflows/survey-invitations';
import {
  DEFAULT_SURVEY_PACING,
  SURVEY_REMINDER_INTERVAL_MS,
  surveyInvitationsWorkflowId,
  surveyLockedSignal,
  surveyRemindersWorkflowId,
} from '../../workflows/survey-messages';
import { type surveyRemindersWorkflow } from '../../workflows/survey-reminders';
import { type Config } from '../config';
import { DomainError } from '../errors';
import { type CampaignWorkflows } from './campaign-workflows';

export class SurveyWorkflows {
  constructor(
    private readonly client: Client,
    private readonly config: Config,
  ) {}

  /**
   * The survey workflows through the Temporal client the campaign workflows use (the one the API context carries);
   * a stand-in for CampaignWorkflows without a client (as some tests make) is a server without Temporal.
   */
  static from(campaignWorkflows: CampaignWorkflows, config: Config): SurveyWorkflows {
    const client = campaignWorkflows.client as Client | undefined;
    if (!client) throw new DomainError('unavailable', 'workflows_unavailable', 'Survey workflows are not configured on this server');
    return new SurveyWorkflows(client, config);
  }

  /** Starts the survey's invitations and reminders; either one already started (or done) is left as it is. */
  async start(survey: { id: string; campaignId: string }): Promise<void> {
    const common = {
      taskQueue: this.config.temporal.taskQueue,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' as const,
      memo: { campaignId: survey.campaignId, surveyId: survey.id },
    };
    await ignoreAlreadyStarted(
      this.client.workflow.start<typeof surveyInvitationsWorkflow>('surveyInvitationsWorkflow', {
        ...common,
        workflowId: surveyInvitationsWorkflowId(survey.id),
        args: [{ surveyId: survey.id, ...DEFAULT_SURVEY_PACING }],
        staticSummary: `Survey ${survey.id} of campaign ${survey.campaignId}: invitations`,
      }),
    );
    await ignoreAlreadyStarted(
      this.client.workflow.start<typeof surveyRemindersWorkflow>('surveyRemindersWorkflow', {
        ...common,
        workflowId: surveyRemindersWorkflowId(survey.id),
        args: [{ surveyId: survey.id, intervalMs: SURVEY_REMINDER_INTERVAL_MS, ...DEFAULT_SURVEY_PACING }],
        staticSummary: `Survey ${survey.id} of campaign ${survey.campaignId}: reminders every 2 days until answered or locked`,
      }),
    );
  }

  /** Ends the survey's reminders; reminders that had already ended (everyone answered) are not an error. */
  async locked(surveyId: string): Promise<void> {
    try {
      await this.client.workflow.getHandle(surveyRemindersWorkflowId(surveyId)).signal(surveyLockedSignal);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
}

async function ignoreAlreadyStarted(start: Promise<unknown>): Promise<void> {
  try {
    await start;
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}
