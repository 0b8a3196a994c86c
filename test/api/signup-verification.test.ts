/**
 * Sign-up without email enumeration, and email verification before pledging or publishing (issue #17), through
 * HTTP on real Postgres. Each defence is shown bounding its attack: sign-up answers the same (status, body, and
 * time to within the cost of its password hash) whether or not the address is taken; a squatter who signs up first
 * with someone's address cannot lock its owner out nor ever get the account verified; a link is single-use (even
 * sent five times at once), expires, is revoked by a newer one, and works only for its own signed-in account; the
 * mail a stranger can cause to be sent to an address is bounded; unverified accounts get 403 where money moves.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { VERIFICATION_EMAILS_PER_WINDOW } from '../../src/auth/email-verification';
import { renderNotification } from '../../src/notifications/templates';
import { createTestApi, mailedVerificationToken, signUp, type TestApi } from '../helpers/api';

let api: TestApi;
beforeAll(async () => {
  // The per-address sign-up throttle has its own test (card-testing.test.ts): here every sign-up comes from one address.
  api = await createTestApi({ SIGNUPS_PER_IP: '1000' });
});
afterAll(() => api.close());

const db = () => api.context.database.db;
const newEmail = () => `${randomUUID()}@example.com`;
const signup = (email: string, password = 'first password here', name = 'Someone') => request(api.app).post('/api/auth/signup').send({ email, password, name });
const login = (email: string, password: string) => request(api.app).post('/api/auth/login').send({ email, password });
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const verify = (auth: { Authorization: string } | undefined, token: unknown) => {
  const call = request(api.app).post('/api/auth/verify-email');
  return (auth ? call.set(auth) : call).send({ token });
};
const userByEmail = (email: string) => db().selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
const mailsTo = (userId: string, template: string) => db().selectFrom('notifications').select(['payload', 'dedupe_key']).where('recipient_id', '=', userId).where('template', '=', template).orderBy('id').execute();
const tokenOf = (mail: { payload: unknown }) => new URL((mail.payload as { verifyUrl: string }).verifyUrl).searchParams.get('token')!;

/** An unverified account, signed in. */
async function unverified(password = 'first password here', email = newEmail()) {
  await signup(email, password).expect(202);
  const session = await login(email, password).expect(200);
  return { email, password, id: session.body.user.id as string, auth: bearer(session.body.token as string) };
}

