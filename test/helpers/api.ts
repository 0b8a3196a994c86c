/**
 * An API on its own Postgres schema for one test file, driven through HTTP with supertest.
 * Extra configuration (e.g. short campaign durations) comes in as environment variables, as in production.
 */
import { type Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { type ApiContext } from '../../src/api/context';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './db';

export interface TestApi {
  app: Express;
  context: ApiContext;
  testDb: TestDatabase;
  close(): Promise<void>;
}

export async function createTestApi(env: Record<string, string> = {}, extra: Partial<ApiContext> = {}): Promise<TestApi> {
  const testDb = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error', ...env });
  const context: ApiContext = { config, database: testDb.database, logger: createLogger('silent'), ...extra };
  const app = createApp(context);
  return { app, context, testDb, close: () => testDb.drop() };
}

let counter = 0;

/** Signs up a fresh user and returns its token; `role` promotes it in the database as `npm run user:create` would. */
export async function signUp(
  api: TestApi,
  options: { role?: 'user' | 'support' | 'ops'; name?: string } = {},
): Promise<{ id: string; email: string; token: string; auth: { Authorization: string } }> {
  const email = `user${++counter}-${process.pid}@example.com`;
  const response = await request(api.app)
    .post('/api/auth/signup')
    .send({ email, password: 'correct horse battery', name: options.name ?? `User ${counter}` })
    .expect(201);
  const { user, token } = response.body as { user: { id: string }; token: string };
  if (options.role && options.role !== 'user') {
    await api.context.database.db.updateTable('users').set({ role: options.role }).where('id', '=', user.id).execute();
  }
  return { id: user.id, email, token, auth: { Authorization: `Bearer ${token}` } };
}
