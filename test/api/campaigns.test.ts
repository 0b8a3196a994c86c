/**
 * The campaign API through HTTP on real Postgres: creating and changing drafts, rewards and stretch goals, listing
 * and reading, stats, the OpenAPI document, every validation error naming its field, and who may do what.
 */
import request from 'supertest';
import { z } from 'zod';
import { createCampaignBody } from '../../src/campaigns/schemas';
import { createTestApi, signUp, type TestApi } from '../helpers/api';

let api: TestApi;
type Auth = { Authorization: string };
let owner: { id: string; auth: Auth };
let other: { auth: Auth };
let support: { auth: Auth };
let ops: { auth: Auth };

beforeAll(async () => {
  api = await createTestApi({ CAMPAIGN_MIN_DURATION: '1h' });
  owner = await signUp(api);
  other = await signUp(api);
  support = await signUp(api, { role: 'support' });
  ops = await signUp(api, { role: 'ops' });
});
afterAll(() => api.close());

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
const validCampaign = (overrides: Record<string, unknown> = {}) => ({
  title: 'A Better Desk Lamp',
  goalAmount: '1500.00',
  currency: 'USD',
  model: 'aon',
  startsAt: inDays(1),
  endsAt: inDays(31),
  ...overrides,
});

async function draft(overrides: Record<string, unknown> = {}) {
  const response = await request(api.app).post('/api/campaigns').set(owner.auth).send(validCampaign(overrides)).expect(201);
  return response.body as { id: string; slug: string };
}

describe('creating and changing drafts', () => {
  it('creates a draft with money as decimal strings, a slug from the title, the default fee', async () => {
    const response = await request(api.app).post('/api/campaigns').set(owner.auth).send(validCampaign({ title: 'Sol Lamp: Take Two!' })).expect(201);
    expect(response.body).toMatchObject({ status: 'draft', slug: 'sol-lamp-take-two', goalAmount: '1500.00', currency: 'USD', platformFeeBps: 600, creatorId: owner.id });
    const again = await request(api.app).post('/api/campaigns').set(owner.auth).send(validCampaign({ title: 'Sol Lamp: Take Two!' })).expect(201);
    expect(again.body.slug).toMatch(/^sol-lamp-take-two-[0-9a-f]{6}$/);
  });

  it('refuses a slug already taken with 409', async () => {
    await draft({ slug: 'taken-slug' });
    const response = await request(api.app).post('/api/campaigns').set(owner.auth).send(validCampaign({ slug: 'taken-slug' })).expect(409);
    expect(response.body.error.code).toBe('slug_taken');
  });

  it.each([
    [{ title: 'ab' }, 'title'],
    [{ goalAmount: 1500 }, 'goalAmount'],
    [{ goalAmount: '12.345' }, 'goalAmount'],
    [{ goalAmount: '0.10' }, 'goalAmount'],
    [{ goalAmount: '-5.00' }, 'goalAmount'],
    [{ currency: 'XYZ' }, 'currency'],
    [{ model: 'flexible' }, 'model'],
    [{ startsAt: 'tomorrow' }, 'startsAt'],
    [{ startsAt: inDays(-2) }, 'startsAt'],
    [{ endsAt: inDays(0.5) }, 'endsAt'],
    [{ endsAt: inDays(90) }, 'endsAt'],
    [{ slug: 'Not A Slug' }, 'slug'],
    [{ model: 'kia' }, 'refundTerms'],
    [{ platformFeeBps: 900 }, 'platformFeeBps'],
  ])('answers 400 naming the field for %j', async (overrides, field) => {
    const response = await request(api.app).post('/api/campaigns').set(owner.auth).send(validCampaign(overrides)).expect(400);
    expect(response.body.error.fields.map((f: { path: string }) => f.path)).toContain(field);
  });

  it('lets the creator change a draft, with the same rules', async () => {
    const campaign = await draft();
    const changed = await request(api.app).patch(`/api/campaigns/${campaign.id}`).set(owner.auth).send({ goalAmount: '2000.50', model: 'kia', refundTerms: 'Refunds within 14 days' }).expect(200);
    expect(changed.body).toMatchObject({ goalAmount: '2000.50', model: 'kia', refundTerms: 'Refunds within 14 days' });
    const bad = await request(api.app).patch(`/api/campaigns/${campaign.id}`).set(owner.auth).send({ endsAt: inDays(0.9) }).expect(400);
    expect(bad.body.error.fields[0].path).toBe('endsAt');
    await request(api.app).patch(`/api/campaigns/${campaign.id}`).set(owner.auth).send({}).expect(400);
  });

  it('refuses changes once the campaign is no longer a draft', async () => {
    const campaign = await draft();
    await api.context.database.db.updateTable('campaigns').set({ status: 'scheduled' }).where('id', '=', campaign.id).execute();
    const response = await request(api.app).patch(`/api/campaigns/${campaign.id}`).set(owner.auth).send({ title: 'Another title' }).expect(409);
    expect(response.body.error.code).toBe('campaign_not_draft');
    await request(api.app).post(`/api/campaigns/${campaign.id}/rewards`).set(owner.auth).send({ title: 'Late', minPledge: '5.00' }).expect(409);
  });
});

