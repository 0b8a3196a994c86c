/**
 * Creator updates through HTTP, on the whole platform (Temporal and Stripe stand-ins, real Postgres): who may post,
 * list and read what (the authorization matrix), validation naming each field, a retried POST that neither adds an
 * update nor mails twice, a lost workflow start made good by a later read, and unsubscribing (a mail's signed link,
 * forged links refused, or signed in) stopping one campaign's update mails and no other mail.
 */
import { randomUUID } from 'node:crypto';
import { type Client } from '@temporalio/client';
import request from 'supertest';
import { type PledgeStatus } from '../../db/schema';
import { createApp } from '../../src/api/app';
import { createLogger } from '../../src/logger';
import { CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { unsubscribeToken } from '../../src/updates/unsubscribe-token';
import { campaignUpdateSendWorkflowId } from '../../workflows/update-send';
import { createCampaign, createUser, days, type TestUser } from '../helpers/campaign-fixtures';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';

let p: TestPlatform;
let creator: TestUser;
let backer: TestUser;
let formerBacker: TestUser;
let other: TestUser;
let support: TestUser;
let ops: TestUser;
let live: { id: string };
let draft: { id: string };

beforeAll(async () => {
  p = await createTestPlatform();
  [creator, backer, formerBacker, other, support, ops] = await Promise.all([
    createUser(p),
    createUser(p),
    createUser(p),
    createUser(p),
    createUser(p, { role: 'support' }),
    createUser(p, { role: 'ops' }),
  ]);
  live = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10), status: 'active' });
  draft = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10) });
  await pledge(live.id, backer.id, 'captured');
  // Cancelled their pledge: no longer one of the campaign's backers.
  await pledge(live.id, formerBacker.id, 'cancelled');
});
afterAll(() => p?.close());

async function pledge(campaignId: string, backerId: string, status: PledgeStatus) {
  await p.testDb.database.db.insertInto('pledges').values({ campaign_id: campaignId, backer_id: backerId, amount: 5_000, currency: 'USD', status }).execute();
}

const anUpdate = (overrides: Record<string, unknown> = {}) => ({
  title: `News ${randomUUID().slice(0, 8)}`,
  body: '# We shipped\n\nThe **first batch** left the factory. <script>alert(1)</script> stays text.',
  audience: 'backers',
  ...overrides,
});

function post(campaignId: string, auth: Record<string, string> | undefined, body: unknown, key: string | null = randomUUID()) {
  let call = request(p.app).post(`/api/campaigns/${campaignId}/updates`);
  if (auth) call = call.set(auth);
  if (key !== null) call = call.set('Idempotency-Key', key);
  return call.send(body as object);
}

/** Runs the workers until the update's send workflow has finished; then the outbox is drained into `p.mail`. */
async function sendAndDeliver(updateId: string) {
  await p.runWorkers(() => p.env.client.workflow.getHandle(campaignUpdateSendWorkflowId(updateId)).result());
  await p.deliverMail();
}

const mailsAbout = (title: string) => p.mail.filter((mail) => mail.subject.endsWith(`: ${title}`));

