/**
 * Staff accountability and the platform's commission (issue #17): every staff action is in the append-only audit
 * log with its actor, object and request id, and can be found through GET /api/ops/audit; ops grant and revoke roles
 * (never the last ops); the commission is the platform's (PLATFORM_FEE_BPS), overridden per campaign by ops only and
 * only before settlement. The campaign workflow is stood in for by a recorder that accepts every signal.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { CLI_ACTOR } from '../../src/audit/staff-audit';
import { setUserRole } from '../../src/auth/staff-roles';
import { type CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';

const DAY = 86_400_000;
let api: TestApi;
const signals: string[] = [];
type Caller = { id: string; auth: { Authorization: string } };
let ops: Caller;
let support: Caller;
let member: Caller;

async function staff(role: 'support' | 'ops'): Promise<Caller> {
  const caller = await tokenUser(api, `Staff ${role}`);
  await db().updateTable('users').set({ role }).where('id', '=', caller.id).execute();
  return caller;
}

beforeAll(async () => {
  const workflows = {
    cancel: async (campaignId: string) => void signals.push(`cancel ${campaignId}`),
    refund: async (_campaignId: string, refundId: string) => void signals.push(`refund ${refundId}`),
    retrySettlement: async (campaignId: string) => void signals.push(`retry ${campaignId}`),
  } as Partial<CampaignWorkflows> as CampaignWorkflows;
  api = await createTestApi({ PLATFORM_FEE_BPS: '650' }, { campaignWorkflows: workflows });
  ops = await staff('ops');
  support = await staff('support');
  member = await tokenUser(api, 'Member');
});
afterAll(() => api.close());

const db = () => api.context.database.db;
const fieldsOf = (response: request.Response) => (response.body as { error: { fields: { path: string }[] } }).error.fields.map((field) => field.path);

interface AuditEntryView {
  id: string;
  occurredAt: string;
  actor: { id: string | null; role: string | null; label: string };
  action: string;
  object: { type: string; id: string };
  details: Record<string, unknown>;
  requestId: string | null;
}

async function auditOf(query: Record<string, string>): Promise<AuditEntryView[]> {
  const response = await request(api.app).get('/api/ops/audit').query(query).set(ops.auth).expect(200);
  return (response.body as { data: AuditEntryView[] }).data;
}

/** A captured pledge on a funded campaign, written as settlement leaves it. */
async function capturedPledge(amount = 10_000) {
  const campaign = await campaignRow(api, { status: 'funded' });
  const backer = await tokenUser(api, 'Backer');
  return db()
    .insertInto('pledges')
    .values({ campaign_id: campaign.id, backer_id: backer.id, amount, currency: 'USD', status: 'captured', amount_captured: amount, captured_at: new Date() })
    .returning(['id', 'campaign_id'])
    .executeTakeFirstOrThrow();
}