describe('rewards and stretch goals', () => {
  it('adds rewards with their remaining quantity, at least Stripe’s minimum', async () => {
    const campaign = await draft();
    const reward = await request(api.app).post(`/api/campaigns/${campaign.id}/rewards`).set(owner.auth).send({ title: 'Poster', minPledge: '25.00', limitQty: 100, shipsAt: '2027-03-01' }).expect(201);
    expect(reward.body).toMatchObject({ minPledge: '25.00', limitQty: 100, remainingQty: 100, shipsAt: '2027-03-01' });
    const low = await request(api.app).post(`/api/campaigns/${campaign.id}/rewards`).set(owner.auth).send({ title: 'Sticker', minPledge: '0.20' }).expect(400);
    expect(low.body.error.fields[0].path).toBe('minPledge');
    await request(api.app).post(`/api/campaigns/${campaign.id}/rewards`).set(owner.auth).send({ title: 'Bad', minPledge: '5.00', limitQty: 0 }).expect(400);
  });

  it('adds stretch goals to hybrid campaigns only, above the goal and ascending', async () => {
    const aon = await draft();
    const refused = await request(api.app).post(`/api/campaigns/${aon.id}/stretch-goals`).set(owner.auth).send({ title: 'More', targetAmount: '3000.00' }).expect(422);
    expect(refused.body.error.code).toBe('stretch_goals_need_hybrid');
    const hybrid = await draft({ model: 'hybrid' });
    await request(api.app).post(`/api/campaigns/${hybrid.id}/stretch-goals`).set(owner.auth).send({ title: 'Colours', targetAmount: '1000.00' }).expect(400);
    await request(api.app).post(`/api/campaigns/${hybrid.id}/stretch-goals`).set(owner.auth).send({ title: 'Colours', targetAmount: '3000.00' }).expect(201);
    const lower = await request(api.app).post(`/api/campaigns/${hybrid.id}/stretch-goals`).set(owner.auth).send({ title: 'Less', targetAmount: '2500.00' }).expect(400);
    expect(lower.body.error.fields[0].path).toBe('targetAmount');
    await request(api.app).post(`/api/campaigns/${hybrid.id}/stretch-goals`).set(owner.auth).send({ title: 'Brass', targetAmount: '5000.00' }).expect(201);
    const detail = await request(api.app).get(`/api/campaigns/${hybrid.slug}`).set(owner.auth).expect(200);
    expect(detail.body.stretchGoals.map((g: { targetAmount: string; unlockedAt: null }) => [g.targetAmount, g.unlockedAt])).toEqual([['3000.00', null], ['5000.00', null]]);
  });
});

describe('reading campaigns', () => {
  it('shows a published campaign with what it raised, backers and percent funded, by id or slug', async () => {
    const campaign = await draft({ goalAmount: '100.00' });
    const db = api.context.database.db;
    await db.updateTable('campaigns').set({ status: 'active' }).where('id', '=', campaign.id).execute();
    for (const [status, amount] of [['captured', 4_000], ['authorized', 3_550], ['cancelled', 9_999]] as const) {
      const backer = await signUp(api);
      await db.insertInto('pledges').values({ campaign_id: campaign.id, backer_id: backer.id, amount, currency: 'USD', status }).execute();
    }
    const byId = await request(api.app).get(`/api/campaigns/${campaign.id}`).expect(200);
    expect(byId.body).toMatchObject({ raised: '75.50', backers: 2, percentFunded: 75, goalAmount: '100.00' });
    const bySlug = await request(api.app).get(`/api/campaigns/${campaign.slug}`).expect(200);
    expect(bySlug.body.id).toBe(campaign.id);
    const stats = await request(api.app).get(`/api/campaigns/${campaign.id}/stats`).set(owner.auth).expect(200);
    expect(stats.body).toMatchObject({ raised: '75.50', backers: 2, averagePledge: '37.75' });
    expect(stats.body.raisedPerDay).toHaveLength(1);
    expect(stats.body.pledgesPerReward).toEqual([{ rewardId: null, title: null, pledges: 2, raised: '75.50' }]);
  });

  it('hides drafts from everyone but their creator', async () => {
    const campaign = await draft();
    await request(api.app).get(`/api/campaigns/${campaign.id}`).expect(404);
    await request(api.app).get(`/api/campaigns/${campaign.id}`).set(other.auth).expect(404);
    await request(api.app).get(`/api/campaigns/${campaign.id}`).set(owner.auth).expect(200);
    const anonymous = await request(api.app).get('/api/campaigns?limit=100').expect(200);
    expect(anonymous.body.data.every((c: { status: string }) => c.status !== 'draft')).toBe(true);
  });

  it('pages with an opaque keyset cursor, newest first, without gaps or repeats', async () => {
    const mine = await signUp(api);
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await request(api.app).post('/api/campaigns').set(mine.auth).send(validCampaign({ title: `Paged ${i}` })).expect(201);
      created.push(response.body.id as string);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await request(api.app).get('/api/campaigns').query({ status: 'draft', limit: 2, ...(cursor ? { cursor } : {}) }).set(mine.auth).expect(200);
      seen.push(...page.body.data.map((c: { id: string }) => c.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...created].reverse());
    await request(api.app).get('/api/campaigns').query({ cursor: 'garbage' }).expect(400);
    await request(api.app).get('/api/campaigns').query({ limit: 1000 }).expect(400);
    await request(api.app).get('/api/campaigns').query({ status: 'unknown' }).expect(400);
  });
});

