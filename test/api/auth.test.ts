import request from 'supertest';
import { createTestApi, signUp, type TestApi } from '../helpers/api';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(() => api.close());

describe('POST /api/auth/signup', () => {
  it('answers 202 without a token, and makes an unverified account whose password signs in, never shown its hash', async () => {
    const response = await request(api.app)
      .post('/api/auth/signup')
      .send({ email: '  New.Person@Example.com ', password: 'a long enough password', name: 'New Person' })
      .expect(202);
    expect(response.body).toEqual({ status: 'verification_sent', message: expect.any(String) });
    const stored = await api.context.database.db.selectFrom('users').selectAll().where('email', '=', 'new.person@example.com').executeTakeFirstOrThrow();
    expect(stored.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(stored.email_verified_at).toBeNull();
    const login = await request(api.app).post('/api/auth/login').send({ email: 'new.person@example.com', password: 'a long enough password' }).expect(200);
    expect(login.body.user).toEqual({ id: stored.id, email: 'new.person@example.com', name: 'New Person', role: 'user', createdAt: expect.any(String), emailVerified: false });
    expect(JSON.stringify(login.body)).not.toMatch(/scrypt|password/);
  });

  it('never makes a second account for the same email in any case, and answers as for a new one', async () => {
    const first = await request(api.app).post('/api/auth/signup').send({ email: 'dup@example.com', password: 'a long enough password', name: 'A' }).expect(202);
    const second = await request(api.app).post('/api/auth/signup').send({ email: 'DUP@example.com', password: 'another password', name: 'B' }).expect(202);
    expect(second.body).toEqual(first.body);
    const rows = await api.context.database.db.selectFrom('users').select('id').where('email', 'ilike', 'dup@example.com').execute();
    expect(rows).toHaveLength(1);
  });

  it.each([
    [{ email: 'not-an-email', password: 'a long enough password', name: 'A' }, 'email'],
    [{ email: 'a@example.com', password: 'short', name: 'A' }, 'password'],
    [{ email: 'a@example.com', password: 'a long enough password', name: '   ' }, 'name'],
    [{ password: 'a long enough password', name: 'A' }, 'email'],
    [{ email: 'a@example.com', password: 12345678901, name: 'A' }, 'password'],
  ])('answers 400 naming the field for %j', async (body, field) => {
    const response = await request(api.app).post('/api/auth/signup').send(body).expect(400);
    expect(response.body.error.code).toBe('validation_failed');
    expect(response.body.error.fields.map((f: { path: string }) => f.path)).toContain(field);
  });

  it('answers 400 for malformed JSON, not 500', async () => {
    const response = await request(api.app).post('/api/auth/signup').set('Content-Type', 'application/json').send('{"email":').expect(400);
    expect(response.body.error.code).toBe('invalid_json');
  });
});

describe('POST /api/auth/login and /logout', () => {
  it('logs in with the right password and the token is accepted', async () => {
    const user = await signUp(api);
    const response = await request(api.app).post('/api/auth/login').send({ email: user.email.toUpperCase(), password: 'correct horse battery' }).expect(200);
    expect(response.body.user.id).toBe(user.id);
    await request(api.app).post('/api/auth/logout').set('Authorization', `Bearer ${response.body.token}`).expect(204);
  });

  it('gives the same 401 for an unknown email and a wrong password', async () => {
    const user = await signUp(api);
    const wrong = await request(api.app).post('/api/auth/login').send({ email: user.email, password: 'wrong password' }).expect(401);
    const unknown = await request(api.app).post('/api/auth/login').send({ email: 'nobody@example.com', password: 'wrong password' }).expect(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error.code).toBe('invalid_credentials');
  });

  it('revokes the token on logout', async () => {
    const user = await signUp(api);
    await request(api.app).post('/api/auth/logout').set(user.auth).expect(204);
    const again = await request(api.app).post('/api/auth/logout').set(user.auth).expect(401);
    expect(again.body.error.code).toBe('unauthorized');
  });

  it('logout without a token is 401', async () => {
    await request(api.app).post('/api/auth/logout').expect(401);
    await request(api.app).post('/api/auth/logout').set('Authorization', 'Basic abc').expect(401);
  });

  it('limits failed attempts per email, with Retry-After, and does not lock out other accounts', async () => {
    const victim = await signUp(api);
    const other = await signUp(api);
    for (let attempt = 0; attempt < 5; attempt++) {
      await request(api.app).post('/api/auth/login').send({ email: victim.email, password: 'guess' }).expect(401);
    }
    const blocked = await request(api.app).post('/api/auth/login').send({ email: victim.email, password: 'correct horse battery' }).expect(429);
    expect(blocked.body.error.code).toBe('too_many_attempts');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    await request(api.app).post('/api/auth/login').send({ email: other.email, password: 'correct horse battery' }).expect(200);
  });

  it('counts attempts atomically: of 25 wrong passwords sent at once, 5 are checked and 20 refused', async () => {
    const victim = await signUp(api);
    const from = '203.0.113.7';
    const answers = await Promise.all(
      Array.from({ length: 25 }, () => request(api.app).post('/api/auth/login').set('X-Forwarded-For', from).send({ email: victim.email, password: 'guess' })),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses.filter((status) => status === 401)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20);
  });

  it('failures from one source do not lock the account for its owner elsewhere', async () => {
    const victim = await signUp(api);
    for (let attempt = 0; attempt < 5; attempt++) {
      await request(api.app).post('/api/auth/login').set('X-Forwarded-For', '198.51.100.9').send({ email: victim.email, password: 'guess' }).expect(401);
    }
    await request(api.app).post('/api/auth/login').set('X-Forwarded-For', '198.51.100.9').send({ email: victim.email, password: 'correct horse battery' }).expect(429);
    await request(api.app).post('/api/auth/login').set('X-Forwarded-For', '192.0.2.44').send({ email: victim.email, password: 'correct horse battery' }).expect(200);
  });
});

describe('the API edge', () => {
  it('answers unknown routes with a 404 in the error shape', async () => {
    const response = await request(api.app).get('/api/nothing-here').expect(404);
    expect(response.body.error).toEqual({ code: 'not_found', message: 'GET /api/nothing-here not found' });
  });

  it('reports readiness from Postgres', async () => {
    await request(api.app).get('/health/ready').expect(200, { ok: true, database: true });
  });
});
