/**
 * The survey workflows on the Temporal stand-in with time skipping and the real survey activities on Postgres:
 * reminders at 2 and 4 days go to the backers who have not answered and to nobody else; they stop when everyone has
 * answered, and when the survey is locked (the signal ends the workflow at once; a lock whose signal was lost ends it
 * at the next round, mailing nobody). Rounds and invitations page through the backers, a run hands over to a new one
 * as its history grows without mailing anyone twice, and every run replays against today's code.
 */
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createSurveyActivities } from '../../activities/surveys';
import { loadConfig } from '../../src/config';
import { type PledgeStatus } from '../../db/schema';
import { type surveyInvitationsWorkflow } from '../../workflows/survey-invitations';
import { surveyLockedSignal, type SurveyMailPacing } from '../../workflows/survey-messages';
import { type surveyRemindersWorkflow } from '../../workflows/survey-reminders';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../helpers/db';
import { workflowBundle } from '../helpers/platform';
import { createTestWorkflowEnvironment } from '../helpers/temporal';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let env: TestWorkflowEnvironment;
let testDb: TestDatabase;
let worker: Worker;
let running: Promise<void>;
const taskQueue = () => `surveys-${testDb.schema}`;

beforeAll(async () => {
  env = await createTestWorkflowEnvironment();
  testDb = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error' });
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: taskQueue(),
    workflowBundle: await workflowBundle(),
    activities: createSurveyActivities({ database: testDb.database, config }),
    shutdownGraceTime: '1 second',
  });
  running = worker.run();
}, 60_000);
afterAll(async () => {
  worker.shutdown();
  await running;
  await testDb.drop();
  await env.teardown();
});

const db = () => testDb.database.db;
let users = 0;

