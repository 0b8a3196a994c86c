/**
 * Campaigns, creators and pledges for workflow tests, made as the product makes them: users in Postgres, Stripe
 * customers, Connect accounts onboarded through their account link, and pledges placed with the same Stripe calls
 * (a manual-capture hold, a card saved by a SetupIntent for an off-session charge, or an immediate charge for
 * keep-it-all) and the same idempotency keys.
 */
import request from 'supertest';
import { randomUUID } from 'node:crypto';
import { type FinancingModel } from '../../db/schema';
import { issueToken } from '../../src/auth/tokens';
import { recordLedgerEntries } from '../../src/ledger/ledger';
import { stripeKeys } from '../../src/payments/idempotency-keys';
import type Stripe from 'stripe';
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
    .values({ email, name: 'Test User', password_hash: 'not-used', role: options.role ?? 'user' })
    .returningAll()
    .executeTakeFirstOrThrow();
  let accountId: string | undefined;
  if (options.connect) {
    const account = await p.stripe.accounts.create({ type: 'express', country: 'US', email });
    accountId = account.id;
    await db.updateTable('users').set({ stripe_account_id: account.id }).where('id', '=', user.id).execute();
    if (options.connect === 'onboarded') await completeOnboarding(p, user.id);
  }
  const token = await issueToken(db, p.config.auth.secret, user.id, DAY * 365);
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
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

type PledgeStyle = 'hold' | 'saved_card' | 'charge';

/** Places a pledge the way the pledge API does for the campaign's model: hold, saved card, or immediate charge. */
export async function placePledge(
  p: TestPlatform,
  campaign: { id: string; currency: string },
  options: { amount: number; card?: string; style: PledgeStyle; backer?: TestUser; rewardId?: string },
) {
  const db = p.testDb.database.db;
  const backer = options.backer ?? (await createUser(p));
  const customer = await p.stripe.customers.create({ email: backer.email, metadata: { user_id: backer.id } }, { idempotencyKey: stripeKeys.customer(backer.id) });
  await db.updateTable('users').set({ stripe_customer_id: customer.id }).where('id', '=', backer.id).execute();
  const pledge = await db
    .insertInto('pledges')
    .values({ campaign_id: campaign.id, backer_id: backer.id, amount: options.amount, currency: campaign.currency, reward_id: options.rewardId ?? null })
    .returningAll()
    .executeTakeFirstOrThrow();
  const card = options.card ?? 'pm_card_visa';
  const currency = campaign.currency.toLowerCase();
  const key = { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id) };
  if (options.style === 'saved_card') {
    const setup = await p.stripe.setupIntents.create({ customer: customer.id, payment_method: card, confirm: true, usage: 'off_session', metadata: { pledge_id: pledge.id } }, key);
    await db
      .updateTable('pledges')
      .set({ status: 'authorized', setup_intent_id: setup.id, payment_method_id: setup.payment_method as string, authorized_at: new Date() })
      .where('id', '=', pledge.id)
      .execute();
  } else {
    const intent = await p.stripe.paymentIntents.create(
      {
        amount: options.amount,
        currency,
        customer: customer.id,
        payment_method: card,
        confirm: true,
        setup_future_usage: 'off_session',
        capture_method: options.style === 'hold' ? 'manual' : 'automatic',
        metadata: { pledge_id: pledge.id, campaign_id: campaign.id },
        expand: ['latest_charge.balance_transaction'],
      },
      key,
    );
    if (options.style === 'hold') {
      await db
        .updateTable('pledges')
        .set({ status: 'authorized', payment_intent_id: intent.id, payment_method_id: intent.payment_method as string, authorized_at: new Date() })
        .where('id', '=', pledge.id)
        .execute();
    } else {
      const charge = intent.latest_charge as Stripe.Charge;
      const balance = charge.balance_transaction as Stripe.BalanceTransaction;
      await p.testDb.database.transaction(async (trx) => {
        await trx
          .updateTable('pledges')
          .set({ status: 'captured', payment_intent_id: intent.id, payment_method_id: intent.payment_method as string, amount_captured: options.amount, processing_fee: balance.fee, captured_at: new Date() })
          .where('id', '=', pledge.id)
          .execute();
        await recordLedgerEntries(trx, [
          { campaignId: campaign.id, pledgeId: pledge.id, kind: 'capture', amount: options.amount, currency: campaign.currency, stripeObjectId: charge.id },
          { campaignId: campaign.id, pledgeId: pledge.id, kind: 'processing_fee', amount: balance.fee, currency: campaign.currency, stripeObjectId: balance.id },
        ]);
      });
    }
  }
  return { pledge: await db.selectFrom('pledges').selectAll().where('id', '=', pledge.id).executeTakeFirstOrThrow(), backer };
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