describe('authorization matrix', () => {
  type Caller = 'anonymous' | 'other' | 'formerBacker' | 'backer' | 'creator' | 'support' | 'ops';
  const callers = (): Record<Caller, Record<string, string> | undefined> => ({
    anonymous: undefined,
    other: other.auth,
    formerBacker: formerBacker.auth,
    backer: backer.auth,
    creator: creator.auth,
    support: support.auth,
    ops: ops.auth,
  });

  it('on a published campaign: only its creator posts; everyone lists and reads; backers-only bodies and delivery as Kickstarter shows them', async () => {
    const publicUpdate = (await post(live.id, creator.auth, anUpdate({ audience: 'public' })).expect(202)).body as { id: string };
    const backersUpdate = (await post(live.id, creator.auth, anUpdate({ audience: 'backers' })).expect(202)).body as { id: string };

    const actual: Record<string, Record<string, unknown>> = {};
    for (const [who, auth] of Object.entries(callers())) {
      const get = (path: string) => (auth ? request(p.app).get(path).set(auth) : request(p.app).get(path));
      const posted = await post(live.id, auth, anUpdate());
      const list = await get(`/api/campaigns/${live.id}/updates`);
      const one = await get(`/api/campaigns/${live.id}/updates/${backersUpdate.id}`);
      const listed = (list.body.data as Array<{ id: string; body: string | null; bodyHidden: boolean; delivery?: unknown }>) ?? [];
      const inList = listed.find((update) => update.id === backersUpdate.id);
      actual[who] = {
        post: posted.status,
        list: list.status,
        one: one.status,
        backersBody: one.body.body === null ? 'hidden' : 'shown',
        backersBodyInList: inList?.body === null && inList.bodyHidden ? 'hidden' : 'shown',
        publicBodyInList: listed.find((update) => update.id === publicUpdate.id)?.body === null ? 'hidden' : 'shown',
        delivery: one.body.delivery === undefined ? 'no' : 'yes',
      };
    }
    const sees = (post: number, backersBody: 'shown' | 'hidden', delivery: 'yes' | 'no') => ({
      post,
      list: 200,
      one: 200,
      backersBody,
      backersBodyInList: backersBody,
      publicBodyInList: 'shown',
      delivery,
    });
    expect(actual).toEqual({
      anonymous: sees(401, 'hidden', 'no'),
      other: sees(403, 'hidden', 'no'),
      formerBacker: sees(403, 'hidden', 'no'),
      backer: sees(403, 'shown', 'no'),
      creator: sees(202, 'shown', 'yes'),
      support: sees(403, 'shown', 'yes'),
      ops: sees(403, 'shown', 'yes'),
    });
  });

  it('on a draft: 404 to everyone but its creator, who is told to publish first; nobody gets a 500', async () => {
    const actual: Record<string, Record<string, number>> = {};
    for (const [who, auth] of Object.entries(callers())) {
      const get = (path: string) => (auth ? request(p.app).get(path).set(auth) : request(p.app).get(path));
      actual[who] = {
        post: (await post(draft.id, auth, anUpdate())).status,
        list: (await get(`/api/campaigns/${draft.id}/updates`)).status,
        one: (await get(`/api/campaigns/${draft.id}/updates/${randomUUID()}`)).status,
        unsubscribe: (await (auth ? request(p.app).delete(`/api/me/subscriptions/${draft.id}`).set(auth) : request(p.app).delete(`/api/me/subscriptions/${draft.id}`))).status,
      };
    }
    const hidden = { post: 404, list: 404, one: 404, unsubscribe: 404 };
    expect(actual).toEqual({
      anonymous: { post: 401, list: 404, one: 404, unsubscribe: 401 },
      other: hidden,
      formerBacker: hidden,
      backer: hidden,
      creator: { post: 409, list: 200, one: 404, unsubscribe: 200 },
      support: hidden,
      ops: hidden,
    });
    expect(await p.testDb.database.db.selectFrom('campaign_updates').select('id').where('campaign_id', '=', draft.id).execute()).toEqual([]);
  });

  it('refuses before reading the body or the key: unknown campaigns and updates are 404, a stranger’s bad request still 403', async () => {
    await post(randomUUID(), creator.auth, anUpdate()).expect(404);
    await request(p.app).get(`/api/campaigns/${randomUUID()}/updates`).expect(404);
    await request(p.app).get(`/api/campaigns/${live.id}/updates/${randomUUID()}`).expect(404);
    await request(p.app).get(`/api/campaigns/not-a-uuid/updates`).expect(400);
    await post(live.id, other.auth, { nonsense: true }, null).expect(403);
    const response = await post(live.id, creator.auth, anUpdate(), null).expect(400);
    expect(response.body.error.code).toBe('idempotency_key_required');
  });
});

