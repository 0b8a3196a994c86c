/**
 * Campaigns, creators and pledges for workflow tests, made as the product makes them: users in Postgres, Connect
 * accounts onboarded through their account link, and pledges placed by the production placement code (a
 * manual-capture hold, a card saved by a SetupIntent for an off-session charge, or an immediate charge for
 * keep-it-all).
 */
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { type FinancingModel } from '../../db/schema';
import { issueToken } from '../../src/auth/tokens';
import { createCampaignActivities } from '../../activities/campaigns';
import { type ActivityDeps } from '../../activities/deps';
import { fromMinorUnits } from '../../src/money';
import { placePledge as placeProductionPledge } from '../../src/pledges/place-pledge';
import { type TestPlatform } from './platform';

const DAY = 24 * 60 * 60 * 1000;

export interface TestUser {
  id: string;
  email: string;
  auth: { Authorization: string };
}

export async function createUser(p: TestPlatform, options: { role?: 'user' | 'support' | 'ops'; connect?: 'onboarded' | 'pending' } = {}): Promise<TestUser & { accountId?: string }> {
  const db = p.testDb.database.db;
  const email = `${randomUUID()}@example.com`;
  const user = await db
    .insertInto('users')
    .values({ email, name: 'Test User', password_hash: 'not-used', role: options.role ?? 'user', email_verified_at: new Date() })
    .returningAll()
    .executeTakeFirstOrThrow();
  let accountId: string | undefined;
  if (options.connect) {
    const account = await p.stripe.accounts.create({ type: 'express', country: 'US', email });
    accountId = account.id;
    await db.updateTable('users').set({ stripe_account_id: account.id }).where('id', '=', user.id).execute();
    if (options.connect === 'onboarded') await completeOnboarding(p, user.id);
  }
  // As staff sign in: with the second factor passed (it is checked only for staff).
  const token = await issueToken(db, p.config.auth.secret, user.id, DAY * 365, { secondFactor: true });
  return { id: user.id, email, auth: { Authorization: `Bearer ${token}` }, ...(accountId ? { accountId } : {}) };
}

/** The creator finishes Stripe's onboarding form; the flags follow as the account.updated webhook would set them. */
export async function completeOnboarding(p: TestPlatform, userId: string): Promise<void> {
  const db = p.testDb.database.db;
  const user = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
  const link = await p.stripe.accountLinks.create({ account: user.stripe_account_id!, type: 'account_onboarding', refresh_url: 'http://app/r', return_url: 'http://app/ok' });
  await fetch(link.url);
  const account = await p.stripe.accounts.retrieve(user.stripe_account_id!);
  await db
    .updateTable('users')
    .set({ charges_enabled: account.charges_enabled, payouts_enabled: account.payouts_enabled, details_submitted: account.details_submitted })
    .where('id', '=', userId)
    .execute();
}

export interface CampaignOptions {
  model: FinancingModel;
  goal: number;
  durationMs: number;
  currency?: string;
  refundTerms?: string;
  /** `active`: taking pledges without a workflow (tests of activities alone); by default a draft to publish. */
  status?: 'draft' | 'active';
}

export async function createCampaign(p: TestPlatform, creator: TestUser, options: CampaignOptions) {
  const startsAt = new Date(await p.env.currentTimeMs());
  return p.testDb.database.db
    .insertInto('campaigns')
    .values({
      creator_id: creator.id,
      title: `Campaign ${randomUUID().slice(0, 8)}`,
      slug: `campaign-${randomUUID()}`,
      goal_amount: options.goal,
      currency: options.currency ?? 'USD',
      model: options.model,
      starts_at: startsAt,
      ends_at: new Date(startsAt.getTime() + options.durationMs),
      refund_terms: options.model === 'kia' ? (options.refundTerms ?? 'Full refund if the campaign is cancelled') : null,
      status: options.status ?? 'draft',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

type PledgeStyle = 'hold' | 'saved_card' | 'charge';

/**
 * Places a pledge through the production placement code (src/pledges/place-pledge.ts), as the pledge API does.
 * The style picks what placement would choose anyway: keep-it-all charges; a hold or a saved card is chosen by
 * the deadline against the hold window, so the hold window is set to make that choice for this one placement.
 * A campaign whose start has come is marked active first, as its workflow does at the start (the workers may not
 * be running when a test places its pledges).
 */
export async function placePledge(
  p: TestPlatform,
  campaign: { id: string; currency: string },
  options: { amount: number; card?: string; style: PledgeStyle; backer?: TestUser; rewardId?: string },
) {
  const db = p.testDb.database.db;
  const backer = options.backer ?? (await createUser(p));
  const row = await campaignRow(p, campaign.id);
  if ((options.style === 'charge') !== (row.model === 'kia')) throw new Error(`a ${row.model} campaign does not take '${options.style}' pledges`);
  if (row.status === 'scheduled') await createCampaignActivities({ database: p.testDb.database } as ActivityDeps).markCampaignActive(campaign.id);
  const holdWindowMs = options.style === 'hold' ? Number.MAX_SAFE_INTEGER : 0;
  const config = { ...p.config, campaigns: { ...p.config.campaigns, holdWindowMs } };
  const placed = await placeProductionPledge(
    { database: p.testDb.database, stripe: p.stripe, config },
    {
      campaignId: campaign.id,
      backer: await db.selectFrom('users').selectAll().where('id', '=', backer.id).executeTakeFirstOrThrow(),
      amount: fromMinorUnits(options.amount, campaign.currency),
      paymentMethodId: options.card ?? 'pm_card_visa',
      ...(options.rewardId ? { rewardId: options.rewardId } : {}),
    },
  );
  const expected = options.style === 'charge' ? 'captured' : 'authorized';
  if (placed.pledge.status !== expected) throw new Error(`pledge placed ${placed.pledge.status}, not ${expected}`);
  return { pledge: placed.pledge, backer };
}

export async function pledgeRow(p: TestPlatform, pledgeId: string) {
  return p.testDb.database.db.selectFrom('pledges').selectAll().where('id', '=', pledgeId).executeTakeFirstOrThrow();
}

export async function campaignRow(p: TestPlatform, campaignId: string) {
  return p.testDb.database.db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirstOrThrow();
}

export const days = (n: number) => n * DAY;

/** Publishes through the API, as the creator does; the handle of the campaign's workflow. */
export async function publishCampaign(p: TestPlatform, campaignId: string, creator: { auth: Record<string, string> }) {
  const response = await request(p.app).post(`/api/campaigns/${campaignId}/publish`).set(creator.auth).expect(202);
  // Helpers are built without jest's globals (the benchmarks use them): a plain check.
  if (response.body.workflowId !== `campaign-${campaignId}`) throw new Error(`publish answered workflow ${String(response.body.workflowId)}`);
  return p.env.client.workflow.getHandle(`campaign-${campaignId}`);
}

/** `count` pledges of one style, each by a new backer, for the amounts `amount()` gives. */
export async function placeMany(p: TestPlatform, campaign: { id: string; currency: string }, style: PledgeStyle, count: number, amount: () => number) {
  const placed = [];
  for (let i = 0; i < count; i++) placed.push((await placePledge(p, campaign, { amount: amount(), style })).pledge);
  return placed;
}
