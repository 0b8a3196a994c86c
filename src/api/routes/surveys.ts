/**
 * Backer surveys (src/surveys/). Under /api/campaigns: the creator defines a survey per reward once the campaign is
 * funded, changes it while draft, sends it and locks it; the creator and staff read it with its response counts (the
 * answers themselves only through the backer report). Under /api/pledges: the backer reads and answers their
 * pledge's survey. Who may is checked before the body is read.
 */
import { Router } from 'express';
import { z } from 'zod';
import { campaignForCreatorWork } from '../../campaigns/creator-access';
import { answerPledgeSurvey, readPledgeSurvey } from '../../surveys/backer-answers';
import { campaignSurvey, changeSurvey, createSurvey, listSurveys, lockSurvey, sendSurvey, surveyView } from '../../surveys/creator-surveys';
import { questionsInput } from '../../surveys/questions';
import { SurveyWorkflows } from '../../temporal/survey-workflows';
import { type ApiContext, requireUser, requireWorkflows } from '../context';

export const surveyCampaignParams = z.object({ id: z.uuid() });
export const surveyParams = z.object({ id: z.uuid(), surveyId: z.uuid() });
export const surveyPledgeParams = z.object({ pledgeId: z.uuid() });
export const createSurveyBody = z.strictObject({
  /** The reward whose backers answer it; null for the backers who chose no reward. */
  rewardId: z.uuid().nullable(),
  questions: questionsInput,
});
export const changeSurveyBody = z.strictObject({ questions: questionsInput });

const SURVEYS = 'surveys';

export function campaignSurveyRoutes(context: ApiContext): Router {
  const router = Router();
  const { database } = context;
  const db = database.db;
  const surveyWorkflows = () => SurveyWorkflows.from(requireWorkflows(context), context.config);

  router.post('/:id/surveys', async (req, res) => {
    const user = requireUser(res);
    const { id } = surveyCampaignParams.parse(req.params);
    const campaign = await campaignForCreatorWork(db, id, user, 'manage', SURVEYS);
    const body = createSurveyBody.parse(req.body);
    const survey = await createSurvey(database, campaign, body);
    res.status(201).json(await surveyView(db, survey));
  });

  router.get('/:id/surveys', async (req, res) => {
    const user = requireUser(res);
    const { id } = surveyCampaignParams.parse(req.params);
    const campaign = await campaignForCreatorWork(db, id, user, 'read', SURVEYS);
    const surveys = await listSurveys(db, campaign);
    res.json({ data: await Promise.all(surveys.map((survey) => surveyView(db, survey))) });
  });

  router.get('/:id/surveys/:surveyId', async (req, res) => {
    const user = requireUser(res);
    const { id, surveyId } = surveyParams.parse(req.params);
    const campaign = await campaignForCreatorWork(db, id, user, 'read', SURVEYS);
    res.json(await surveyView(db, await campaignSurvey(db, campaign, surveyId)));
  });

  router.patch('/:id/surveys/:surveyId', async (req, res) => {
    const user = requireUser(res);
    const { id, surveyId } = surveyParams.parse(req.params);
    const campaign = await campaignForCreatorWork(db, id, user, 'manage', SURVEYS);
    const body = changeSurveyBody.parse(req.body);
    res.json(await surveyView(db, await changeSurvey(database, campaign, surveyId, body)));
  });

  router.post('/:id/surveys/:surveyId/send', async (req, res) => {
    const user = requireUser(res);
    const { id, surveyId } = surveyParams.parse(req.params);
    const campaign = await campaignForCreatorWork(db, id, user, 'manage', SURVEYS);
    const survey = await sendSurvey(database, surveyWorkflows, campaign, surveyId);
    res.status(202).json(await surveyView(db, survey));
  });

  router.post('/:id/surveys/:surveyId/lock', async (req, res) => {
    const user = requireUser(res);
    const { id, surveyId } = surveyParams.parse(req.params);
    const campaign = await campaignForCreatorWork(db, id, user, 'manage', SURVEYS);
    const survey = await lockSurvey(database, campaign, surveyId);
    // The lock is committed: a reminder round reads it and mails nobody, so a lost signal only ends the reminders later.
    if (context.campaignWorkflows) {
      try {
        await surveyWorkflows().locked(survey.id);
      } catch (error) {
        context.logger.warn({ err: error, surveyId: survey.id }, 'survey reminders not told of the lock; they end at their next round');
      }
    }
    res.json(await surveyView(db, survey));
  });

  return router;
}

export function pledgeSurveyRoutes(context: ApiContext): Router {
  const router = Router();
  const { database } = context;

  router.get('/:pledgeId/survey', async (req, res) => {
    const user = requireUser(res);
    const { pledgeId } = surveyPledgeParams.parse(req.params);
    res.json(await readPledgeSurvey(database.db, pledgeId, user));
  });

  router.put('/:pledgeId/survey', async (req, res) => {
    const user = requireUser(res);
    const { pledgeId } = surveyPledgeParams.parse(req.params);
    const { created, view } = await answerPledgeSurvey(database, pledgeId, user, req.body);
    res.status(created ? 201 : 200).json(view);
  });

  return router;
}
