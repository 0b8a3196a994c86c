/**
 * A backer's side of a survey, per pledge: the pledge's reward decides the survey (one per reward). The backer reads
 * the questions and their own answers, and answers (once per pledge; changed in place) while the survey is sent and
 * the pledge one it is for (settled, not refunded in full, not charged back: src/surveys/survey-pledges.ts). Someone else's pledge, and a survey still in draft, do not exist for the caller (404).
 * Answering holds the survey row FOR SHARE, and locking updates it, so an answer is either in before the lock or
 * refused with 409 after it.
 */
import { sql } from 'kysely';
import { type AppDatabase, type Db, type Tx } from '../../db/database';
import { type Pledge, type Survey, type SurveyResponse, type User } from '../../db/schema';
import { conflict, notFound } from '../errors';
import { answersBody } from './questions';
import { isSurveyPledge } from './survey-pledges';

const iso = (value: Date | null | undefined) => (value ? value.toISOString() : null);

async function ownPledge(db: Db | Tx, pledgeId: string, user: User): Promise<Pledge> {
  const pledge = await db.selectFrom('pledges').selectAll().where('id', '=', pledgeId).where('backer_id', '=', user.id).executeTakeFirst();
  if (!pledge) throw notFound('Pledge');
  return pledge;
}

/** The sent (or locked) survey of the pledge's reward; `lock` holds it FOR SHARE until the transaction ends. */
async function pledgeSurvey(db: Db | Tx, pledge: Pledge, lock = false): Promise<Survey> {
  let query = db
    .selectFrom('surveys')
    .selectAll()
    .where('campaign_id', '=', pledge.campaign_id)
    .where('reward_id', 'is not distinct from', pledge.reward_id)
    .where('status', '<>', 'draft');
  if (lock) query = query.forShare();
  const survey = await query.executeTakeFirst();
  if (!survey) throw notFound('Survey');
  return survey;
}

function backerSurveyView(pledge: Pledge, survey: Survey, settled: boolean, response: Pick<SurveyResponse, 'answers' | 'answered_at' | 'updated_at'> | undefined) {
  return {
    pledgeId: pledge.id,
    survey: { id: survey.id, campaignId: survey.campaign_id, rewardId: survey.reward_id, status: survey.status, questions: survey.questions },
    answers: response?.answers ?? null,
    answeredAt: iso(response?.answered_at),
    updatedAt: iso(response?.updated_at),
    /** Whether the backer may still answer or change their answers. */
    editable: survey.status === 'sent' && settled,
  };
}

export async function readPledgeSurvey(db: Db, pledgeId: string, user: User) {
  const pledge = await ownPledge(db, pledgeId, user);
  const survey = await pledgeSurvey(db, pledge);
  const response = await db
    .selectFrom('survey_responses')
    .select(['answers', 'answered_at', 'updated_at'])
    .where('survey_id', '=', survey.id)
    .where('pledge_id', '=', pledge.id)
    .executeTakeFirst();
  return backerSurveyView(pledge, survey, await isSurveyPledge(db, survey, pledge.id), response);
}

/** Records the backer's answers (`body` as sent: checked here against the survey's questions); `created` on the first. */
export async function answerPledgeSurvey(database: AppDatabase, pledgeId: string, user: User, body: unknown) {
  return database.transaction(async (trx) => {
    const pledge = await ownPledge(trx, pledgeId, user);
    const survey = await pledgeSurvey(trx, pledge, true);
    if (survey.status === 'locked') throw conflict('survey_locked', 'The creator has locked this survey: answers can no longer change');
    if (!(await isSurveyPledge(trx, survey, pledge.id))) {
      throw conflict('pledge_not_settled', `Only a settled pledge answers its survey; this one is ${pledge.status}${pledge.disputed_at ? ' and disputed' : ''}`);
    }
    const { answers } = answersBody(survey.questions).parse(body);
    const now = new Date();
    const saved = await trx
      .insertInto('survey_responses')
      .values({ survey_id: survey.id, pledge_id: pledge.id, backer_id: user.id, answers: JSON.stringify(answers), answered_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['survey_id', 'pledge_id']).doUpdateSet({ answers: JSON.stringify(answers), updated_at: now }))
      // xmax is 0 on a row this statement inserted, and set on one it updated.
      .returning(['answers', 'answered_at', 'updated_at', sql<boolean>`xmax = 0`.as('created')])
      .executeTakeFirstOrThrow();
    return { created: saved.created, view: backerSurveyView(pledge, survey, true, saved) };
  });
}
