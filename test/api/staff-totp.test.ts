/**
 * TOTP second factors for staff (issue #17), through HTTP on real Postgres, the codes computed by otpauth as an
 * authenticator app would. Each defence is shown bounding its attack: a staff password alone opens no staff route
 * (nor a staff power on a shared route); a code is accepted once, even when sent five times at once; wrong codes
 * count against the sign-in limits like wrong passwords; the secret is shown once and stored encrypted; enrolment
 * and resets are audited, and a reset ends the staff member's sessions.
 */
import { randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import request from 'supertest';
import { ROUTES } from '../../src/api/openapi';
import { saveStaffUser } from '../../src/auth/staff';
import { decryptTotpSecret, encryptTotpSecret } from '../../src/auth/totp';
import { type CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';

let api: TestApi;
const cancelled: string[] = [];
beforeAll(async () => {
  const workflows = { cancel: async (campaignId: string) => void cancelled.push(campaignId) } as Partial<CampaignWorkflows> as CampaignWorkflows;
  api = await createTestApi({}, { campaignWorkflows: workflows });
});
afterAll(() => api.close());

const db = () => api.context.database.db;
const PASSWORD = 'staff password, long enough';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
let addresses = 0;
/** A client address of its own for each test's sign-ins, so the sign-in limits of one test do not reach another. */
const nextAddress = () => `198.51.100.${++addresses}`;

/** A staff account as `npm run user:create` makes it, signed in with its password only. */
async function staffMember(role: 'support' | 'ops') {
  const email = `${role}-${randomUUID()}@example.com`;
  const { id } = await saveStaffUser(db(), { email, role, password: PASSWORD });
  const login = await request(api.app).post('/api/auth/login').send({ email, password: PASSWORD }).expect(200);
  expect(login.body.secondFactor).toBe(false);
  return { id, email, auth: bearer(login.body.token as string) };
}

/** The code an authenticator app shows `steps` time steps (30 s each) from now. */
const codeOf = (secret: string, steps = 0) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30, timestamp: Date.now() + steps * 30_000 });

/** Enrols the staff member's authenticator through the API; its base32 secret. */
async function enrol(member: { auth: { Authorization: string } }): Promise<string> {
  const started = await request(api.app).post('/api/me/totp').set(member.auth).expect(201);
  await request(api.app).post('/api/me/totp/confirm').set(member.auth).send({ code: codeOf(started.body.secret as string) }).expect(200);
  return started.body.secret as string;
}

const signIn = (email: string, from: string, extra: Record<string, unknown> = {}) =>
  request(api.app).post('/api/auth/login').set('X-Forwarded-For', from).send({ email, password: PASSWORD, ...extra });

const auditOf = async (objectId: string) =>
  (await db().selectFrom('staff_audit_log').selectAll().where('object_id', '=', objectId).orderBy('id').execute()).map((entry) => [entry.action, entry.actor_id, entry.request_id]);

describe('a staff session without the second factor', () => {
  it('is refused by every staff route with 403 second_factor_required, before the body is read', async () => {
    const callers = { support: await staffMember('support'), ops: await staffMember('ops') };
    const staffRoutes = ROUTES.filter((route) => route.access === 'support' || route.access === 'ops');
    expect(staffRoutes.length).toBeGreaterThanOrEqual(10);
    const answers: Record<string, [number, string]> = {};
    for (const route of staffRoutes) {
      const path = route.path.replace(/\{\w+\}/g, randomUUID());
      const caller = callers[route.access as 'support' | 'ops'];
      const answer = await request(api.app)[route.method](path).set(caller.auth).set('Idempotency-Key', randomUUID()).send({ junk: true });
      answers[`${route.method} ${route.path}`] = [answer.status, answer.body.error?.code];
    }
    expect(new Set(Object.values(answers).map((answer) => answer.join(' ')))).toEqual(new Set(['403 second_factor_required']));
    // A plain user's routes stay open to it.
    await request(api.app).get('/api/me/pledges').set(callers.ops.auth).expect(200);
  });

  it('has no staff power on the shared routes either: ops cannot cancel or read the figures of someone else’s campaign', async () => {
    const ops = await staffMember('ops');
    const campaign = await campaignRow(api);
    const cancel = await request(api.app).post(`/api/campaigns/${campaign.id}/cancel`).set(ops.auth).send({ reason: 'looks fraudulent' }).expect(403);
    expect(cancel.body.error.code).toBe('forbidden');
    await request(api.app).get(`/api/campaigns/${campaign.id}/stats`).set(ops.auth).expect(403);
    expect(cancelled).not.toContain(campaign.id);
    expect(await auditOf(campaign.id)).toEqual([]);
  });
});

