/**
 * The survey workflows' side effects: one page of backers mailed per call, in one transaction, through the outbox.
 * Each mail's dedupe key names the survey, the pledge and (for reminders) the reminder's number, so a page retried
 * after a crash, or run again by a workflow reset, queues nothing twice. A survey no longer `sent` (locked) mails
 * nobody: the page comes back empty and the workflow stops. Invitations for a survey still a draft wait: the send
 * endpoint starts the workflows just before its status commits, so the activity fails and is retried until it has.
 */
import { ApplicationFailure } from '@temporalio/common';
import { type Tx } from '../db/database';
import { type SurveyStatus } from '../db/schema';
import { enqueueNotifications, type NotificationTemplate } from '../src/notifications/outbox';
import { surveyPledges, unansweredSurveyPledges } from '../src/surveys/survey-pledges';
import { type ActivityDeps } from './deps';

export interface SurveyMailPage {
  /** Backers mailed by this call (queued in the outbox; a repeat of an earlier call queues nothing new). */
  mailed: number;
  /** The last pledge of this page, to pass as `afterPledgeId`; null once there are no more. */
  nextCursor: string | null;
}

export function createSurveyActivities({ database, config }: Pick<ActivityDeps, 'database' | 'config'>) {
  async function loadSurvey(trx: Tx, surveyId: string) {
    return trx
      .selectFrom('surveys')
      .innerJoin('campaigns', 'campaigns.id', 'surveys.campaign_id')
      .leftJoin('rewards', 'rewards.id', 'surveys.reward_id')
      .select(['surveys.id', 'surveys.campaign_id', 'surveys.reward_id', 'surveys.status', 'campaigns.title as campaign_title', 'rewards.title as reward_title'])
      .where('surveys.id', '=', surveyId)
      .executeTakeFirstOrThrow();
  }

  /** Mails one page of the survey's backers (`unansweredOnly`: those without answers) with `template`. */
  async function mailPage(input: {
    surveyId: string;
    afterPledgeId: string | null;
    limit: number;
    template: Extract<NotificationTemplate, 'survey_invitation' | 'survey_reminder'>;
    reminder?: number;
  }): Promise<SurveyMailPage> {
    return database.transaction(async (trx) => {
      const survey = await loadSurvey(trx, input.surveyId);
      if (survey.status === 'draft' && input.reminder === undefined) {
        throw ApplicationFailure.retryable(`survey ${survey.id} is not sent yet: its send has not committed`, 'SurveyNotSent');
      }
      if (survey.status !== 'sent') return { mailed: 0, nextCursor: null };
      let page = (input.reminder === undefined ? surveyPledges(trx, survey) : unansweredSurveyPledges(trx, survey))
        .select(['pledges.id', 'pledges.backer_id'])
        .orderBy('pledges.id')
        .limit(input.limit);
      if (input.afterPledgeId !== null) page = page.where('pledges.id', '>', input.afterPledgeId);
      const pledges = await page.execute();
      await enqueueNotifications(
        trx,
        pledges.map((pledge) => ({
          recipientId: pledge.backer_id,
          template: input.template,
          payload: {
            surveyId: survey.id,
            pledgeId: pledge.id,
            campaignTitle: survey.campaign_title,
            rewardTitle: survey.reward_title,
            surveyUrl: `${config.http.publicUrl}/pledges/${pledge.id}/survey`,
            ...(input.reminder === undefined ? {} : { reminder: input.reminder }),
          },
          dedupeKey: `survey-${survey.id}-pledge-${pledge.id}${input.reminder === undefined ? '' : `-reminder-${input.reminder}`}`,
        })),
      );
      const last = pledges[pledges.length - 1];
      return { mailed: pledges.length, nextCursor: pledges.length === input.limit && last ? last.id : null };
    });
  }

  return {
    /** Invites one page of the survey's backers to answer it. */
    inviteSurveyBackers(input: { surveyId: string; afterPledgeId: string | null; limit: number }): Promise<SurveyMailPage> {
      return mailPage({ ...input, template: 'survey_invitation' });
    },

    /** Reminds one page of the backers who have not answered yet (reminder number `reminder`, from 1). */
    remindSurveyBackers(input: { surveyId: string; reminder: number; afterPledgeId: string | null; limit: number }): Promise<SurveyMailPage> {
      return mailPage({ ...input, template: 'survey_reminder' });
    },

    /** Where a survey stands, for its reminders: its status, and how many backers have not answered. */
    async surveyReminderState(input: { surveyId: string }): Promise<{ status: SurveyStatus; unanswered: number }> {
      return database.transaction(async (trx) => {
        const survey = await loadSurvey(trx, input.surveyId);
        const row = await unansweredSurveyPledges(trx, survey).select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
        return { status: survey.status, unanswered: Number(row.count) };
      });
    },
  };
}
