/**
 * An API on its own Postgres schema for one test file, driven through HTTP with supertest.
 * Extra configuration (e.g. short campaign durations) comes in as environment variables, as in production.
 */
import { randomUUID } from 'node:crypto';
import { type Express } from 'express';
import type Stripe from 'stripe';
import request from 'supertest';
import { type Campaign, type CampaignStatus, type FinancingModel } from '../../db/schema';
import { createApp } from '../../src/api/app';
import { issueToken } from '../../src/auth/tokens';
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

/**
 * Card-testing limits out of the way, for a test file whose many backers all pledge from the one test address with
 * the one test card (the stand-in, like Stripe's test mode, gives every pm_card_visa the same fingerprint).
 */
export const LIFTED_CARD_LIMITS = { CARD_ATTEMPTS_PER_USER: '1000000', CARD_ATTEMPTS_PER_IP: '1000000', CARD_ATTEMPTS_PER_CARD: '1000000' };

let counter = 0;

/** The token of the latest verification link mailed to the account, read from the outbox as the mailer would. */
export async function mailedVerificationToken(api: TestApi, userId: string): Promise<string> {
  const mail = await api.context.database.db
    .selectFrom('notifications')
    .select('payload')
    .where('recipient_id', '=', userId)
    .where('template', '=', 'email_verification')
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  return new URL((mail.payload as { verifyUrl: string }).verifyUrl).searchParams.get('token')!;
}

/**
 * Signs up a fresh user, signs in, and confirms the address with the mailed link; returns its token. `role` promotes
 * it in the database as `npm run user:create` would, and its session counts as having passed the second factor.
 */
export async function signUp(
  api: TestApi,
  options: { role?: 'user' | 'support' | 'ops'; name?: string } = {},
): Promise<{ id: string; email: string; token: string; auth: { Authorization: string } }> {
  const email = `user${++counter}-${process.pid}@example.com`;
  const password = 'correct horse battery';
  await request(api.app)
    .post('/api/auth/signup')
    .send({ email, password, name: options.name ?? `User ${counter}` })
    .expect(202);
  const login = await request(api.app).post('/api/auth/login').send({ email, password }).expect(200);
  const { user, token } = login.body as { user: { id: string }; token: string };
  const auth = { Authorization: `Bearer ${token}` };
  await request(api.app).post('/api/auth/verify-email').set(auth).send({ token: await mailedVerificationToken(api, user.id) }).expect(200);
  if (options.role && options.role !== 'user') {
    const db = api.context.database.db;
    await db.updateTable('users').set({ role: options.role }).where('id', '=', user.id).execute();
    await db.updateTable('auth_tokens').set({ second_factor_at: new Date() }).where('user_id', '=', user.id).execute();
  }
  return { id: user.id, email, token, auth };
}

const DAY_MS = 86_400_000;

/**
 * A user written straight to the database, address verified, with a sign-in token (faster than signing up through
 * the API). The token counts as having passed the second factor, so a test may promote the user to staff.
 */
export async function tokenUser(api: TestApi, name = 'Backer'): Promise<{ id: string; auth: { Authorization: string } }> {
  const db = api.context.database.db;
  const row = await db.insertInto('users').values({ email: `${randomUUID()}@example.com`, name, password_hash: 'x', email_verified_at: new Date() }).returningAll().executeTakeFirstOrThrow();
  const token = await issueToken(db, api.context.config.auth.secret, row.id, DAY_MS, { secondFactor: true });
  return { id: row.id, auth: { Authorization: `Bearer ${token}` } };
}

export interface CampaignRowOptions {
  model?: FinancingModel;
  status?: CampaignStatus;
  goal?: number;
  /** Deadline from now; 3 days by default (inside the hold window: all-or-nothing pledges are holds). */
  endsInMs?: number;
  creatorId?: string;
  title?: string;
}

/** A campaign taking pledges (started a day ago), written straight to the database. */
export async function campaignRow(api: TestApi, options: CampaignRowOptions = {}): Promise<Campaign> {
  const creatorId = options.creatorId ?? (await tokenUser(api, 'Creator')).id;
  const model = options.model ?? 'aon';
  return api.context.database.db
    .insertInto('campaigns')
    .values({
      creator_id: creatorId,
      title: options.title ?? 'Lamp',
      slug: `lamp-${randomUUID()}`,
      goal_amount: options.goal ?? 100_000,
      currency: 'USD',
      model,
      status: options.status ?? 'active',
      starts_at: new Date(Date.now() - DAY_MS),
      ends_at: new Date(Date.now() + (options.endsInMs ?? 3 * DAY_MS)),
      refund_terms: model === 'kia' ? 'Refunds within 14 days' : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Delivers the Stripe stand-in's latest event of `type` about `objectId` to the API, signed as Stripe signs it. */
export async function deliverStandinEvent(target: { app: Express }, stripe: Stripe, secret: string, type: string, objectId: string) {
  const event = (await standinEventsAbout(stripe, type, objectId))[0];
  if (!event) throw new Error(`no ${type} event for ${objectId}`);
  return postSignedEvent(target.app, stripe, secret, event);
}

/** Delivers every event of `type` the stand-in sent about `objectId` (newest first, as Stripe lists them); how many. */
export async function deliverAllStandinEvents(target: { app: Express }, stripe: Stripe, secret: string, type: string, objectId: string): Promise<number> {
  const events = await standinEventsAbout(stripe, type, objectId);
  for (const event of events) await postSignedEvent(target.app, stripe, secret, event);
  return events.length;
}

async function standinEventsAbout(stripe: Stripe, type: string, objectId: string): Promise<Stripe.Event[]> {
  const events = await stripe.events.list({ type, limit: 100 });
  return events.data.filter((event) => (event.data.object as { id: string }).id === objectId);
}

function postSignedEvent(app: Express, stripe: Stripe, secret: string, event: Stripe.Event) {
  const payload = JSON.stringify(event);
  const signature = stripe.webhooks.generateTestHeaderString({ payload, secret });
  return request(app).post('/api/webhooks/stripe').set('Stripe-Signature', signature).set('Content-Type', 'application/json').send(payload).expect(200);
}
