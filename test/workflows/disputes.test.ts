/**
 * A chargeback on the whole platform (Temporal and Stripe stand-ins, the real workers and API): a keep-it-all
 * campaign charges a `pm_card_createDispute` card at pledge time, Stripe disputes it, the webhook books it, support
 * accepts the loss, and the campaign workflow's payout, sent two weeks after the deadline, comes out smaller by the
 * lost amount (no commission on it) and Stripe's 15.00 USD dispute fee. Reconciled against the ledger and Stripe.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { campaignStateQuery } from '../../workflows/messages';
import { createCampaign, createUser, days, placePledge, publishCampaign } from '../helpers/campaign-fixtures';
import { deliverAllStandinEvents } from '../helpers/api';
import { createTestPlatform, type TestPlatform } from '../helpers/platform';
import { disputeOfPayment } from '../helpers/stripe';

const SECRET = 'whsec_test_platform_disputes';
const stripeFee = (amount: number) => Math.round((amount * 290) / 10_000) + 30;
const commission = (net: number) => Math.round((net * 600) / 10_000);

let p: TestPlatform;
beforeAll(async () => {
  p = await createTestPlatform({ STRIPE_WEBHOOK_SECRET: SECRET });
});
afterAll(() => p.close());

const deliver = (type: string, objectId: string) => deliverAllStandinEvents(p, p.stripe, SECRET, type, objectId);

const disputeOf = (paymentIntentId: string) => disputeOfPayment(p.stripe, paymentIntentId);

test('a dispute lost before the payout comes off it; the campaign reconciles', async () => {
  const creator = await createUser(p, { connect: 'onboarded' });
  const support = await createUser(p, { role: 'support' });
  const campaign = await createCampaign(p, creator, { model: 'kia', goal: 1_000, durationMs: days(1) });
  const db = p.testDb.database.db;

  const { payout, state } = await p.runWorkers(async () => {
    const handle = await publishCampaign(p, campaign.id, creator);
    await placePledge(p, campaign, { amount: 20_000, style: 'charge' });
    const { pledge } = await placePledge(p, campaign, { amount: 10_000, style: 'charge', card: 'pm_card_createDispute' });
    const intentId = (await db.selectFrom('pledges').select('payment_intent_id').where('id', '=', pledge.id).executeTakeFirstOrThrow()).payment_intent_id!;
    const dispute = await disputeOf(intentId);
    expect(await deliver('charge.dispute.created', dispute.id)).toBe(1);
    const row = await db.selectFrom('disputes').selectAll().where('stripe_dispute_id', '=', dispute.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ pledge_id: pledge.id, status: 'needs_response', settlement_amount: 10_000, fee: 1_500 });

    const accepted = await request(p.app).post(`/api/support/disputes/${row.id}/accept`).set(support.auth).set('Idempotency-Key', randomUUID()).expect(200);
    expect(accepted.body.dispute).toMatchObject({ status: 'lost', recovery: 'payout' });
    await deliver('charge.dispute.closed', dispute.id);

    await p.env.sleep(days(1) + 60_000);
    await p.env.sleep(days(15));
    const state = await handle.query(campaignStateQuery);
    const payout = await db.selectFrom('payouts').selectAll().where('campaign_id', '=', campaign.id).executeTakeFirstOrThrow();
    return { payout, state };
  });

  expect(state).toMatchObject({ payout: { state: 'paid' } });
  expect(payout).toMatchObject({ status: 'paid', amount: 20_000 - commission(20_000) - stripeFee(20_000) - stripeFee(10_000) - 1_500 });
  const report = await reconcileCampaign(db, campaign.id, p.stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.balanced).toBe(true);
}, 120_000);
