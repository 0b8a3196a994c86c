/**
 * A creator's surveys: defined per reward once the campaign is funded (and for the backers without a reward),
 * changed while draft, sent once settlement is over (every settled backer of the reward is invited, then reminded
 * every two days by the survey's workflows), and locked when fulfilment starts (answers frozen, reminders end). The
 * caller has been checked as the campaign's creator (src/campaigns/creator-access.ts).
 */
import { type z } from 'zod';
import { type AppDatabase, type Db } from '../../db/database';
import { type Campaign, type Survey } from '../../db/schema';
import { conflict, DomainError, invalidField, notFound } from '../errors';
import { type SurveyWorkflows } from '../temporal/survey-workflows';
import { type questionsInput, storedQuestions } from './questions';
import { pledgesStillSettling, surveyCounts } from './survey-pledges';

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

export async function surveyView(db: Db, survey: Survey) {
  return {
    id: survey.id,
    campaignId: survey.campaign_id,
    rewardId: survey.reward_id,
    status: survey.status,
    questions: survey.questions,
    createdAt: iso(survey.created_at),
    updatedAt: iso(survey.updated_at),
    sentAt: iso(survey.sent_at),
    lockedAt: iso(survey.locked_at),
    // Counts only: the answers themselves go out through the backer report.
    counts: await surveyCounts(db, survey),
  };
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === '23505' && (error as { constraint?: string }).constraint === constraint;
}

export async function createSurvey(database: AppDatabase, campaign: Campaign, input: { rewardId: string | null; questions: z.output<typeof questionsInput> }): Promise<Survey> {
  const db = database.db;
  if (campaign.status !== 'funded') throw conflict('campaign_not_funded', `Surveys are for funded campaigns; this one is ${campaign.status}`);
  if (input.rewardId !== null) {
    const reward = await db.selectFrom('rewards').select('id').where('id', '=', input.rewardId).where('campaign_id', '=', campaign.id).executeTakeFirst();
    if (!reward) throw invalidField('rewardId', 'is not a reward of this campaign');
  }
  try {
    return await db
      .insertInto('surveys')
      .values({ campaign_id: campaign.id, reward_id: input.rewardId, questions: JSON.stringify(storedQuestions(input.questions)) })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (error) {
    if (!isUniqueViolation(error, 'surveys_one_per_reward')) throw error;
    throw conflict('survey_exists', input.rewardId === null ? 'The backers without a reward already have a survey; change that one' : 'This reward already has a survey; change that one');
  }
}

/** One of the campaign's surveys (404 for another campaign's). */
export async function campaignSurvey(db: Db, campaign: Campaign, surveyId: string): Promise<Survey> {
  const survey = await db.selectFrom('surveys').selectAll().where('id', '=', surveyId).where('campaign_id', '=', campaign.id).executeTakeFirst();
  if (!survey) throw notFound('Survey');
  return survey;
}

export async function listSurveys(db: Db, campaign: Campaign): Promise<Survey[]> {
  return db.selectFrom('surveys').selectAll().where('campaign_id', '=', campaign.id).orderBy('created_at').orderBy('id').execute();
}

export async function changeSurvey(database: AppDatabase, campaign: Campaign, surveyId: string, input: { questions: z.output<typeof questionsInput> }): Promise<Survey> {
  await campaignSurvey(database.db, campaign, surveyId);
  const changed = await database.db
    .updateTable('surveys')
    .set({ questions: JSON.stringify(storedQuestions(input.questions)), updated_at: new Date() })
    .where('id', '=', surveyId)
    .where('status', '=', 'draft')
    .returningAll()
    .executeTakeFirst();
  if (!changed) throw conflict('survey_not_draft', 'A sent survey can no longer be changed: backers may have answered it');
  return changed;
}

/**
 * Sends a draft once the campaign's settlement is over (every pledge collected, dropped or released), so that the
 * backers it is for are known, and starts its invitations and reminders. The workflows are started before the status
 * commits: if Temporal cannot be reached the survey stays a draft (503: send it again), and invitations that start
 * before the commit wait for it (their activity retries a draft). Sending a sent survey again starts whichever
 * workflow is missing and re-mails nobody.
 */
export async function sendSurvey(database: AppDatabase, workflows: () => SurveyWorkflows, campaign: Campaign, surveyId: string): Promise<Survey> {
  return database.transaction(async (trx) => {
    const survey = await trx.selectFrom('surveys').selectAll().where('id', '=', surveyId).where('campaign_id', '=', campaign.id).forUpdate().executeTakeFirst();
    if (!survey) throw notFound('Survey');
    if (survey.status === 'locked') throw conflict('survey_locked', 'This survey is locked');
    let sent = survey;
    if (survey.status === 'draft') {
      const settling = await pledgesStillSettling(trx, campaign.id);
      if (settling > 0) {
        throw conflict(
          'settlement_in_progress',
          `${settling} pledge${settling === 1 ? ' is' : 's are'} still being collected (held, or waiting for a new card within the grace window); send the survey once settlement is over`,
        );
      }
      sent = await trx.updateTable('surveys').set({ status: 'sent', sent_at: new Date(), updated_at: new Date() }).where('id', '=', survey.id).returningAll().executeTakeFirstOrThrow();
    }
    // A server without Temporal refuses here (503), and the survey stays a draft.
    const surveyWorkflows = workflows();
    try {
      await surveyWorkflows.start({ id: survey.id, campaignId: campaign.id });
    } catch (error) {
      const state = survey.status === 'draft' ? 'it is still a draft' : 'it is sent, its mails not all scheduled';
      throw new DomainError('unavailable', 'survey_mail_not_scheduled', `The survey’s mails could not be scheduled (${state}); send it again shortly`, { retryAfterSeconds: 5, cause: error });
    }
    return sent;
  });
}

/** Freezes the answers (locking twice is the same lock); the caller then tells the reminders. */
export async function lockSurvey(database: AppDatabase, campaign: Campaign, surveyId: string): Promise<Survey> {
  return database.transaction(async (trx) => {
    const survey = await trx.selectFrom('surveys').selectAll().where('id', '=', surveyId).where('campaign_id', '=', campaign.id).forUpdate().executeTakeFirst();
    if (!survey) throw notFound('Survey');
    if (survey.status === 'draft') throw conflict('survey_not_sent', 'A draft survey cannot be locked; send it first');
    if (survey.status === 'locked') return survey;
    const now = new Date();
    return trx.updateTable('surveys').set({ status: 'locked', locked_at: now, updated_at: now }).where('id', '=', survey.id).returningAll().executeTakeFirstOrThrow();
  });
}