describe('enrolment', () => {
  it('gives the secret once, stores it encrypted, confirms with a code, opens this session, and is audited', async () => {
    const ops = await staffMember('ops');
    const first = await request(api.app).post('/api/me/totp').set(ops.auth).expect(201);
    expect(first.body).toEqual({ secret: expect.stringMatching(/^[A-Z2-7]{32}$/), uri: expect.any(String), algorithm: 'SHA1', digits: 6, period: 30 });
    const uri = new URL(first.body.uri as string);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(first.body.secret);
    expect(decodeURIComponent(uri.pathname)).toContain(ops.email);
    const stored = await db().selectFrom('totp_factors').selectAll().where('user_id', '=', ops.id).executeTakeFirstOrThrow();
    expect(stored.secret_ciphertext).not.toContain(first.body.secret);
    expect(stored.confirmed_at).toBeNull();

    // Started again before it was confirmed: a new secret, and the first one's codes no longer confirm.
    const second = await request(api.app).post('/api/me/totp').set(ops.auth).expect(201);
    expect(second.body.secret).not.toBe(first.body.secret);
    expect((await request(api.app).post('/api/me/totp/confirm').set(ops.auth).send({ code: codeOf(first.body.secret as string) }).expect(400)).body.error.code).toBe('invalid_totp');
    await request(api.app).get('/api/ops/audit').set(ops.auth).expect(403);

    await request(api.app).post('/api/me/totp/confirm').set(ops.auth).set('X-Request-Id', 'enrol-1').send({ code: codeOf(second.body.secret as string) }).expect(200, { enrolled: true, secondFactor: true });
    await request(api.app).get('/api/ops/audit').set(ops.auth).expect(200);
    expect(await auditOf(ops.id)).toEqual([['totp.enrolled', ops.id, 'enrol-1']]);

    // Never shown or replaced again without ops.
    const again = await request(api.app).post('/api/me/totp').set(ops.auth).expect(409);
    expect(again.body).toEqual({ error: { code: 'totp_already_enrolled', message: expect.any(String) } });
    expect((await request(api.app).post('/api/me/totp/confirm').set(ops.auth).send({ code: codeOf(second.body.secret as string, 1) }).expect(409)).body.error.code).toBe('totp_already_enrolled');
  });

  it('is for staff: a plain user is refused before the body is read', async () => {
    const member = await tokenUser(api, 'Member');
    expect((await request(api.app).post('/api/me/totp').set(member.auth).expect(403)).body.error.code).toBe('forbidden');
    await request(api.app).post('/api/me/totp/confirm').set(member.auth).send({ code: 'nope' }).expect(403);
    await request(api.app).post('/api/me/totp').expect(401);
  });
});

describe('signing in with a second factor', () => {
  it('needs a current code, used once: none, an old one and a replayed one are refused', async () => {
    const support = await staffMember('support');
    const secret = await enrol(support);
    const from = nextAddress();
    expect((await signIn(support.email, from).expect(401)).body.error.code).toBe('totp_required');
    expect((await signIn(support.email, from, { password: 'wrong password', totp: codeOf(secret, 1) }).expect(401)).body.error.code).toBe('invalid_credentials');
    // The code that confirmed the enrolment was used; so was anything older.
    expect((await signIn(support.email, from, { totp: codeOf(secret) }).expect(401)).body.error.code).toBe('invalid_totp');
    expect((await signIn(support.email, from, { totp: codeOf(secret, -2) }).expect(401)).body.error.code).toBe('invalid_totp');

    // A phone 30 s ahead shows the next step's code: accepted (±1 step), once.
    const next = codeOf(secret, 1);
    const signedIn = await signIn(support.email, nextAddress(), { totp: next }).expect(200);
    expect(signedIn.body.secondFactor).toBe(true);
    await request(api.app).get('/api/support/disputes').set(bearer(signedIn.body.token as string)).expect(200);
    expect((await signIn(support.email, nextAddress(), { totp: next }).expect(401)).body.error.code).toBe('invalid_totp');
  });

  it('accepts one code once when it is sent five times at once', async () => {
    const ops = await staffMember('ops');
    const secret = await enrol(ops);
    const code = codeOf(secret, 1);
    const from = nextAddress();
    const answers = await Promise.all(Array.from({ length: 5 }, () => signIn(ops.email, from, { totp: code })));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401, 401, 401, 401]);
  });

  it('counts wrong codes as failed sign-ins: after 5 from one address even the right code waits, elsewhere it works', async () => {
    const ops = await staffMember('ops');
    const secret = await enrol(ops);
    const from = nextAddress();
    const wrong = String((Number(codeOf(secret, 1)) + 1) % 1_000_000).padStart(6, '0');
    for (let attempt = 0; attempt < 5; attempt++) await signIn(ops.email, from, { totp: wrong }).expect(401);
    const limited = await signIn(ops.email, from, { totp: codeOf(secret, 1) }).expect(429);
    expect(limited.body.error.code).toBe('too_many_attempts');
    await signIn(ops.email, nextAddress(), { totp: codeOf(secret, 1) }).expect(200);
  });
});

