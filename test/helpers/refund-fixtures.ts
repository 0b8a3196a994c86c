/**
 * A funded campaign with one collected pledge, for refund tests that drive the refund activity directly: Postgres
 * on its own schema, the Stripe stand-in, the real activity dependencies, and a creator whose Connect account is
 * onboarded so the payout (the production payout activity) can be sent before the refund.
 */
import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { type ActivityDeps } from '../../activities/deps';
import { createPayoutActivities } from '../../activities/payouts';
import { type Role } from '../../db/schema';
import { loadConfig } from '../../src/config';
import { recordLedgerEntries } from '../../src/ledger/ledger';
import { stripeKeys } from '../../src/payments/idempotency-keys';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './db';
import { startTestStripe, type TestStripe } from './stripe';

const DAY = 86_400_000;

export interface RefundWorld {
  testDb: TestDatabase;
  testStripe: TestStripe;
  deps: ActivityDeps;
  user(role?: Role): Promise<{ id: string }>;
  /**
   * A funded all-or-nothing campaign with one pledge of `amount` USD minor units collected (funds available at once
   * with the default card; `paymentMethod` picks another test card, such as `pm_card_refundFail`).
   */
  collectedPledge(amount: number, options?: { paymentMethod?: string }): Promise<{ campaignId: string; pledgeId: string; paymentIntentId: string }>;
  /** Sends the campaign's payout with the production activity; the Stripe transfer's id. */
  payOut(campaignId: string): Promise<string>;
  close(): Promise<void>;
}

export async function createRefundWorld(): Promise<RefundWorld> {
  const testDb = await createTestDatabase();
  const testStripe = await startTestStripe();
  const db = testDb.database.db;
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error' });
  const deps: ActivityDeps = { database: testDb.database, stripe: testStripe.stripe, config, mailer: { send: async () => undefined, close: () => undefined } };

  const user = (role: Role = 'user') =>
    db.insertInto('users').values({ email: `${randomUUID()}@example.com`, name: 'Test User', password_hash: 'not-used', role, email_verified_at: new Date() }).returning('id').executeTakeFirstOrThrow();

  async function onboardedCreator(): Promise<string> {
    const { id } = await user();
    const account = await testStripe.stripe.accounts.create({ type: 'express', country: 'US', email: `${id}@example.com` });
    const link = await testStripe.stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://app/r', return_url: 'http://app/ok' });
    await fetch(link.url);
    await db.updateTable('users').set({ stripe_account_id: account.id, charges_enabled: true, payouts_enabled: true, details_submitted: true }).where('id', '=', id).execute();
    return id;
  }

  return {
    testDb,
    testStripe,
    deps,
    user,
    async collectedPledge(amount, options = {}) {
      const creatorId = await onboardedCreator();
      const now = Date.now();
      const campaign = await db
        .insertInto('campaigns')
        .values({
          creator_id: creatorId,
          title: 'Kettle',
          slug: `kettle-${randomUUID()}`,
          goal_amount: 1_000,
          currency: 'USD',
          model: 'aon',
          status: 'funded',
          starts_at: new Date(now - 10 * DAY),
          ends_at: new Date(now - DAY),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const backer = await user();
      const customer = await testStripe.stripe.customers.create({}, { idempotencyKey: stripeKeys.customer(backer.id) });
      await db.updateTable('users').set({ stripe_customer_id: customer.id }).where('id', '=', backer.id).execute();
      const pledge = await db
        .insertInto('pledges')
        .values({ campaign_id: campaign.id, backer_id: backer.id, amount, currency: 'USD' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const intent = await testStripe.stripe.paymentIntents.create(
        {
          amount,
          currency: 'usd',
          customer: customer.id,
          payment_method: options.paymentMethod ?? 'pm_card_bypassPending',
          confirm: true,
          metadata: { pledge_id: pledge.id, campaign_id: campaign.id },
          expand: ['latest_charge.balance_transaction'],
        },
        { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id) },
      );
      const charge = intent.latest_charge as Stripe.Charge;
      const balance = charge.balance_transaction as Stripe.BalanceTransaction;
      await testDb.database.transaction(async (trx) => {
        await trx
          .updateTable('pledges')
          .set({ status: 'captured', payment_intent_id: intent.id, payment_method_id: intent.payment_method as string, amount_captured: amount, processing_fee: balance.fee, captured_at: new Date() })
          .where('id', '=', pledge.id)
          .execute();
        await recordLedgerEntries(trx, [
          { campaignId: campaign.id, pledgeId: pledge.id, kind: 'capture', amount, currency: 'USD', stripeObjectId: charge.id },
          { campaignId: campaign.id, pledgeId: pledge.id, kind: 'processing_fee', amount: balance.fee, currency: 'USD', stripeObjectId: balance.id },
        ]);
      });
      return { campaignId: campaign.id, pledgeId: pledge.id, paymentIntentId: intent.id };
    },
    async payOut(campaignId) {
      const payout = await createPayoutActivities(deps).sendPayout({ campaignId });
      if (!payout) throw new Error('nothing was paid out');
      return payout.transferId;
    },
    async close() {
      await testDb.drop();
      await testStripe.close();
    },
  };
}
