/** Connect onboarding through the API, and staff accounts from `npm run user:create`. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Secret, TOTP } from 'otpauth';
import request from 'supertest';
import { createTestApi, signUp, type TestApi } from '../helpers/api';
import { TEST_DATABASE_URL } from '../helpers/db';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

let api: TestApi;
let stripe: TestStripe;
beforeAll(async () => {
  stripe = await startTestStripe();
  api = await createTestApi({}, { stripe: stripe.stripe });
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});

describe('POST and GET /api/me/connect', () => {
  it('creates one Express account per user and a fresh onboarding link each time', async () => {
    const creator = await signUp(api);
    await request(api.app).get('/api/me/connect').set(creator.auth).expect(404);
    const first = await request(api.app).post('/api/me/connect').set(creator.auth).expect(201);
    expect(first.body.accountId).toMatch(/^acct_/);
    expect(first.body.onboardingUrl).toContain('/_standin/onboarding/');
    const second = await request(api.app).post('/api/me/connect').set(creator.auth).expect(201);
    expect(second.body.accountId).toBe(first.body.accountId);
    expect(second.body.onboardingUrl).not.toBe(first.body.onboardingUrl);
    const before = await request(api.app).get('/api/me/connect').set(creator.auth).expect(200);
    expect(before.body).toEqual({ accountId: first.body.accountId, chargesEnabled: false, payoutsEnabled: false, detailsSubmitted: false });
    const account = await stripe.stripe.accounts.retrieve(first.body.accountId as string);
    expect(account.metadata).toMatchObject({ user_id: creator.id });
  });

  it('requires a signed-in user', async () => {
    await request(api.app).post('/api/me/connect').expect(401);
    await request(api.app).get('/api/me/connect').expect(401);
  });
});

describe('npm run user:create', () => {
  const cli = join(__dirname, '..', '..', 'dist', 'src', 'cli', 'user-create.js');
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, [cli, ...args], {
      env: { ...process.env, DATABASE_URL: `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${api.testDb.schema}`)}` },
    });

  it('creates a support account whose printed password signs in', async () => {
    const { stdout } = await run(['--email', 'Support@Example.com', '--role', 'support', '--name', 'Sam']);
    expect(stdout).toMatch(/support@example.com \(.+\) now has role support/);
    const password = /password: (\S+)/.exec(stdout)![1]!;
    const login = await request(api.app).post('/api/auth/login').send({ email: 'support@example.com', password }).expect(200);
    expect(login.body.user.role).toBe('support');
  });

  it('tells a staff member without a second factor how to enrol one; --reset-totp removes one, audited with actor cli', async () => {
    const args = ['--email', 'ops-cli@example.com', '--role', 'ops', '--password', 'ops password here'];
    const created = await run(args);
    expect(created.stdout).toContain('second factor: not enrolled yet');
    expect(created.stdout).toContain('POST /api/me/totp');
    const login = await request(api.app).post('/api/auth/login').send({ email: 'ops-cli@example.com', password: 'ops password here' }).expect(200);
    const auth = { Authorization: `Bearer ${login.body.token}` };
    const { secret } = (await request(api.app).post('/api/me/totp').set(auth).expect(201)).body as { secret: string };
    await request(api.app).post('/api/me/totp/confirm').set(auth).send({ code: TOTP.generate({ secret: Secret.fromBase32(secret) }) }).expect(200);
    await request(api.app).get('/api/ops/audit').set(auth).expect(200);

    // Run again (a password set): enrolled, so no instructions; the sessions opened before are ended.
    expect((await run(args)).stdout).not.toContain('second factor');
    await request(api.app).get('/api/ops/audit').set(auth).expect(401);
    const reset = await run([...args, '--reset-totp']);
    expect(reset.stdout).toContain('second factor: removed');
    expect(reset.stdout).toContain('second factor: not enrolled yet');
    const entries = await api.context.database.db.selectFrom('staff_audit_log').select(['action', 'actor_label']).where('action', 'in', ['totp.enrolled', 'totp.reset']).orderBy('id').execute();
    expect(entries).toEqual([
      { action: 'totp.enrolled', actor_label: 'ops-cli@example.com' },
      { action: 'totp.reset', actor_label: 'cli' },
    ]);
  });

  it('refuses a bad role with a usage message and no stack trace', async () => {
    const failure = (await run(['--email', 'x@example.com', '--role', 'admin']).catch((error: unknown) => error)) as { code: number; stderr: string };
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('usage: npm run user:create');
    expect(failure.stderr).toContain('--role');
    expect(failure.stderr).not.toMatch(/\bat .+\.js:\d+/);
  });
});

describe('authorization matrix for the account endpoints', () => {
  it('each caller acts only on their own account; anonymous callers get 401; nobody gets a 500', async () => {
    const callers = {
      anonymous: undefined,
      user: (await signUp(api)).auth,
      support: (await signUp(api, { role: 'support' })).auth,
      ops: (await signUp(api, { role: 'ops' })).auth,
    };
    const expected = {
      'POST /api/me/connect': { anonymous: 401, user: 201, support: 201, ops: 201 },
      'GET /api/me/connect': { anonymous: 401, user: 200, support: 200, ops: 200 },
      'POST /api/auth/logout': { anonymous: 401, user: 204, support: 204, ops: 204 },
    };
    const actual: Record<string, Record<string, number>> = {};
    for (const endpoint of Object.keys(expected)) {
      const [method, path] = endpoint.split(' ') as ['POST' | 'GET', string];
      actual[endpoint] = {};
      for (const [who, auth] of Object.entries(callers)) {
        const call = method === 'POST' ? request(api.app).post(path) : request(api.app).get(path);
        actual[endpoint]![who] = (await (auth ? call.set(auth) : call)).status;
      }
    }
    expect(actual).toEqual(expected);
  });
});