describe('ops reset a lost device', () => {
  it('removes the factor, ends the member’s sessions, and is audited; the member signs in with the password and enrols again', async () => {
    const ops = await tokenUser(api, 'Ops with a second factor');
    await db().updateTable('users').set({ role: 'ops' }).where('id', '=', ops.id).execute();
    const support = await staffMember('support');
    await enrol(support);
    await request(api.app).get('/api/support/disputes').set(support.auth).expect(200);

    const reset = await request(api.app).delete(`/api/ops/users/${support.id}/totp`).set(ops.auth).set('X-Request-Id', 'reset-1').expect(200);
    expect(reset.body).toEqual({ userId: support.id, reset: true });
    await request(api.app).get('/api/support/disputes').set(support.auth).expect(401);
    expect(await auditOf(support.id)).toEqual([
      ['totp.enrolled', support.id, expect.any(String)],
      ['totp.reset', ops.id, 'reset-1'],
    ]);
    const login = await signIn(support.email, nextAddress()).expect(200);
    expect(login.body.secondFactor).toBe(false);
    await enrol({ auth: bearer(login.body.token as string) });

    // Nothing to reset: nothing changes and nothing is audited.
    await request(api.app).delete(`/api/ops/users/${ops.id}/totp`).set(ops.auth).expect(200, { userId: ops.id, reset: false });
    expect(await auditOf(ops.id)).toEqual([]);
    await request(api.app).delete(`/api/ops/users/${randomUUID()}/totp`).set(ops.auth).expect(404);
    await request(api.app).delete('/api/ops/users/not-a-uuid/totp').set(ops.auth).expect(400);
  });
});

describe('who may call the second-factor endpoints', () => {
  it('anonymous 401; a user 403; staff enrol; only ops past the second factor reset; nobody gets a 500', async () => {
    const ops = await tokenUser(api, 'Ops');
    await db().updateTable('users').set({ role: 'ops' }).where('id', '=', ops.id).execute();
    const callers: Record<string, { Authorization: string } | undefined> = {
      anonymous: undefined,
      user: (await tokenUser(api, 'User')).auth,
      support: (await staffMember('support')).auth,
      'ops, password only': (await staffMember('ops')).auth,
      ops: ops.auth,
    };
    const endpoints: Record<string, (r: ReturnType<typeof request>) => request.Test> = {
      'POST /api/me/totp': (r) => r.post('/api/me/totp'),
      'POST /api/me/totp/confirm': (r) => r.post('/api/me/totp/confirm').send({ code: 'x', extra: 1 }),
      'DELETE /api/ops/users/{id}/totp': (r) => r.delete(`/api/ops/users/${randomUUID()}/totp`),
    };
    const actual: Record<string, Record<string, number>> = {};
    for (const [name, call] of Object.entries(endpoints)) {
      actual[name] = {};
      for (const [who, auth] of Object.entries(callers)) {
        const test = call(request(api.app));
        actual[name]![who] = (await (auth ? test.set(auth) : test)).status;
      }
    }
    expect(actual).toEqual({
      'POST /api/me/totp': { anonymous: 401, user: 403, support: 201, 'ops, password only': 201, ops: 201 },
      'POST /api/me/totp/confirm': { anonymous: 401, user: 403, support: 400, 'ops, password only': 400, ops: 400 },
      'DELETE /api/ops/users/{id}/totp': { anonymous: 401, user: 403, support: 403, 'ops, password only': 403, ops: 404 },
    });
  });
});

describe('the secret at rest', () => {
  it('decrypts only for its own account and under the same AUTH_SECRET', () => {
    const secret = new Secret({ size: 20 }).base32;
    const [alice, bob] = [randomUUID(), randomUUID()];
    const key = 'a'.repeat(40);
    const stored = encryptTotpSecret(key, alice, secret);
    expect(stored).not.toContain(secret);
    expect(decryptTotpSecret(key, alice, stored).base32).toBe(secret);
    expect(() => decryptTotpSecret(key, bob, stored)).toThrow();
    expect(() => decryptTotpSecret('b'.repeat(40), alice, stored)).toThrow();
    expect(encryptTotpSecret(key, alice, secret)).not.toBe(stored);
  });
});