describe('posting', () => {
  it.each([
    ['a missing title', { title: undefined }, 'title'],
    ['an empty body', { body: '   \n ' }, 'body'],
    ['a body over 20,000 characters', { body: 'x'.repeat(20_001) }, 'body'],
    ['a title over 200 characters', { title: 'x'.repeat(201) }, 'title'],
    ['a line break in the title (it becomes a mail subject)', { title: 'Hello\r\nBcc: everyone@example.com' }, 'title'],
    ['an unknown audience', { audience: 'followers' }, 'audience'],
    ['an unknown field', { pinned: true }, 'pinned'],
  ])('refuses %s with a 400 naming the field', async (_case, overrides, field) => {
    const response = await post(live.id, creator.auth, anUpdate(overrides)).expect(400);
    expect(response.body.error.fields.map((f: { path: string }) => f.path)).toContain(field);
  });

  it('stores the markdown as written (never rendered), numbers updates per campaign, and takes a 20,000-character body', async () => {
    const body = `# Title\n\n<b>not html</b> & *markdown*\n${'é'.repeat(19_950)}`;
    const first = (await post(live.id, creator.auth, anUpdate({ body, audience: 'public' })).expect(202)).body;
    expect(first.body).toBe(body);
    const read = await request(p.app).get(`/api/campaigns/${live.id}/updates/${first.id}`).expect(200);
    expect(read.body.body).toBe(body);
    // Posted at once: each gets its own number.
    const together = await Promise.all(Array.from({ length: 4 }, () => post(live.id, creator.auth, anUpdate())));
    const numbers = together.map((response) => response.body.number as number).sort((a, b) => a - b);
    expect(numbers).toEqual([first.number + 1, first.number + 2, first.number + 3, first.number + 4]);
  });

  it('a retried POST (same key) answers the same update and starts one send; the key reused for another body is a 422', async () => {
    const key = randomUUID();
    const body = anUpdate();
    const first = await post(live.id, creator.auth, body, key).expect(202);
    const again = await post(live.id, creator.auth, body, key).expect(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    // Past the API's 24-hour record of the key (purged): the update remembers the key itself.
    await p.testDb.database.db.deleteFrom('idempotency_keys').where('key', '=', key).execute();
    const later = await post(live.id, creator.auth, body, key).expect(202);
    expect(later.body.id).toBe(first.body.id);
    await post(live.id, creator.auth, anUpdate(), key).expect(422);
    const rows = await p.testDb.database.db.selectFrom('campaign_updates').select('id').where('title', '=', body.title).execute();
    expect(rows).toHaveLength(1);
    expect(first.body.delivery).toMatchObject({ status: 'sending', workflowId: campaignUpdateSendWorkflowId(first.body.id) });

    await sendAndDeliver(first.body.id);
    expect(mailsAbout(body.title).map((mail) => mail.to)).toEqual([backer.email]);
  });

  it('pages the list newest first with an opaque cursor, without gaps or repeats', async () => {
    const campaign = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10), status: 'active' });
    for (let i = 0; i < 5; i++) await post(campaign.id, creator.auth, anUpdate({ title: `Update ${i + 1}` })).expect(202);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response: request.Response = await request(p.app)
        .get(`/api/campaigns/${campaign.id}/updates`)
        .query({ limit: 2, ...(cursor ? { cursor } : {}) })
        .expect(200);
      seen.push(...(response.body.data as Array<{ title: string }>).map((update) => update.title));
      cursor = response.body.nextCursor as string | null;
    } while (cursor);
    expect(seen).toEqual(['Update 5', 'Update 4', 'Update 3', 'Update 2', 'Update 1']);
    await request(p.app).get(`/api/campaigns/${campaign.id}/updates`).query({ cursor: 'garbage' }).expect(400);
    await request(p.app).get(`/api/campaigns/${campaign.id}/updates`).query({ limit: 51 }).expect(400);
  });
});

describe('an update is never silently unsent', () => {
  it('a start that fails is answered 202 pending; the retried POST, or the next read of the updates, starts it and the backers are mailed', async () => {
    const down = { workflow: { start: () => Promise.reject(new Error('Temporal is unreachable')) } } as unknown as Client;
    const withoutTemporal = createApp({ config: p.config, database: p.testDb.database, logger: createLogger('silent'), campaignWorkflows: new CampaignWorkflows(down, p.config) });
    const postPending = async (key: string, body: object) => {
      const response = await request(withoutTemporal).post(`/api/campaigns/${live.id}/updates`).set(creator.auth).set('Idempotency-Key', key).send(body).expect(202);
      expect(response.body.delivery.status).toBe('pending');
      const handle = p.env.client.workflow.getHandle(campaignUpdateSendWorkflowId(response.body.id));
      await expect(handle.describe()).rejects.toThrow();
      return { id: response.body.id as string, handle };
    };
    const started = (handle: { describe(): Promise<unknown> }) => until(async () => (await handle.describe().catch(() => undefined)) !== undefined);

    // The creator's client retries the POST: the answer is the recorded one, and the send starts meanwhile.
    const key = randomUUID();
    const retriedBody = anUpdate();
    const retried = await postPending(key, retriedBody);
    const replayed = await post(live.id, creator.auth, retriedBody, key).expect(202);
    expect(replayed.body.id).toBe(retried.id);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    await started(retried.handle);

    // Anyone's read lists it: the API that can reach Temporal starts it (in the background).
    const readBody = anUpdate();
    const read = await postPending(randomUUID(), readBody);
    await request(p.app).get(`/api/campaigns/${live.id}/updates`).expect(200);
    await started(read.handle);

    for (const [update, body] of [[retried, retriedBody], [read, readBody]] as const) {
      await sendAndDeliver(update.id);
      expect(mailsAbout(body.title).map((mail) => mail.to)).toEqual([backer.email]);
      const row = await p.testDb.database.db.selectFrom('campaign_updates').selectAll().where('id', '=', update.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ send_status: 'sent', recipients_queued: 1, pages_queued: 1 });
    }
  });
});