describe('sign-up tells nobody whether an address has an account', () => {
  it('answers a taken address with the same status and body, after the same password hash, and mails its owner instead', async () => {
    const owner = await signUp(api);
    const taken = [] as request.Response[];
    const fresh = [] as request.Response[];
    const durations = { taken: [] as number[], fresh: [] as number[] };
    for (let round = 0; round < 3; round++) {
      for (const [kind, email] of [['taken', owner.email.toUpperCase()], ['fresh', newEmail()]] as const) {
        const started = performance.now();
        const answer = await signup(email, `password number ${round}`);
        durations[kind].push(performance.now() - started);
        (kind === 'taken' ? taken : fresh).push(answer);
      }
    }
    for (const answer of [...taken, ...fresh]) {
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual(fresh[0]!.body);
    }
    // Both pay the 32 MiB scrypt hash: without it a taken address would answer some hundred times faster.
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[1]!;
    expect(median(durations.taken) / median(durations.fresh)).toBeGreaterThan(1 / 3);
    expect(median(durations.taken) / median(durations.fresh)).toBeLessThan(3);

    // The owner hears of it once a day at most, and nothing else changed: their password and session still work.
    expect(await mailsTo(owner.id, 'signup_existing_account')).toHaveLength(1);
    await login(owner.email, 'correct horse battery').expect(200);
    await request(api.app).get('/api/me/pledges').set(owner.auth).expect(200);
    for (let round = 0; round < 3; round++) await login(owner.email, `password number ${round}`).expect(401);
    const notice = renderNotification('signup_existing_account', {});
    expect(notice.text).toMatch(/already has one/);
  });

  it('makes the account of a new address unverified and mails it a link to /verify-email under PUBLIC_URL', async () => {
    const email = newEmail();
    await signup(email).expect(202);
    const user = await userByEmail(email);
    expect(user.email_verified_at).toBeNull();
    const [mail] = await mailsTo(user.id, 'email_verification');
    const link = new URL((mail!.payload as { verifyUrl: string }).verifyUrl);
    expect(`${link.origin}${link.pathname}`).toBe(`${api.context.config.http.publicUrl}/verify-email`);
    expect(link.searchParams.get('token')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Only an HMAC of the token is stored.
    const stored = await db().selectFrom('email_verifications').select('token_hash').where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(stored.token_hash).not.toContain(link.searchParams.get('token'));
    const rendered = renderNotification('email_verification', mail!.payload as Record<string, unknown>);
    expect(rendered.text).toContain(link.toString());
  });
});

describe('an account squatted on someone else’s address cannot lock its owner out', () => {
  it('the owner’s sign-up takes it over; the squatter’s sessions, password and links die; only the owner can verify it', async () => {
    const victim = newEmail();
    const squatter = await unverified('squatter password', victim);
    await request(api.app).post('/api/me/verification-email').set(squatter.auth).expect(202);
    const squatterLinks = (await mailsTo(squatter.id, 'email_verification')).map(tokenOf);
    await request(api.app).get('/api/me/pledges').set(squatter.auth).expect(200);

    const answer = await signup(victim, 'owner password here', 'Owner').expect(202);
    expect(answer.body.status).toBe('verification_sent');
    await request(api.app).get('/api/me/pledges').set(squatter.auth).expect(401);
    await login(victim, 'squatter password').expect(401);
    const owner = bearer((await login(victim, 'owner password here').expect(200)).body.token as string);
    expect((await userByEmail(victim)).name).toBe('Owner');

    // The links mailed before the take-over are dead; the latest one verifies, with the owner's session only.
    for (const token of squatterLinks) expect((await verify(owner, token).expect(400)).body.error.code).toBe('verification_revoked');
    const latest = await mailedVerificationToken(api, squatter.id);
    await verify(undefined, latest).expect(401);
    const bystander = await unverified();
    expect((await verify(bystander.auth, latest).expect(400)).body.error.code).toBe('verification_invalid');
    await verify(owner, latest).expect(200);
    expect((await userByEmail(victim)).email_verified_at).not.toBeNull();

    // Verified, the account is never taken over again: a new sign-up only tells the owner.
    await signup(victim, 'squatter tries again').expect(202);
    await login(victim, 'squatter tries again').expect(401);
    await request(api.app).get('/api/me/pledges').set(owner).expect(200);
    expect(await mailsTo(squatter.id, 'signup_existing_account')).toHaveLength(1);
  });

  it('sign-ups that would mail an unverified account past its limit change nothing, so it cannot be flooded or churned', async () => {
    const email = newEmail();
    for (let n = 1; n <= VERIFICATION_EMAILS_PER_WINDOW + 2; n++) await signup(email, `password attempt ${n}`).expect(202);
    const user = await userByEmail(email);
    expect(await mailsTo(user.id, 'email_verification')).toHaveLength(VERIFICATION_EMAILS_PER_WINDOW);
    await login(email, `password attempt ${VERIFICATION_EMAILS_PER_WINDOW}`).expect(200);
    await login(email, `password attempt ${VERIFICATION_EMAILS_PER_WINDOW + 2}`).expect(401);
  });
});

describe('POST /api/auth/verify-email', () => {
  it('uses a link once, even when it is sent five times at once', async () => {
    const user = await unverified();
    const token = await mailedVerificationToken(api, user.id);
    const answers = await Promise.all(Array.from({ length: 5 }, () => verify(user.auth, token)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400, 400, 400, 400]);
    expect(answers.find((answer) => answer.status === 200)!.body).toEqual({ emailVerified: true, verifiedAt: expect.any(String) });
    for (const refused of answers.filter((answer) => answer.status === 400)) expect(refused.body.error.code).toBe('verification_used');
    expect((await verify(user.auth, token).expect(400)).body.error).toMatchObject({ code: 'verification_used', fields: [{ path: 'token', message: expect.any(String) }] });
  });

  it('refuses an expired link, and a new one asked for works', async () => {
    const user = await unverified();
    const expired = await mailedVerificationToken(api, user.id);
    await db().updateTable('email_verifications').set({ expires_at: new Date(Date.now() - 1_000) }).where('user_id', '=', user.id).execute();
    expect((await verify(user.auth, expired).expect(400)).body.error.code).toBe('verification_expired');
    expect((await userByEmail(user.email)).email_verified_at).toBeNull();
    await request(api.app).post('/api/me/verification-email').set(user.auth).expect(202);
    await verify(user.auth, await mailedVerificationToken(api, user.id)).expect(200);
  });

  it('refuses a forged or malformed token, and anonymous callers before reading the body', async () => {
    const user = await unverified();
    expect((await verify(user.auth, randomBytes(32).toString('base64url')).expect(400)).body.error.code).toBe('verification_invalid');
    expect((await verify(user.auth, 'not a token!').expect(400)).body.error.fields).toEqual([{ path: 'token', message: expect.any(String) }]);
    expect((await verify(undefined, 42).expect(401)).body.error.code).toBe('unauthorized');
    const extra = await request(api.app).post('/api/auth/verify-email').set(user.auth).send({ token: randomBytes(32).toString('base64url'), userId: user.id }).expect(400);
    expect(extra.body.error.fields).toEqual([{ path: 'userId', message: 'is not a known field of this request' }]);
  });
});

describe('POST /api/me/verification-email', () => {
  it(`mails ${VERIFICATION_EMAILS_PER_WINDOW} links an hour at most (the sign-up's included), each revoking the one before`, async () => {
    const user = await unverified();
    for (let n = 1; n < VERIFICATION_EMAILS_PER_WINDOW; n++) {
      expect((await request(api.app).post('/api/me/verification-email').set(user.auth).expect(202)).body).toEqual({ status: 'verification_sent' });
    }
    const refused = await request(api.app).post('/api/me/verification-email').set(user.auth).expect(429);
    expect(refused.body.error.code).toBe('too_many_verification_emails');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3_500);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(3_600);
    const tokens = (await mailsTo(user.id, 'email_verification')).map(tokenOf);
    expect(tokens).toHaveLength(VERIFICATION_EMAILS_PER_WINDOW);
    expect((await verify(user.auth, tokens[0]).expect(400)).body.error.code).toBe('verification_revoked');
    await verify(user.auth, tokens.at(-1)).expect(200);
  });

  it('answers 409 once the address is verified, and 401 to anonymous callers', async () => {
    const verified = await signUp(api);
    expect((await request(api.app).post('/api/me/verification-email').set(verified.auth).expect(409)).body.error.code).toBe('email_already_verified');
    await request(api.app).post('/api/me/verification-email').expect(401);
  });
});