describe('authorization matrix', () => {
  let campaignId: string;
  beforeAll(async () => {
    campaignId = (await draft({ model: 'hybrid' })).id;
  });

  const endpoints = (id: () => string) => [
    { name: 'PATCH campaign', call: (r: request.SuperTest<request.Test>) => r.patch(`/api/campaigns/${id()}`).send({ title: 'Renamed draft' }) },
    { name: 'POST reward', call: (r: request.SuperTest<request.Test>) => r.post(`/api/campaigns/${id()}/rewards`).send({ title: 'Pin', minPledge: '5.00' }) },
    { name: 'POST stretch goal', call: (r: request.SuperTest<request.Test>) => r.post(`/api/campaigns/${id()}/stretch-goals`).send({ title: 'Gold', targetAmount: `${9000 + Math.floor(Math.random() * 1000)}.00` }) },
    { name: 'GET stats', call: (r: request.SuperTest<request.Test>) => r.get(`/api/campaigns/${id()}/stats`) },
    { name: 'GET campaign', call: (r: request.SuperTest<request.Test>) => r.get(`/api/campaigns/${id()}`) },
    { name: 'POST campaign', call: (r: request.SuperTest<request.Test>) => r.post('/api/campaigns').send(validCampaign()) },
  ];

  const expected: Record<string, Record<string, number>> = {
    'PATCH campaign': { anonymous: 401, other: 404, owner: 200, support: 404, ops: 404 },
    'POST reward': { anonymous: 401, other: 404, owner: 201, support: 404, ops: 404 },
    'POST stretch goal': { anonymous: 401, other: 404, owner: 201, support: 404, ops: 404 },
    'GET stats': { anonymous: 401, other: 404, owner: 200, support: 404, ops: 404 },
    'GET campaign': { anonymous: 404, other: 404, owner: 200, support: 404, ops: 404 },
    'POST campaign': { anonymous: 401, other: 201, owner: 201, support: 201, ops: 201 },
  };

  it('on a draft: only its creator reaches it; nobody gets a 500', async () => {
    const callers: Record<string, Auth | undefined> = { anonymous: undefined, other: other.auth, owner: owner.auth, support: support.auth, ops: ops.auth };
    const actual: Record<string, Record<string, number>> = {};
    for (const endpoint of endpoints(() => campaignId)) {
      actual[endpoint.name] = {};
      for (const [who, auth] of Object.entries(callers)) {
        const agent = request(api.app) as unknown as request.SuperTest<request.Test>;
        const test = endpoint.call(agent);
        const response = await (auth ? test.set(auth) : test);
        actual[endpoint.name]![who] = response.status;
      }
    }
    expect(actual).toEqual(expected);
  });

  it('on a published campaign: stats for the creator and ops, changes refused to everyone', async () => {
    const published = await draft();
    await api.context.database.db.updateTable('campaigns').set({ status: 'active' }).where('id', '=', published.id).execute();
    await request(api.app).get(`/api/campaigns/${published.id}/stats`).set(ops.auth).expect(200);
    await request(api.app).get(`/api/campaigns/${published.id}/stats`).set(support.auth).expect(403);
    await request(api.app).get(`/api/campaigns/${published.id}/stats`).set(other.auth).expect(403);
    await request(api.app).patch(`/api/campaigns/${published.id}`).set(other.auth).send({ title: 'Hijacked title' }).expect(403);
    await request(api.app).patch(`/api/campaigns/${published.id}`).set(owner.auth).send({ title: 'Late change' }).expect(409);
    await request(api.app).get(`/api/campaigns/${published.id}`).expect(200);
  });
});

describe('GET /api/openapi.json', () => {
  it('describes every campaign route with the request schemas the validators use', async () => {
    const response = await request(api.app).get('/api/openapi.json').expect(200);
    expect(response.body.openapi).toBe('3.1.0');
    for (const path of ['/api/campaigns', '/api/campaigns/{id}', '/api/campaigns/{idOrSlug}', '/api/campaigns/{id}/rewards', '/api/campaigns/{id}/stretch-goals', '/api/campaigns/{id}/stats', '/api/auth/signup', '/api/support/pledges/{id}/refunds']) {
      expect(response.body.paths).toHaveProperty([path]);
    }
    const documented = response.body.paths['/api/campaigns'].post.requestBody.content['application/json'].schema;
    expect(documented).toEqual(JSON.parse(JSON.stringify(z.toJSONSchema(createCampaignBody, { io: 'input' }))));
    expect(documented.required).toEqual(expect.arrayContaining(['title', 'goalAmount', 'currency', 'model', 'startsAt', 'endsAt']));
  });
});