/** A sent survey for a reward of a funded campaign, with `backers` settled pledges for it and a few that are not for it. */
async function sentSurvey(backers: number) {
  const creator = await db().insertInto('users').values({ email: `creator${++users}@example.com`, name: 'Creator', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
  const campaign = await db()
    .insertInto('campaigns')
    .values({ creator_id: creator.id, title: 'Lamp', slug: `lamp-${users}`, goal_amount: 100_000, currency: 'USD', model: 'aon', status: 'funded', starts_at: new Date(Date.now() - 9 * DAY), ends_at: new Date(Date.now() - DAY) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const [reward, other] = await db()
    .insertInto('rewards')
    .values([
      { campaign_id: campaign.id, title: 'Lamp', min_pledge: 5_000 },
      { campaign_id: campaign.id, title: 'Poster', min_pledge: 1_000 },
    ])
    .returning('id')
    .execute();
  const pledge = async (rewardId: string | null, status: PledgeStatus = 'captured') => {
    const backer = await db().insertInto('users').values({ email: `backer${++users}@example.com`, name: 'Backer', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
    return db()
      .insertInto('pledges')
      .values({ campaign_id: campaign.id, backer_id: backer.id, reward_id: rewardId, amount: 6_000, currency: 'USD', status })
      .returning(['id', 'backer_id'])
      .executeTakeFirstOrThrow();
  };
  const pledges = [];
  for (let i = 0; i < backers; i++) pledges.push(await pledge(reward!.id));
  // Not this survey's: refunded in full, another reward's, no reward.
  await pledge(reward!.id, 'refunded');
  await pledge(other!.id);
  await pledge(null);
  const survey = await db()
    .insertInto('surveys')
    .values({ campaign_id: campaign.id, reward_id: reward!.id, questions: JSON.stringify([{ id: 'q1', kind: 'text', prompt: 'Size?', required: true }]), status: 'sent', sent_at: new Date() })
    .returning('id')
    .executeTakeFirstOrThrow();
  const answer = (p: { id: string; backer_id: string }) =>
    db().insertInto('survey_responses').values({ survey_id: survey.id, pledge_id: p.id, backer_id: p.backer_id, answers: JSON.stringify({ q1: 'M' }) }).execute();
  return { surveyId: survey.id, pledges, answer };
}

/** Who was mailed for this survey, by template: `reminder-<n>` -> pledge ids. */
async function mailsOf(surveyId: string): Promise<Record<string, string[]>> {
  const rows = await db().selectFrom('notifications').select(['dedupe_key']).where('dedupe_key', 'like', `survey-${surveyId}-%`).execute();
  const result: Record<string, string[]> = {};
  for (const { dedupe_key } of rows) {
    const match = /^survey-[0-9a-f-]{36}-pledge-([0-9a-f-]{36})(?:-(reminder-\d+))?$/.exec(dedupe_key);
    if (!match) throw new Error(`unexpected dedupe key ${dedupe_key}`);
    (result[match[2] ?? 'invitation'] ??= []).push(match[1]!);
  }
  for (const ids of Object.values(result)) ids.sort();
  return result;
}

const ids = (pledges: Array<{ id: string }>) => pledges.map((p) => p.id).sort();
const pacing = (overrides: Partial<SurveyMailPacing> = {}): SurveyMailPacing => ({ pageSize: 2, pagePauseMs: 1_000, maxHistoryEvents: 10_000, ...overrides });

function startReminders(surveyId: string, overrides: Partial<SurveyMailPacing> = {}) {
  return env.client.workflow.start<typeof surveyRemindersWorkflow>('surveyRemindersWorkflow', {
    workflowId: `survey-${surveyId}-reminders`,
    taskQueue: taskQueue(),
    args: [{ surveyId, intervalMs: 2 * DAY, ...pacing(overrides) }],
  });
}

test('reminders at 2 and 4 days go to the unanswered only, and stop once everyone has answered', async () => {
  const { surveyId, pledges, answer } = await sentSurvey(5);
  const [first, second, ...rest] = pledges;
  await answer(first!);
  const handle = await startReminders(surveyId);

  await env.sleep(2 * DAY - HOUR);
  expect(await mailsOf(surveyId)).toEqual({});
  await env.sleep(2 * HOUR);
  expect(await mailsOf(surveyId)).toEqual({ 'reminder-1': ids([second!, ...rest]) });

  await answer(second!);
  await env.sleep(2 * DAY);
  expect(await mailsOf(surveyId)).toEqual({ 'reminder-1': ids([second!, ...rest]), 'reminder-2': ids(rest) });

  for (const pledge of rest) await answer(pledge);
  await env.sleep(2 * DAY);
  expect(await handle.result()).toEqual({ ended: 'all_answered', remindersSent: 2 });
  expect(Object.keys(await mailsOf(surveyId))).toEqual(['reminder-1', 'reminder-2']);
});

test('a lock ends the reminders at once; a lock whose signal was lost ends them at the next round, mailing nobody', async () => {
  const signalled = await sentSurvey(3);
  const handle = await startReminders(signalled.surveyId);
  await env.sleep(2 * DAY + HOUR);
  expect((await mailsOf(signalled.surveyId))['reminder-1']).toHaveLength(3);
  const lockedAt = await env.currentTimeMs();
  await db().updateTable('surveys').set({ status: 'locked', locked_at: new Date() }).where('id', '=', signalled.surveyId).execute();
  await handle.signal(surveyLockedSignal);
  expect(await handle.result()).toEqual({ ended: 'locked', remindersSent: 1 });
  // Ended by the signal, not by the next round two days on.
  expect((await env.currentTimeMs()) - lockedAt).toBeLessThan(HOUR);

  const unsignalled = await sentSurvey(2);
  const quiet = await startReminders(unsignalled.surveyId);
  await db().updateTable('surveys').set({ status: 'locked', locked_at: new Date() }).where('id', '=', unsignalled.surveyId).execute();
  expect(await quiet.result()).toEqual({ ended: 'locked', remindersSent: 0 });
  expect(await mailsOf(unsignalled.surveyId)).toEqual({});
});

test('a round larger than a run hands over to new runs, mailing each backer once per reminder; every run replays', async () => {
  const { surveyId, pledges, answer } = await sentSurvey(7);
  // One backer per page and a tiny history: the round is spread over several runs.
  const handle = await startReminders(surveyId, { pageSize: 1, maxHistoryEvents: 25 });
  await env.sleep(2 * DAY + HOUR);
  expect(await mailsOf(surveyId)).toEqual({ 'reminder-1': ids(pledges) });
  expect((await handle.describe()).runId).not.toBe(handle.firstExecutionRunId);

  for (const pledge of pledges.slice(1)) await answer(pledge);
  await env.sleep(2 * DAY);
  expect(await mailsOf(surveyId)).toEqual({ 'reminder-1': ids(pledges), 'reminder-2': [pledges[0]!.id] });
  await answer(pledges[0]!);
  await env.sleep(2 * DAY);
  expect(await handle.result()).toEqual({ ended: 'all_answered', remindersSent: 2 });

  const runs = [];
  for await (const execution of env.client.workflow.list({ query: `WorkflowId = 'survey-${surveyId}-reminders'` })) runs.push(execution);
  expect(runs.length).toBeGreaterThan(2);
  for (const run of runs) {
    const history = await env.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, run.runId)).resolves.toBeUndefined();
  }
});

test('invitations wait for the send to commit, page through the backers across runs, and a repeated page mails nobody twice', async () => {
  const { surveyId, pledges } = await sentSurvey(5);
  // Started just before the send's commit: the survey is still a draft when the first page is asked for.
  await db().updateTable('surveys').set({ status: 'draft', sent_at: null }).where('id', '=', surveyId).execute();
  const invitations = await env.client.workflow.start<typeof surveyInvitationsWorkflow>('surveyInvitationsWorkflow', {
    workflowId: `survey-${surveyId}-invitations`,
    taskQueue: taskQueue(),
    args: [{ surveyId, ...pacing({ maxHistoryEvents: 15 }) }],
  });
  // Its first attempts fail (logged as warnings) and nothing is mailed.
  await env.sleep(2_000);
  expect(await mailsOf(surveyId)).toEqual({});
  await db().updateTable('surveys').set({ status: 'sent', sent_at: new Date() }).where('id', '=', surveyId).execute();
  expect(await invitations.result()).toEqual({ invited: 5 });
  expect((await invitations.describe()).runId).not.toBe(invitations.firstExecutionRunId);
  expect(await mailsOf(surveyId)).toEqual({ invitation: ids(pledges) });

  // A page run again (a retried activity, a reset workflow) queues nothing new.
  const activities = createSurveyActivities({ database: testDb.database, config: loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL }) });
  expect(await activities.inviteSurveyBackers({ surveyId, afterPledgeId: null, limit: 10 })).toEqual({ mailed: 5, nextCursor: null });
  expect(await db().selectFrom('notifications').select('id').where('dedupe_key', 'like', `survey-${surveyId}-%`).execute()).toHaveLength(5);
});