describe('an unverified account cannot move money', () => {
  const campaignId = randomUUID();
  const pledgeId = randomUUID();
  const key = randomUUID();
  // Junk bodies: the verification is checked before the body is read, and before the Idempotency-Key is claimed.
  const calls = [
    { name: 'POST /api/campaigns/{id}/pledges', send: (r: ReturnType<typeof request>) => r.post(`/api/campaigns/${campaignId}/pledges`).set('Idempotency-Key', key).send({ amount: 'lots', currency: 'USD' }) },
    { name: 'PATCH /api/pledges/{id}', send: (r: ReturnType<typeof request>) => r.patch(`/api/pledges/${pledgeId}`).send({ amount: 7 }) },
    { name: 'POST /api/campaigns/{id}/publish', send: (r: ReturnType<typeof request>) => r.post(`/api/campaigns/${campaignId}/publish`) },
    { name: 'POST /api/me/connect', send: (r: ReturnType<typeof request>) => r.post('/api/me/connect') },
  ];

  it('pledging, changing a pledge, publishing and payout onboarding answer 403 email_unverified until the link is used', async () => {
    const user = await unverified();
    const draft = await request(api.app)
      .post('/api/campaigns')
      .set(user.auth)
      .send({ title: 'Unverified lamp', goalAmount: '100.00', currency: 'USD', model: 'aon', startsAt: new Date(Date.now() + 86_400_000).toISOString(), endsAt: new Date(Date.now() + 30 * 86_400_000).toISOString() })
      .expect(201);
    const before: Record<string, [number, string]> = {};
    for (const call of [...calls, { name: 'publish my own draft', send: (r: ReturnType<typeof request>) => r.post(`/api/campaigns/${draft.body.id}/publish`) }]) {
      const answer = await call.send(request(api.app)).set(user.auth);
      before[call.name] = [answer.status, answer.body.error?.code];
    }
    expect(Object.values(before)).toEqual(Array(calls.length + 1).fill([403, 'email_unverified']));
    expect(await db().selectFrom('idempotency_keys').select('key').where('user_id', '=', user.id).execute()).toEqual([]);

    await verify(user.auth, await mailedVerificationToken(api, user.id)).expect(200);
    // Past the check: now the request is read (400 for the junk, 404 for what does not exist, 503 without Stripe or Temporal).
    const after: Record<string, number> = {};
    for (const call of calls) after[call.name] = (await call.send(request(api.app)).set(user.auth)).status;
    expect(after).toEqual({ 'POST /api/campaigns/{id}/pledges': 400, 'PATCH /api/pledges/{id}': 400, 'POST /api/campaigns/{id}/publish': 503, 'POST /api/me/connect': 503 });
  });
});
