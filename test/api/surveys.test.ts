/**
 * Backer surveys through the API on real Postgres and the Temporal stand-in (issue #21): who may do what on every
 * survey endpoint; a survey only for a funded campaign, one per reward (and one for the backers without a reward);
 * questions and answers validated with the field named (required answers, choices among the options, a shipping
 * address a carrier can use); sending waits for settlement, invites each settled backer of the reward once (a second
 * send re-mails nobody); answers change until the survey is locked, then 409; the creator sees counts.
 */
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import request from 'supertest';
import { type PledgeStatus } from '../../db/schema';
import { createSurveyActivities } from '../../activities/surveys';
import { CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { type surveyInvitationsWorkflow } from '../../workflows/survey-invitations';
import { surveyInvitationsWorkflowId, surveyRemindersWorkflowId } from '../../workflows/survey-messages';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';
import { workflowBundle } from '../helpers/platform';
import { createTestWorkflowEnvironment } from '../helpers/temporal';

type Caller = { id: string; auth: { Authorization: string } };
let env: TestWorkflowEnvironment;
let api: TestApi;
let support: Caller;
let ops: Caller;
let stranger: Caller;

beforeAll(async () => {
  env = await createTestWorkflowEnvironment();
  api = await createTestApi();
  api.context.campaignWorkflows = new CampaignWorkflows(env.client, api.context.config);
  support = await staff('support');
  ops = await staff('ops');
  stranger = await tokenUser(api, 'Stranger');
}, 60_000);
afterAll(async () => {
  await api.close();
  await env.teardown();
});

const db = () => api.context.database.db;

async function staff(role: 'support' | 'ops'): Promise<Caller> {
  const user = await tokenUser(api, `Staff ${role}`);
  await db().updateTable('users').set({ role }).where('id', '=', user.id).execute();
  return user;
}

/** A funded campaign (as the workflow leaves it) with two rewards. */
async function fundedCampaign(status: 'funded' | 'active' | 'draft' = 'funded') {
  const creator = await tokenUser(api, 'Creator');
  const campaign = await campaignRow(api, { creatorId: creator.id, status });
  const [lamp, poster] = await db()
    .insertInto('rewards')
    .values([
      { campaign_id: campaign.id, title: 'Lamp', min_pledge: 5_000 },
      { campaign_id: campaign.id, title: 'Poster', min_pledge: 1_000 },
    ])
    .returning('id')
    .execute();
  return { campaign, creator, lampId: lamp!.id, posterId: poster!.id };
}

/** A chargeback the backer won: the pledge stays `captured`, but its money went back. */
async function lostDispute(campaignId: string, pledgeId: string) {
  await db()
    .insertInto('disputes')
    .values({ stripe_dispute_id: `dp_${pledgeId}`, campaign_id: campaignId, pledge_id: pledgeId, charge_id: `ch_${pledgeId}`, amount: 6_000, currency: 'USD', status: 'lost', reason: 'fraudulent' })
    .execute();
}

/** A backer's pledge in the state settlement left it. */
async function pledge(campaignId: string, rewardId: string | null, status: PledgeStatus = 'captured') {
  const backer = await tokenUser(api, 'Backer');
  const row = await db()
    .insertInto('pledges')
    .values({ campaign_id: campaignId, backer_id: backer.id, reward_id: rewardId, amount: 6_000, currency: 'USD', status, amount_captured: status === 'captured' ? 6_000 : 0, captured_at: status === 'captured' ? new Date() : null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { backer, pledgeId: row.id };
}

const shippingQuestions = [
  { id: 'ship', kind: 'shipping_address', prompt: 'Where do we ship your lamp?', required: true },
  { kind: 'choice', prompt: 'Colour', options: ['Black', 'White'], required: true },
  { kind: 'text', prompt: 'Anything else?' },
];
const address = { name: 'Ada Lovelace', line1: '12 St James Square', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const fieldsOf = (response: request.Response) => (response.body as { error: { fields?: { path: string }[] } }).error.fields?.map((field) => field.path) ?? [];

describe('who may do what', () => {
  it('on a funded campaign: the creator manages, staff read, the backer answers their own pledge only; refusals come before the body is read', async () => {
    const { campaign, creator, lampId } = await fundedCampaign();
    const { backer, pledgeId } = await pledge(campaign.id, lampId);
    const base = `/api/campaigns/${campaign.id}/surveys`;
    let surveyId = '';
    const invalid = { questions: 'none', unknown: true };
    type Call = (auth: Caller['auth'] | undefined, allowed: boolean) => request.Test;
    const send = (test: request.Test, auth: Caller['auth'] | undefined) => (auth ? test.set(auth) : test);
    const endpoints: Array<{ name: string; call: Call; expected: Record<string, number> }> = [
      {
        name: 'POST surveys',
        call: (auth, allowed) => send(request(api.app).post(base), auth).send(allowed ? { rewardId: lampId, questions: shippingQuestions } : invalid),
        expected: { anonymous: 401, stranger: 403, backer: 403, support: 403, ops: 403, creator: 201 },
      },
      { name: 'GET surveys', call: (auth) => send(request(api.app).get(base), auth), expected: { anonymous: 401, stranger: 403, backer: 403, support: 200, ops: 200, creator: 200 } },
      { name: 'GET survey', call: (auth) => send(request(api.app).get(`${base}/${surveyId}`), auth), expected: { anonymous: 401, stranger: 403, backer: 403, support: 200, ops: 200, creator: 200 } },
      {
        name: 'PATCH survey',
        call: (auth, allowed) => send(request(api.app).patch(`${base}/${surveyId}`), auth).send(allowed ? { questions: shippingQuestions } : invalid),
        expected: { anonymous: 401, stranger: 403, backer: 403, support: 403, ops: 403, creator: 200 },
      },
      { name: 'GET pledge survey (draft)', call: (auth) => send(request(api.app).get(`/api/pledges/${pledgeId}/survey`), auth), expected: { anonymous: 401, stranger: 404, support: 404, ops: 404, creator: 404, backer: 404 } },
      { name: 'POST send', call: (auth) => send(request(api.app).post(`${base}/${surveyId}/send`), auth), expected: { anonymous: 401, stranger: 403, backer: 403, support: 403, ops: 403, creator: 202 } },
      {
        name: 'PUT pledge survey',
        call: (auth, allowed) => send(request(api.app).put(`/api/pledges/${pledgeId}/survey`), auth).send(allowed ? { answers: { ship: address, q2: 'Black' } } : invalid),
        expected: { anonymous: 401, stranger: 404, support: 404, ops: 404, creator: 404, backer: 201 },
      },
      { name: 'GET pledge survey', call: (auth) => send(request(api.app).get(`/api/pledges/${pledgeId}/survey`), auth), expected: { anonymous: 401, stranger: 404, support: 404, ops: 404, creator: 404, backer: 200 } },
      { name: 'POST lock', call: (auth) => send(request(api.app).post(`${base}/${surveyId}/lock`), auth), expected: { anonymous: 401, stranger: 403, backer: 403, support: 403, ops: 403, creator: 200 } },
    ];
    const callers: Record<string, Caller['auth'] | undefined> = { anonymous: undefined, stranger: stranger.auth, backer: backer.auth, support: support.auth, ops: ops.auth, creator: creator.auth };
    const actual: Record<string, Record<string, number>> = {};
    for (const endpoint of endpoints) {
      actual[endpoint.name] = {};
      // The one allowed caller goes last, so the refused calls meet the state it expects.
      for (const who of Object.keys(endpoint.expected)) {
        const allowed = endpoint.expected[who]! < 300;
        const response = await endpoint.call(callers[who], allowed);
        actual[endpoint.name]![who] = response.status;
        if (endpoint.name === 'POST surveys' && allowed) surveyId = (response.body as { id: string }).id;
      }
    }
    expect(actual).toEqual(Object.fromEntries(endpoints.map((endpoint) => [endpoint.name, endpoint.expected])));
  });

  it('on a draft campaign: nobody but its creator learns it exists (404), staff included', async () => {
    const { campaign, creator } = await fundedCampaign('draft');
    const base = `/api/campaigns/${campaign.id}/surveys`;
    for (const caller of [stranger, support, ops]) {
      await request(api.app).post(base).set(caller.auth).send({ rewardId: null, questions: shippingQuestions }).expect(404);
      await request(api.app).get(base).set(caller.auth).expect(404);
      await request(api.app).get(`${base}/00000000-0000-4000-8000-000000000000`).set(caller.auth).expect(404);
    }
    const refused = await request(api.app).post(base).set(creator.auth).send({ rewardId: null, questions: shippingQuestions }).expect(409);
    expect(refused.body.error.code).toBe('campaign_not_funded');
  });

  it('a survey of another campaign, or none, is 404 to its creator; a malformed id is 400', async () => {
    const first = await fundedCampaign();
    const second = await fundedCampaign();
    const created = await request(api.app).post(`/api/campaigns/${first.campaign.id}/surveys`).set(first.creator.auth).send({ rewardId: null, questions: shippingQuestions }).expect(201);
    await request(api.app).get(`/api/campaigns/${second.campaign.id}/surveys/${created.body.id}`).set(second.creator.auth).expect(404);
    await request(api.app).post(`/api/campaigns/${second.campaign.id}/surveys/${created.body.id}/send`).set(second.creator.auth).expect(404);
    await request(api.app).get(`/api/campaigns/${first.campaign.id}/surveys/not-a-uuid`).set(first.creator.auth).expect(400);
    await request(api.app).get('/api/pledges/not-a-uuid/survey').set(first.creator.auth).expect(400);
  });
});

describe('defining a survey', () => {
  /** Refused bodies create nothing: one campaign serves every case. */
  let refusing: ReturnType<typeof fundedCampaign> | undefined;
  it('only once the campaign is funded, one per reward and one for the backers without a reward', async () => {
    const live = await fundedCampaign('active');
    const early = await request(api.app).post(`/api/campaigns/${live.campaign.id}/surveys`).set(live.creator.auth).send({ rewardId: live.lampId, questions: shippingQuestions }).expect(409);
    expect(early.body.error.code).toBe('campaign_not_funded');

    const { campaign, creator, lampId, posterId } = await fundedCampaign();
    const post = (body: object) => request(api.app).post(`/api/campaigns/${campaign.id}/surveys`).set(creator.auth).send(body);
    const lamp = await post({ rewardId: lampId, questions: shippingQuestions }).expect(201);
    expect(lamp.body).toMatchObject({ status: 'draft', rewardId: lampId, sentAt: null, counts: { backers: 0, answered: 0, unanswered: 0 } });
    // Ids the creator left out are given by position.
    expect(lamp.body.questions.map((question: { id: string }) => question.id)).toEqual(['ship', 'q2', 'q3']);
    expect(lamp.body.questions[2]).toEqual({ id: 'q3', kind: 'text', prompt: 'Anything else?', required: false });
    expect((await post({ rewardId: lampId, questions: shippingQuestions }).expect(409)).body.error.code).toBe('survey_exists');
    await post({ rewardId: posterId, questions: shippingQuestions }).expect(201);
    await post({ rewardId: null, questions: [{ kind: 'text', prompt: 'Your name for the credits', required: true }] }).expect(201);
    expect((await post({ rewardId: null, questions: shippingQuestions }).expect(409)).body.error.code).toBe('survey_exists');
    const other = await fundedCampaign();
    expect(fieldsOf(await post({ rewardId: other.lampId, questions: shippingQuestions }).expect(400))).toEqual(['rewardId']);
  });

  it.each([
    [{ rewardId: null, questions: [] }, ['questions']],
    [{ rewardId: null, questions: [{ kind: 'choice', prompt: 'Size', options: ['M'] }] }, ['questions.0.options']],
    [{ rewardId: null, questions: [{ kind: 'choice', prompt: 'Size', options: ['M', 'M'] }] }, ['questions.0.options']],
    [{ rewardId: null, questions: [{ kind: 'video', prompt: 'Dance' }] }, ['questions.0.kind']],
    [{ rewardId: null, questions: [{ kind: 'text', prompt: '  ' }] }, ['questions.0.prompt']],
    [{ rewardId: null, questions: [{ kind: 'text', prompt: 'A', colour: 'red' }] }, ['questions.0.colour']],
    [{ rewardId: null, questions: [{ id: 'a', kind: 'text', prompt: 'A' }, { id: 'a', kind: 'text', prompt: 'B' }] }, ['questions.1.id']],
    [{ rewardId: null, questions: [{ id: 'Not Ok', kind: 'text', prompt: 'A' }] }, ['questions.0.id']],
    [{ questions: [{ kind: 'text', prompt: 'A' }] }, ['rewardId']],
    [{ rewardId: null, questions: [{ kind: 'text', prompt: 'A' }], status: 'sent' }, ['status']],
  ])('refuses %j with 400 naming %j', async (body, fields) => {
    const { campaign, creator } = await (refusing ??= fundedCampaign());
    const response = await request(api.app).post(`/api/campaigns/${campaign.id}/surveys`).set(creator.auth).send(body).expect(400);
    expect(fieldsOf(response)).toEqual(fields);
  });
});

describe('sending', () => {
  it('waits for settlement, invites each settled backer of the reward once, and a second send re-mails nobody', async () => {
    const { campaign, creator, lampId, posterId } = await fundedCampaign();
    const lampBackers = [await pledge(campaign.id, lampId), await pledge(campaign.id, lampId), await pledge(campaign.id, lampId)];
    const refunded = await pledge(campaign.id, lampId, 'refunded');
    const posterBacker = await pledge(campaign.id, posterId);
    const noReward = await pledge(campaign.id, null);
    const errored = await pledge(campaign.id, lampId, 'errored');
    const chargedBack = await pledge(campaign.id, lampId);
    await lostDispute(campaign.id, chargedBack.pledgeId);
    const base = `/api/campaigns/${campaign.id}/surveys`;
    const survey = (await request(api.app).post(base).set(creator.auth).send({ rewardId: lampId, questions: shippingQuestions }).expect(201)).body as { id: string };

    const early = await request(api.app).post(`${base}/${survey.id}/send`).set(creator.auth).expect(409);
    expect(early.body.error).toMatchObject({ code: 'settlement_in_progress', message: expect.stringMatching(/^1 pledge is still being collected/) });
    await db().updateTable('pledges').set({ status: 'dropped' }).where('id', '=', errored.pledgeId).execute();

    const sent = await request(api.app).post(`${base}/${survey.id}/send`).set(creator.auth).expect(202);
    expect(sent.body).toMatchObject({ status: 'sent', sentAt: expect.any(String), counts: { backers: 3, answered: 0, unanswered: 3 } });
    await request(api.app).patch(`${base}/${survey.id}`).set(creator.auth).send({ questions: shippingQuestions }).expect(409);

    // The invitations run on a worker; the reminders wait for their first round, two days on.
    const invitations = env.client.workflow.getHandle<typeof surveyInvitationsWorkflow>(surveyInvitationsWorkflowId(survey.id));
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: api.context.config.temporal.taskQueue,
      workflowBundle: await workflowBundle(),
      activities: createSurveyActivities(api.context),
      shutdownGraceTime: '1 second',
    });
    expect(await worker.runUntil(invitations.result())).toEqual({ invited: 3 });
    expect((await env.client.workflow.getHandle(surveyRemindersWorkflowId(survey.id)).describe()).status.name).toBe('RUNNING');

    const invited = async () =>
      db().selectFrom('notifications').select(['recipient_id', 'dedupe_key', 'payload']).where('template', '=', 'survey_invitation').where('dedupe_key', 'like', `survey-${survey.id}-%`).execute();
    const mails = await invited();
    expect(mails.map((mail) => mail.recipient_id).sort()).toEqual(lampBackers.map((backer) => backer.backer.id).sort());
    expect(mails.map((mail) => mail.dedupe_key).sort()).toEqual(lampBackers.map((backer) => `survey-${survey.id}-pledge-${backer.pledgeId}`).sort());
    expect(mails[0]!.payload).toMatchObject({ campaignTitle: campaign.title, rewardTitle: 'Lamp', surveyUrl: expect.stringMatching(/\/pledges\/[0-9a-f-]{36}\/survey$/) });
    for (const left of [refunded, posterBacker, noReward, errored, chargedBack]) expect(mails.map((mail) => mail.recipient_id)).not.toContain(left.backer.id);

    const firstRun = (await invitations.describe()).runId;
    const again = await request(api.app).post(`${base}/${survey.id}/send`).set(creator.auth).expect(202);
    expect(again.body.sentAt).toBe(sent.body.sentAt);
    expect((await invitations.describe()).runId).toBe(firstRun);
    expect(await invited()).toHaveLength(3);
  });

  it('answers 503 without Temporal, or when it cannot be reached, and leaves the survey a draft', async () => {
    const { campaign, creator } = await fundedCampaign();
    const survey = (await request(api.app).post(`/api/campaigns/${campaign.id}/surveys`).set(creator.auth).send({ rewardId: null, questions: shippingQuestions }).expect(201)).body as { id: string };
    const send = () => request(api.app).post(`/api/campaigns/${campaign.id}/surveys/${survey.id}/send`).set(creator.auth);
    const workflows = api.context.campaignWorkflows!;
    try {
      delete api.context.campaignWorkflows;
      expect((await send().expect(503)).body.error.code).toBe('workflows_unavailable');
      const unreachable = new CampaignWorkflows({ workflow: { start: () => Promise.reject(new Error('14 UNAVAILABLE: connection refused')) } } as never, api.context.config);
      api.context.campaignWorkflows = unreachable;
      const refused = await send().expect(503);
      expect(refused.body.error.code).toBe('survey_mail_not_scheduled');
      expect(refused.headers['retry-after']).toBe('5');
    } finally {
      api.context.campaignWorkflows = workflows;
    }
    expect((await request(api.app).get(`/api/campaigns/${campaign.id}/surveys/${survey.id}`).set(creator.auth).expect(200)).body.status).toBe('draft');
    expect((await send().expect(202)).body.status).toBe('sent');
  });
});

describe('answering', () => {
  async function sentSurvey(questions: object[] = shippingQuestions) {
    const funded = await fundedCampaign();
    const backers = [await pledge(funded.campaign.id, funded.lampId), await pledge(funded.campaign.id, funded.lampId)];
    const base = `/api/campaigns/${funded.campaign.id}/surveys`;
    const survey = (await request(api.app).post(base).set(funded.creator.auth).send({ rewardId: funded.lampId, questions }).expect(201)).body as { id: string };
    await request(api.app).post(`${base}/${survey.id}/send`).set(funded.creator.auth).expect(202);
    return { ...funded, backers, survey, surveyPath: `${base}/${survey.id}` };
  }
  let refusing: ReturnType<typeof sentSurvey> | undefined;
  const answer = (caller: Caller, pledgeId: string, answers: object) => request(api.app).put(`/api/pledges/${pledgeId}/survey`).set(caller.auth).send({ answers });

  it.each([
    [{ q2: 'Black' }, ['answers.ship']],
    [{ ship: address, q2: 'Purple' }, ['answers.q2']],
    [{ ship: address }, ['answers.q2']],
    [{ ship: address, q2: 'Black', q9: 'x' }, ['answers.q9']],
    [{ ship: { ...address, postalCode: undefined, country: 'DE' }, q2: 'Black' }, ['answers.ship.postalCode']],
    [{ ship: { ...address, country: 'US' }, q2: 'Black' }, ['answers.ship.region']],
    [{ ship: { ...address, country: 'XX' }, q2: 'Black' }, ['answers.ship.country']],
    [{ ship: { ...address, country: 'UK' }, q2: 'Black' }, ['answers.ship.country']],
    [{ ship: { ...address, line1: ' ' }, q2: 'Black' }, ['answers.ship.line1']],
    [{ ship: { ...address, phone: 'call me' }, q2: 'Black' }, ['answers.ship.phone']],
    [{ ship: { ...address, floor: 3 }, q2: 'Black' }, ['answers.ship.floor']],
    [{ ship: address, q2: 'Black', q3: 'x'.repeat(2001) }, ['answers.q3']],
  ])('refuses %j with 400 naming %j', async (answers, fields) => {
    // Refused answers change nothing: one survey serves every case.
    const { backers } = await (refusing ??= sentSurvey());
    const response = await answer(backers[0]!.backer, backers[0]!.pledgeId, answers).expect(400);
    expect(fieldsOf(response)).toEqual(fields);
  });

  it('takes an address where the country has no postal codes, normalises the country, and changes answers in place until locked', async () => {
    const { creator, backers, surveyPath } = await sentSurvey();
    const [ada, bob] = backers as [(typeof backers)[0], (typeof backers)[0]];
    const first = await answer(ada.backer, ada.pledgeId, { ship: { name: 'Ada', line1: '1 Queen’s Road', city: 'Hong Kong', country: 'hk' }, q2: 'White' }).expect(201);
    expect(first.body).toMatchObject({ editable: true, answers: { ship: { country: 'HK' }, q2: 'White' }, answeredAt: expect.any(String) });
    const changed = await answer(ada.backer, ada.pledgeId, { ship: address, q2: 'Black', q3: 'Gift wrap, please' }).expect(200);
    expect(changed.body.answers).toEqual({ ship: address, q2: 'Black', q3: 'Gift wrap, please' });
    expect(changed.body.answeredAt).toBe(first.body.answeredAt);
    expect(await db().selectFrom('survey_responses').select('pledge_id').where('pledge_id', '=', ada.pledgeId).execute()).toHaveLength(1);

    const counts = await request(api.app).get(surveyPath).set(creator.auth).expect(200);
    expect(counts.body.counts).toEqual({ backers: 2, answered: 1, unanswered: 1 });
    expect(JSON.stringify(counts.body)).not.toContain('Gift wrap');
    const listed = await request(api.app).get(surveyPath.replace(/\/[^/]+$/, '')).set(support.auth).expect(200);
    expect(listed.body.data).toEqual([expect.objectContaining({ id: counts.body.id, counts: { backers: 2, answered: 1, unanswered: 1 } })]);

    const lock = await request(api.app).post(`${surveyPath}/lock`).set(creator.auth).expect(200);
    expect(lock.body).toMatchObject({ status: 'locked', lockedAt: expect.any(String) });
    const late = await answer(ada.backer, ada.pledgeId, { ship: address, q2: 'White' }).expect(409);
    expect(late.body.error.code).toBe('survey_locked');
    await answer(bob.backer, bob.pledgeId, { ship: address, q2: 'White' }).expect(409);
    const mine = await request(api.app).get(`/api/pledges/${ada.pledgeId}/survey`).set(ada.backer.auth).expect(200);
    expect(mine.body).toMatchObject({ editable: false, answers: { q2: 'Black' }, survey: { status: 'locked' } });
    // Locking again is the same lock.
    expect((await request(api.app).post(`${surveyPath}/lock`).set(creator.auth).expect(200)).body.lockedAt).toBe(lock.body.lockedAt);
    await request(api.app).post(`${surveyPath}/send`).set(creator.auth).expect(409);
  });

  it('refuses to answer for a pledge refunded in full or charged back, and to lock a draft (409)', async () => {
    const { campaign, creator, backers } = await sentSurvey();
    await db().updateTable('pledges').set({ status: 'refunded' }).where('id', '=', backers[1]!.pledgeId).execute();
    await lostDispute(campaign.id, backers[0]!.pledgeId);
    for (const { backer, pledgeId } of backers) {
      const refused = await answer(backer, pledgeId, { ship: address, q2: 'Black' }).expect(409);
      expect(refused.body.error.code).toBe('pledge_not_settled');
      expect((await request(api.app).get(`/api/pledges/${pledgeId}/survey`).set(backer.auth).expect(200)).body.editable).toBe(false);
    }

    const draft = (await request(api.app).post(`/api/campaigns/${campaign.id}/surveys`).set(creator.auth).send({ rewardId: null, questions: shippingQuestions }).expect(201)).body as { id: string };
    const lockDraft = await request(api.app).post(`/api/campaigns/${campaign.id}/surveys/${draft.id}/lock`).set(creator.auth).expect(409);
    expect(lockDraft.body.error.code).toBe('survey_not_sent');
  });
});

describe('the API description', () => {
  it('lists every survey route', async () => {
    const response = await request(api.app).get('/api/openapi.json').expect(200);
    const paths = response.body.paths as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths['/api/campaigns/{id}/surveys']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/api/campaigns/{id}/surveys/{surveyId}']!).sort()).toEqual(['get', 'patch']);
    expect(paths).toHaveProperty(['/api/campaigns/{id}/surveys/{surveyId}/send', 'post']);
    expect(paths).toHaveProperty(['/api/campaigns/{id}/surveys/{surveyId}/lock', 'post']);
    expect(Object.keys(paths['/api/pledges/{pledgeId}/survey']!).sort()).toEqual(['get', 'put']);
  });
});