describe('the request id', () => {
  it('is generated for every answer, kept when the caller sends a sane one, and replaced when not', async () => {
    const generated = await request(api.app).get('/health/live').expect(200);
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const kept = await request(api.app).get('/api/nowhere').set('X-Request-Id', 'edge-42:abc.DEF_1').expect(404);
    expect(kept.headers['x-request-id']).toBe('edge-42:abc.DEF_1');
    for (const insane of ['two words', 'x'.repeat(129), 'semi;colon', '<script>']) {
      const replaced = await request(api.app).get('/health/live').set('X-Request-Id', insane).expect(200);
      expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const refused = await request(api.app).get('/api/ops/audit').expect(401);
    expect(refused.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('who may call the new endpoints', () => {
  const endpoints = () => [
    { name: 'GET /api/ops/audit', send: (r: request.Agent | ReturnType<typeof request>) => r.get('/api/ops/audit') },
    { name: 'PUT /api/ops/users/{id}/role', send: (r: ReturnType<typeof request>) => r.put(`/api/ops/users/${member.id}/role`).send({ role: 'nonsense', extra: 1 }) },
    { name: 'PUT /api/ops/campaigns/{id}/commission', send: (r: ReturnType<typeof request>) => r.put(`/api/ops/campaigns/${randomUUID()}/commission`).send({ platformFeeBps: 'lots' }) },
    { name: 'DELETE /api/ops/users/{id}/totp', send: (r: ReturnType<typeof request>) => r.delete(`/api/ops/users/${support.id}/totp`) },
  ];

  it('anonymous is 401, a user or support is 403, before the body is read', async () => {
    for (const endpoint of endpoints()) {
      expect([endpoint.name, (await endpoint.send(request(api.app))).status]).toEqual([endpoint.name, 401]);
      for (const caller of [member, support]) {
        const answer = await endpoint.send(request(api.app)).set(caller.auth);
        expect([endpoint.name, answer.status, answer.body.error.code]).toEqual([endpoint.name, 403, 'forbidden']);
      }
    }
    // Nothing was changed by the refused calls.
    expect((await db().selectFrom('users').select('role').where('id', '=', member.id).executeTakeFirstOrThrow()).role).toBe('user');
  });

  it('ops get a 400 naming each wrong field, and a 404 for an unknown id', async () => {
    const role = await request(api.app).put(`/api/ops/users/${member.id}/role`).set(ops.auth).send({ role: 'admin', extra: 1 }).expect(400);
    expect(new Set(fieldsOf(role))).toEqual(new Set(['role', 'extra']));
    const commission = await request(api.app).put(`/api/ops/campaigns/${randomUUID()}/commission`).set(ops.auth).send({ platformFeeBps: 900 }).expect(400);
    expect(fieldsOf(commission)).toEqual(['platformFeeBps']);
    const audit = await request(api.app).get('/api/ops/audit').query({ actorId: 'me', since: '2026-13-01T00:00:00Z', limit: '0', action: 'deleted' }).set(ops.auth).expect(400);
    expect(new Set(fieldsOf(audit))).toEqual(new Set(['actorId', 'since', 'limit', 'action']));
    const cursor = await request(api.app).get('/api/ops/audit').query({ cursor: 'not-ours' }).set(ops.auth).expect(400);
    expect(fieldsOf(cursor)).toEqual(['cursor']);

    await request(api.app).put(`/api/ops/users/${randomUUID()}/role`).set(ops.auth).send({ role: 'support' }).expect(404);
    await request(api.app).put(`/api/ops/campaigns/${randomUUID()}/commission`).set(ops.auth).send({ platformFeeBps: 700 }).expect(404);
    await request(api.app).put('/api/ops/users/not-a-uuid/role').set(ops.auth).send({ role: 'support' }).expect(400);
    await request(api.app).delete(`/api/ops/users/${randomUUID()}/totp`).set(ops.auth).expect(404);
    await request(api.app).delete('/api/ops/users/not-a-uuid/totp').set(ops.auth).expect(400);
  });
});

describe('each staff action is audited, with its actor, object and request id', () => {
  it('a refund requested by support, in the transaction of its refund row (a replay adds nothing)', async () => {
    const pledge = await capturedPledge();
    const key = randomUUID();
    const send = () =>
      request(api.app).post(`/api/support/pledges/${pledge.id}/refunds`).set(support.auth).set('Idempotency-Key', key).set('X-Request-Id', `refund-${key}`).send({ amount: '25.00', reason: 'item damaged' });
    const refund = await send().expect(202);
    await send().expect(202);
    const entries = await auditOf({ objectType: 'pledge', objectId: pledge.id });
    expect(entries).toEqual([
      expect.objectContaining({
        actor: { id: support.id, role: 'support', label: expect.stringContaining('@') },
        action: 'refund.requested',
        object: { type: 'pledge', id: pledge.id },
        requestId: `refund-${key}`,
        details: { refundId: refund.body.refundId, campaignId: pledge.campaign_id, amount: 2_500, currency: 'USD', reason: 'item damaged' },
      }),
    ]);
  });

  it('a settlement retried by ops', async () => {
    const campaign = await campaignRow(api, { status: 'funded' });
    await request(api.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(ops.auth).set('X-Request-Id', 'retry-1').expect(202);
    expect(signals).toContain(`retry ${campaign.id}`);
    expect(await auditOf({ action: 'settlement.retried', objectId: campaign.id })).toEqual([
      expect.objectContaining({ actor: expect.objectContaining({ id: ops.id, role: 'ops' }), object: { type: 'campaign', id: campaign.id }, requestId: 'retry-1' }),
    ]);
  });

  it('a campaign cancelled by ops, and not its creator cancelling their own', async () => {
    const byOps = await campaignRow(api);
    await request(api.app).post(`/api/campaigns/${byOps.id}/cancel`).set(ops.auth).set('X-Request-Id', 'cancel-ops').send({ reason: 'fraudulent listing' }).expect(202);
    expect(await auditOf({ action: 'campaign.cancelled', objectId: byOps.id })).toEqual([
      expect.objectContaining({
        actor: expect.objectContaining({ id: ops.id, role: 'ops' }),
        requestId: 'cancel-ops',
        details: { reason: 'fraudulent listing', status: 'active', creatorId: byOps.creator_id },
      }),
    ]);
    const creator = await tokenUser(api, 'Creator');
    const own = await campaignRow(api, { creatorId: creator.id });
    await request(api.app).post(`/api/campaigns/${own.id}/cancel`).set(creator.auth).send({ reason: 'changed my mind' }).expect(202);
    expect(signals).toContain(`cancel ${own.id}`);
    expect(await auditOf({ objectId: own.id })).toEqual([]);
  });

  it('a role granted and revoked by ops, and by the command line (actor `cli`)', async () => {
    const person = await tokenUser(api, 'Future support');
    const granted = await request(api.app).put(`/api/ops/users/${person.id}/role`).set(ops.auth).set('X-Request-Id', 'grant-1').send({ role: 'support' }).expect(200);
    expect(granted.body).toEqual({ userId: person.id, role: 'support', previousRole: 'user', changed: true });
    // The new role holds at once, on the token they already have.
    await request(api.app).get('/api/support/disputes').set(person.auth).expect(200);
    const again = await request(api.app).put(`/api/ops/users/${person.id}/role`).set(ops.auth).send({ role: 'support' }).expect(200);
    expect(again.body.changed).toBe(false);
    await request(api.app).put(`/api/ops/users/${person.id}/role`).set(ops.auth).set('X-Request-Id', 'revoke-1').send({ role: 'user' }).expect(200);
    await request(api.app).get('/api/support/disputes').set(person.auth).expect(403);
    const email = (await db().selectFrom('users').select('email').where('id', '=', person.id).executeTakeFirstOrThrow()).email;
    await setUserRole(api.context.database, { email: email.toUpperCase() }, 'ops', { actor: CLI_ACTOR, requestId: null });

    const entries = await auditOf({ objectType: 'user', objectId: person.id });
    expect(entries.map((entry) => [entry.action, entry.actor.id, entry.actor.label, entry.details.from, entry.details.to, entry.requestId])).toEqual([
      ['role.granted', null, 'cli', 'user', 'ops', null],
      ['role.revoked', ops.id, expect.stringContaining('@'), 'support', 'user', 'revoke-1'],
      ['role.granted', ops.id, expect.stringContaining('@'), 'user', 'support', 'grant-1'],
    ]);
  });

  it('a commission overridden by ops, with the old and new rates', async () => {
    const campaign = await campaignRow(api);
    await request(api.app).put(`/api/ops/campaigns/${campaign.id}/commission`).set(ops.auth).set('X-Request-Id', 'fee-1').send({ platformFeeBps: 750 }).expect(200);
    expect(await auditOf({ action: 'commission.overridden', objectId: campaign.id })).toEqual([
      expect.objectContaining({ actor: expect.objectContaining({ id: ops.id, role: 'ops' }), object: { type: 'campaign', id: campaign.id }, requestId: 'fee-1', details: { from: 600, to: 750, status: 'active' } }),
    ]);
  });
});

describe('the audit log', () => {
  it('refuses UPDATE, DELETE and TRUNCATE', async () => {
    const campaign = await campaignRow(api, { status: 'funded' });
    await request(api.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(ops.auth).expect(202);
    const [entry] = await auditOf({ objectId: campaign.id });
    const id = Number(entry!.id);
    await expect(db().updateTable('staff_audit_log').set({ actor_label: 'someone else' }).where('id', '=', id).execute()).rejects.toThrow(/append-only/);
    await expect(db().deleteFrom('staff_audit_log').where('id', '=', id).execute()).rejects.toThrow(/append-only/);
    await expect(api.context.database.pool.query('truncate staff_audit_log')).rejects.toThrow(/append-only/);
    expect(await auditOf({ objectId: campaign.id })).toEqual([expect.objectContaining({ id: entry!.id, actor: expect.objectContaining({ label: entry!.actor.label }) })]);
  });

  it('filters by actor and time, and pages newest first without gaps or repeats', async () => {
    const pager = await staff('ops');
    const before = new Date(Date.now() - 1_000).toISOString();
    const campaigns = [];
    for (let i = 0; i < 5; i++) {
      const campaign = await campaignRow(api, { status: 'funded' });
      campaigns.push(campaign.id);
      await request(api.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(pager.auth).expect(202);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: request.Response = await request(api.app)
        .get('/api/ops/audit')
        .query({ actorId: pager.id, since: before, limit: '2', ...(cursor ? { cursor } : {}) })
        .set(ops.auth)
        .expect(200);
      seen.push(...(page.body.data as AuditEntryView[]).map((entry) => entry.object.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...campaigns].reverse());
    expect(await auditOf({ actorId: pager.id, until: before })).toEqual([]);
  });
});

describe('the last ops account', () => {
  it('cannot demote itself; with another ops it can; two ops demoting each other at once leave one', async () => {
    // A world of its own: only these ops exist.
    await db().updateTable('users').set({ role: 'support' }).where('role', '=', 'ops').where('id', '<>', ops.id).execute();
    const alone = await request(api.app).put(`/api/ops/users/${ops.id}/role`).set(ops.auth).send({ role: 'support' }).expect(409);
    expect(alone.body.error.code).toBe('last_ops');
    await expect(setUserRole(api.context.database, { id: ops.id }, 'user', { actor: CLI_ACTOR, requestId: null })).rejects.toMatchObject({ code: 'last_ops' });

    const other = await staff('ops');
    const [a, b] = await Promise.all([
      request(api.app).put(`/api/ops/users/${other.id}/role`).set(ops.auth).send({ role: 'support' }),
      request(api.app).put(`/api/ops/users/${ops.id}/role`).set(other.auth).send({ role: 'support' }),
    ]);
    // The loser is refused by the last-ops check, or, when the winner committed first, no longer is ops at all.
    expect([a.status, b.status].filter((status) => status === 200)).toHaveLength(1);
    expect([403, 409]).toContain([a.status, b.status].find((status) => status !== 200));
    expect(await db().selectFrom('users').select('id').where('role', '=', 'ops').execute()).toHaveLength(1);
    // Whoever is left restores the other, so later tests keep their ops.
    const left = a.status === 200 ? ops : other;
    const demoted = left === ops ? other : ops;
    await request(api.app).put(`/api/ops/users/${demoted.id}/role`).set(left.auth).send({ role: 'ops' }).expect(200);
  });
});

describe('the commission', () => {
  const draft = (overrides: Record<string, unknown> = {}) => ({
    title: 'A Better Desk Lamp',
    goalAmount: '1500.00',
    currency: 'USD',
    model: 'aon',
    startsAt: new Date(Date.now() + DAY).toISOString(),
    endsAt: new Date(Date.now() + 31 * DAY).toISOString(),
    ...overrides,
  });

  it('is the platform\'s: a new campaign takes PLATFORM_FEE_BPS, and a creator naming one is refused with 400', async () => {
    const created = await request(api.app).post('/api/campaigns').set(member.auth).send(draft()).expect(201);
    expect(created.body.platformFeeBps).toBe(650);
    for (const platformFeeBps of [500, 650, 800]) {
      const refused = await request(api.app).post('/api/campaigns').set(member.auth).send(draft({ platformFeeBps })).expect(400);
      expect(fieldsOf(refused)).toEqual(['platformFeeBps']);
      const patched = await request(api.app).patch(`/api/campaigns/${created.body.id}`).set(member.auth).send({ title: 'A Better Desk Lamp II', platformFeeBps }).expect(400);
      expect(fieldsOf(patched)).toEqual(['platformFeeBps']);
    }
    expect((await db().selectFrom('campaigns').select('platform_fee_bps').where('id', '=', created.body.id).executeTakeFirstOrThrow()).platform_fee_bps).toBe(650);
  });

  it('is overridden by ops within 500-800 until settlement starts, and the campaign shows it', async () => {
    const created = await request(api.app).post('/api/campaigns').set(member.auth).send(draft()).expect(201);
    const changed = await request(api.app).put(`/api/ops/campaigns/${created.body.id}/commission`).set(ops.auth).send({ platformFeeBps: 500 }).expect(200);
    expect(changed.body).toEqual({ campaignId: created.body.id, platformFeeBps: 500, previousPlatformFeeBps: 650 });
    const shown = await request(api.app).get(`/api/campaigns/${created.body.id}`).set(member.auth).expect(200);
    expect(shown.body.platformFeeBps).toBe(500);
    for (const platformFeeBps of [499, 801, 650.5]) {
      const refused = await request(api.app).put(`/api/ops/campaigns/${created.body.id}/commission`).set(ops.auth).send({ platformFeeBps }).expect(400);
      expect(fieldsOf(refused)).toEqual(['platformFeeBps']);
    }

    for (const status of ['settling', 'funded', 'failed', 'cancelled'] as const) {
      const settled = await campaignRow(api, { status });
      const refused = await request(api.app).put(`/api/ops/campaigns/${settled.id}/commission`).set(ops.auth).send({ platformFeeBps: 700 }).expect(409);
      expect(refused.body.error.code).toBe('commission_locked');
      expect((await db().selectFrom('campaigns').select('platform_fee_bps').where('id', '=', settled.id).executeTakeFirstOrThrow()).platform_fee_bps).toBe(600);
    }
    // Past its deadline, an active campaign is about to settle: too late as well.
    const due = await campaignRow(api, { endsInMs: -1_000 });
    await request(api.app).put(`/api/ops/campaigns/${due.id}/commission`).set(ops.auth).send({ platformFeeBps: 700 }).expect(409);
    expect(await auditOf({ action: 'commission.overridden', objectId: due.id })).toEqual([]);
  });
});