describe('unsubscribing', () => {
  let first: { id: string };
  let second: { id: string };
  let fan: TestUser;
  let bystander: TestUser;

  beforeAll(async () => {
    first = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10), status: 'active' });
    second = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10), status: 'active' });
    [fan, bystander] = await Promise.all([createUser(p), createUser(p)]);
    for (const campaign of [first, second]) {
      await pledge(campaign.id, fan.id, 'captured');
      await pledge(campaign.id, bystander.id, 'authorized');
    }
  });

  async function postAndSend(campaignId: string) {
    const body = anUpdate();
    const response = await post(campaignId, creator.auth, body).expect(202);
    await sendAndDeliver(response.body.id);
    return mailsAbout(body.title);
  }

  it('the link in a mail stops that campaign’s update mails for that backer only; forged links are refused', async () => {
    const mails = await postAndSend(first.id);
    expect(mails.map((mail) => mail.to).sort()).toEqual([fan.email, bystander.email].sort());
    const fanMail = mails.find((mail) => mail.to === fan.email)!;
    expect(fanMail.text).toContain('# We shipped');
    expect(fanMail.text).toContain('(for backers only)');
    const link = /Stop mails about its updates: (\S+)/.exec(fanMail.text)?.[1];
    expect(link).toMatch(new RegExp(`^${p.config.http.publicUrl}/unsubscribe\\?token=`));
    const token = new URL(link!).searchParams.get('token')!;

    const forged = [
      // Signed with another secret.
      unsubscribeToken('someone else’s secret, long enough to be one', fan.id, first.id),
      // The fan's signature, moved to another campaign and to another user.
      token.replace(first.id, second.id),
      token.replace(fan.id, bystander.id),
      `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
      'garbage',
    ];
    for (const bad of forged) {
      const refused = await request(p.app).post('/api/unsubscribe').send({ token: bad }).expect(400);
      expect(refused.body.error).toMatchObject({ code: 'invalid_unsubscribe_token', fields: [{ path: 'token', message: expect.any(String) }] });
    }
    await request(p.app).post('/api/unsubscribe').send({ token, extra: 1 }).expect(400);
    // Anonymous, and idempotent.
    for (let i = 0; i < 2; i++) {
      const done = await request(p.app).post('/api/unsubscribe').send({ token }).expect(200);
      expect(done.body).toEqual({ campaignId: first.id, campaignTitle: expect.any(String), subscribed: false });
    }

    expect((await postAndSend(first.id)).map((mail) => mail.to)).toEqual([bystander.email]);
    expect((await postAndSend(second.id)).map((mail) => mail.to).sort()).toEqual([fan.email, bystander.email].sort());
    // Other mail about the campaign still reaches them: only update mails are stopped.
    await p.testDb.database.db
      .insertInto('notifications')
      .values({ recipient_id: fan.id, template: 'refund_issued', payload: JSON.stringify({ campaignTitle: 'X', amount: '1.00', currency: 'USD' }), dedupe_key: `test-${randomUUID()}` })
      .execute();
    await p.deliverMail();
    expect(p.mail.at(-1)).toMatchObject({ to: fan.email, subject: 'Refund for your pledge to X' });
  });

  it('signed in: DELETE stops and PUT resumes one campaign’s update mails, both idempotent', async () => {
    for (let i = 0; i < 2; i++) {
      const stopped = await request(p.app).delete(`/api/me/subscriptions/${second.id}`).set(bystander.auth).expect(200);
      expect(stopped.body).toEqual({ campaignId: second.id, subscribed: false });
    }
    expect((await postAndSend(second.id)).map((mail) => mail.to)).toEqual([fan.email]);
    for (let i = 0; i < 2; i++) {
      const resumed = await request(p.app).put(`/api/me/subscriptions/${second.id}`).set(bystander.auth).expect(200);
      expect(resumed.body).toEqual({ campaignId: second.id, subscribed: true });
    }
    expect((await postAndSend(second.id)).map((mail) => mail.to).sort()).toEqual([fan.email, bystander.email].sort());
    await request(p.app).delete(`/api/me/subscriptions/${second.id}`).expect(401);
    await request(p.app).put(`/api/me/subscriptions/${randomUUID()}`).set(bystander.auth).expect(404);
  });
});

describe('GET /api/openapi.json', () => {
  it('describes every update route with the schemas the validators use', async () => {
    const response = await request(p.app).get('/api/openapi.json').expect(200);
    const paths = response.body.paths as Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { required?: string[] } }> } }>>;
    expect(Object.keys(paths['/api/campaigns/{id}/updates']!).sort()).toEqual(['get', 'post']);
    expect(paths['/api/campaigns/{id}/updates']!.post!.requestBody!.content['application/json']!.schema.required).toEqual(['title', 'body', 'audience']);
    expect(paths).toHaveProperty(['/api/campaigns/{id}/updates/{updateId}', 'get']);
    expect(paths).toHaveProperty(['/api/unsubscribe', 'post']);
    expect(Object.keys(paths['/api/me/subscriptions/{campaignId}']!).sort()).toEqual(['delete', 'put']);
  });
});

async function until(done: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
