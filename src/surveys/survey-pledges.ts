/**
 * Which pledges a survey is for: the settled ones of its reward on its campaign (the survey with no reward is for
 * the backers who chose none). Settled means `captured`: the money was collected. A pledge refunded in full
 * (`refunded`), or whose charge the backer disputed and won back (a lost dispute), no longer gets a reward, so it is
 * neither asked nor reminded; one refunded in part stays captured and is. Settlement must be over before a survey is
 * sent (`pledgesStillSettling`), so this set no longer grows.
 */
import { type Db, type Tx } from '../../db/database';
import { type PledgeStatus } from '../../db/schema';

export const SETTLED_PLEDGE_STATUS = 'captured' satisfies PledgeStatus;
/** Pledges whose settlement is not over yet (held, waiting for a new card, or mid-placement). */
export const SETTLING_PLEDGE_STATUSES = ['pending', 'requires_action', 'authorized', 'errored'] as const satisfies readonly PledgeStatus[];

export interface SurveyTarget {
  campaign_id: string;
  reward_id: string | null;
}

/** The settled pledges a survey is for, as a query to narrow and select from. */
export function surveyPledges(db: Db | Tx, survey: SurveyTarget) {
  return db
    .selectFrom('pledges')
    .where('pledges.campaign_id', '=', survey.campaign_id)
    .where('pledges.status', '=', SETTLED_PLEDGE_STATUS)
    .where('pledges.reward_id', 'is not distinct from', survey.reward_id)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('disputes').select('disputes.pledge_id').whereRef('disputes.pledge_id', '=', 'pledges.id').where('disputes.status', '=', 'lost'))),
    );
}

/** Whether the pledge is one the survey is for (settled, of its reward, not charged back). */
export async function isSurveyPledge(db: Db | Tx, survey: SurveyTarget, pledgeId: string): Promise<boolean> {
  return (await surveyPledges(db, survey).select('pledges.id').where('pledges.id', '=', pledgeId).executeTakeFirst()) !== undefined;
}

/** The settled pledges of a survey that have no answers yet. */
export function unansweredSurveyPledges(db: Db | Tx, survey: SurveyTarget & { id: string }) {
  return surveyPledges(db, survey).where(({ not, exists, selectFrom }) =>
    not(exists(selectFrom('survey_responses').select('survey_responses.pledge_id').where('survey_responses.survey_id', '=', survey.id).whereRef('survey_responses.pledge_id', '=', 'pledges.id'))),
  );
}

/** How many of the campaign's pledges are still being settled (a survey waits for none). */
export async function pledgesStillSettling(db: Db | Tx, campaignId: string): Promise<number> {
  const row = await db
    .selectFrom('pledges')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', SETTLING_PLEDGE_STATUSES)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** The survey's counts as its creator sees them: settled backers, and how many of them have answered. */
export async function surveyCounts(db: Db | Tx, survey: SurveyTarget & { id: string }): Promise<{ backers: number; answered: number; unanswered: number }> {
  const [all, unanswered] = await Promise.all([
    surveyPledges(db, survey).select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow(),
    unansweredSurveyPledges(db, survey).select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow(),
  ]);
  const backers = Number(all.count);
  return { backers, answered: backers - Number(unanswered.count), unanswered: Number(unanswered.count) };
}
