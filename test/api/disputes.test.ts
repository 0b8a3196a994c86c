/**
 * Chargebacks (issue #16) through the Stripe stand-in: `pm_card_createDispute` charges are disputed a minute of
 * stand-in time after they are collected, and evidence reading `winning_evidence` / `losing_evidence` decides them
 * fifteen minutes after it is submitted. The stand-in runs on its clock alone (no real-time fallback), so each test
 * says when Stripe acts. Webhooks are delivered as Stripe signs them; support works through the API; the payout is
 * the production activity; every campaign is reconciled against the ledger, its rows and Stripe.
 */
import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import request from 'supertest';
import { createPayoutActivities } from '../../activities/payouts';
import { type ActivityDeps } from '../../activities/deps';
import { createApp } from '../../src/api/app';
import { loadConfig } from '../../src/config';
import { captureMovements, recordLedgerEntries } from '../../src/ledger/ledger';
import { stripeKeys } from '../../src/payments/idempotency-keys';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { createTestApi, deliverStandinEvent, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';
import { TEST_DATABASE_URL } from '../helpers/db';

const SECRET = 'whsec_test_disputes';
const DAY = 86_400;
let api: TestApi;
let testStripe: TestStripe;
let stripe: Stripe;
let deps: ActivityDeps;
let support: { id: string; auth: { Authorization: string } };
let backer: { id: string; auth: { Authorization: string } };

beforeAll(async () => {
  testStripe = await startTestStripe({ realTimeFallbackMs: Infinity });
  stripe = testStripe.stripe;
  api = await createTestApi({ STRIPE_WEBHOOK_SECRET: SECRET }, { stripe });
  deps = { database: api.context.database, stripe, config: api.context.config, mailer: { send: async () => undefined, close: () => undefined } };
  support = await tokenUser(api, 'Support');
  await db().updateTable('users').set({ role: 'support' }).where('id', '=', support.id).execute();
  backer = await tokenUser(api, 'Backer');
  // The platform's own money, available at once: it fronts open disputes' withdrawals, as a platform's balance does.
  await stripe.paymentIntents.create({ amount: 10_000_000, currency: 'usd', payment_method: 'pm_card_bypassPending', confirm: true });
});
afterAll(async () => {
  await api.close();
  await testStripe.close();
});

const db = () => api.context.database.db;

/** An app whose platform bears lost disputes (DISPUTE_RECOVERY=platform), on the same database and Stripe. */
function platformBearsApi(): TestApi {
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'error', STRIPE_WEBHOOK_SECRET: SECRET, DISPUTE_RECOVERY: 'platform' });
  return { ...api, app: createApp({ ...api.context, config }) };
}

const deliver = (type: string, disputeId: string, on: TestApi = api) => deliverStandinEvent(on, stripe, SECRET, type, disputeId);

async function onboardedCreator(): Promise<string> {
  const { id } = await tokenUser(api, 'Creator');
  const account = await stripe.accounts.create({ type: 'express', country: 'US' });
  const link = await stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://app/r', return_url: 'http://app/ok' });
  await fetch(link.url);
  await db().updateTable('users').set({ stripe_account_id: account.id, payouts_enabled: true, charges_enabled: true, details_submitted: true }).where('id', '=', id).execute();
  return id;
}

/** A funded campaign with a pledge collected from each card, booked as settlement books a capture. */
async function fundedCampaign(pledges: Array<{ amount: number; card: string }>, currency = 'USD') {
  const creatorId = await onboardedCreator();
  const campaign = await db()
    .insertInto('campaigns')
    .values({
      creator_id: creatorId,
      title: 'Kettle',
      slug: `kettle-${randomUUID()}`,
      goal_amount: 1_000,
      currency,
      model: 'aon',
      status: 'funded',
      starts_at: new Date(Date.now() - 10 * DAY * 1000),
      ends_at: new Date(Date.now() - DAY * 1000),
    })
    .returning(['id', 'creator_id'])
    .executeTakeFirstOrThrow();
  const collected: Array<{ pledgeId: string; paymentIntentId: string; chargeId: string; fee: number; settled: number }> = [];
  for (const { amount, card } of pledges) {
    const { id: backerId } = await tokenUser(api, 'Backer');
    const pledge = await db().insertInto('pledges').values({ campaign_id: campaign.id, backer_id: backerId, amount, currency }).returning('id').executeTakeFirstOrThrow();
    const intent = await stripe.paymentIntents.create(
      { amount, currency: currency.toLowerCase(), payment_method: card, confirm: true, metadata: { pledge_id: pledge.id, campaign_id: campaign.id }, expand: ['latest_charge.balance_transaction'] },
      { idempotencyKey: stripeKeys.pledgeAuthorize(pledge.id) },
    );
    const charge = intent.latest_charge as Stripe.Charge;
    const balance = charge.balance_transaction as Stripe.BalanceTransaction;
    await api.context.database.transaction(async (trx) => {
      await trx
        .updateTable('pledges')
        .set({ status: 'captured', payment_intent_id: intent.id, amount_captured: amount, processing_fee: balance.fee, captured_at: new Date() })
        .where('id', '=', pledge.id)
        .execute();
      const movements = captureMovements({ chargeId: charge.id, amount, currency, balance });
      await recordLedgerEntries(trx, movements.map((movement) => ({ ...movement, campaignId: campaign.id, pledgeId: pledge.id })));
    });
    collected.push({ pledgeId: pledge.id, paymentIntentId: intent.id, chargeId: charge.id, fee: balance.fee, settled: balance.amount });
  }
  return { campaignId: campaign.id, creatorId: campaign.creator_id, pledges: collected };
}

/** Moves stand-in time on by a minute: Stripe opens the disputes of the charges collected before. */
async function disputeOf(chargeId: string): Promise<Stripe.Dispute> {
  await testStripe.advanceClock(120);
  const [dispute] = (await stripe.disputes.list({ charge: chargeId })).data;
  if (!dispute) throw new Error(`charge ${chargeId} was not disputed`);
  return dispute;
}

const disputeRow = (stripeDisputeId: string) => db().selectFrom('disputes').selectAll().where('stripe_dispute_id', '=', stripeDisputeId).executeTakeFirstOrThrow();
const ledgerOf = (campaignId: string) =>
  db().selectFrom('ledger_entries').select(['kind', 'amount', 'settlement_amount', 'stripe_object_id']).where('campaign_id', '=', campaignId).orderBy('id').execute();
const kindTotal = async (campaignId: string, kind: string) => (await ledgerOf(campaignId)).filter((entry) => entry.kind === kind).reduce((sum, entry) => sum + entry.settlement_amount, 0);

async function payOut(campaignId: string) {
  // The disputed card's funds become available two days after the charge: the platform's balance must cover the transfer.
  await testStripe.advanceClock(3 * DAY);
  const paid = await createPayoutActivities(deps).sendPayout({ campaignId });
  if (!paid) throw new Error('nothing was paid out');
  return paid;
}

async function expectReconciled(campaignId: string) {
  const report = await reconcileCampaign(db(), campaignId, stripe);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.balanced).toBe(true);
}

const postEvidence = (id: string, body: object, key = randomUUID(), auth = support.auth) =>
  request(api.app).post(`/api/support/disputes/${id}/evidence`).set(auth).set('Idempotency-Key', key).send(body);

/** 6% commission (the default), Stripe's 2.9% + 30 on each charge, and its 15.00 USD dispute fee. */
const commission = (net: number) => Math.round((net * 600) / 10_000);

describe('a dispute lost before the payout', () => {
  it('is booked from Stripe, told to the creator and support, and comes off the payout when support accepts it', async () => {
    const { campaignId, creatorId, pledges } = await fundedCampaign([
      { amount: 20_000, card: 'pm_card_bypassPending' },
      { amount: 10_000, card: 'pm_card_createDispute' },
    ]);
    const disputed = pledges[1]!;
    const dispute = await disputeOf(disputed.chargeId);
    await deliver('charge.dispute.created', dispute.id);

    const row = await disputeRow(dispute.id);
    expect(row).toMatchObject({ pledge_id: disputed.pledgeId, campaign_id: campaignId, charge_id: disputed.chargeId, amount: 10_000, currency: 'USD' });
    expect(row).toMatchObject({ settlement_amount: 10_000, fee: 1_500, settlement_currency: 'USD', status: 'needs_response', reason: 'fraudulent', recovery: null });
    expect(row.evidence_due_by?.getTime()).toBe(dispute.evidence_details.due_by! * 1000);
    const pledge = await db().selectFrom('pledges').select(['status', 'disputed_at']).where('id', '=', disputed.pledgeId).executeTakeFirstOrThrow();
    expect(pledge.status).toBe('captured');
    expect(pledge.disputed_at).toBeInstanceOf(Date);
    const [withdrawal] = dispute.balance_transactions;
    expect((await ledgerOf(campaignId)).filter((entry) => entry.kind.startsWith('dispute'))).toEqual([
      { kind: 'dispute_withdrawal', amount: 10_000, settlement_amount: 10_000, stripe_object_id: withdrawal!.id },
      { kind: 'dispute_fee', amount: 1_500, settlement_amount: 1_500, stripe_object_id: withdrawal!.id },
    ]);
    const told = await db().selectFrom('notifications').select(['recipient_id', 'template']).where('dedupe_key', 'like', `dispute-${row.id}-%`).execute();
    expect(told).toEqual(expect.arrayContaining([{ recipient_id: creatorId, template: 'dispute_opened' }, { recipient_id: support.id, template: 'dispute_opened' }]));

    const listed = await request(api.app).get('/api/support/disputes').set(support.auth).expect(200);
    expect(listed.body.disputes).toEqual(expect.arrayContaining([expect.objectContaining({ id: row.id, status: 'needs_response', amount: '100.00', fee: '15.00' })]));

    const accepted = await request(api.app).post(`/api/support/disputes/${row.id}/accept`).set(support.auth).set('Idempotency-Key', randomUUID()).expect(200);
    expect(accepted.body.dispute).toMatchObject({ status: 'lost', recovery: 'payout' });
    expect((await stripe.disputes.retrieve(dispute.id)).status).toBe('lost');

    const paid = await payOut(campaignId);
    const fees = pledges[0]!.fee + disputed.fee;
    // The lost 100.00 is not collected (no commission on it), and its 15.00 fee comes off too.
    expect(paid.amount).toBe(20_000 - commission(20_000) - fees - 1_500);
    await deliver('charge.dispute.closed', dispute.id);
    expect((await disputeRow(dispute.id)).recovery).toBe('payout');
    await expectReconciled(campaignId);
  });
});

describe('a dispute lost after the payout', () => {
  async function lostAfterPayout(on: TestApi) {
    const { campaignId, pledges } = await fundedCampaign([
      { amount: 20_000, card: 'pm_card_bypassPending' },
      { amount: 10_000, card: 'pm_card_createDispute' },
    ]);
    const dispute = await disputeOf(pledges[1]!.chargeId);
    await deliver('charge.dispute.funds_withdrawn', dispute.id, on);
    // An open dispute does not hold the payout back: the platform fronts the withdrawal until it is decided.
    const paid = await payOut(campaignId);
    const fees = pledges[0]!.fee + pledges[1]!.fee;
    expect(paid.amount).toBe(30_000 - commission(30_000) - fees);

    const row = await disputeRow(dispute.id);
    await postEvidence(row.id, { evidence: { uncategorized_text: 'losing_evidence', product_description: 'A kettle' } }).expect(200);
    await testStripe.advanceClock(16 * 60);
    expect((await stripe.disputes.retrieve(dispute.id)).status).toBe('lost');
    await deliver('charge.dispute.closed', dispute.id, on);
    return { campaignId, dispute, paid, fees };
  }

  it('takes the creator’s share back by reversing the payout’s transfer, once', async () => {
    const { campaignId, dispute, paid, fees } = await lostAfterPayout(api);
    const row = await disputeRow(dispute.id);
    // What the payout would have been had the loss been known, taken from what was paid.
    const share = paid.amount - (20_000 - commission(20_000) - fees - 1_500);
    expect(row).toMatchObject({ status: 'lost', recovery: 'reversed', recovery_amount: share, platform_fee_reversal: commission(30_000) - commission(20_000) });
    const transfer = await stripe.transfers.retrieve(paid.transferId);
    expect(transfer.amount_reversed).toBe(share);
    expect(transfer.reversals.data[0]?.metadata).toMatchObject({ dispute_id: dispute.id });
    expect(await kindTotal(campaignId, 'transfer_reversal')).toBe(share);
    expect(await kindTotal(campaignId, 'platform_fee_reversal')).toBe(commission(30_000) - commission(20_000));

    // Stripe's later copies of the events, and the same event again, change nothing.
    await deliver('charge.dispute.updated', dispute.id);
    const again = await deliver('charge.dispute.closed', dispute.id);
    expect(again.body).toEqual({ received: true, duplicate: true });
    expect((await stripe.transfers.retrieve(paid.transferId)).amount_reversed).toBe(share);
    await expectReconciled(campaignId);
  });

  it('with DISPUTE_RECOVERY=platform takes nothing back: the platform bears the loss', async () => {
    const { campaignId, dispute, paid } = await lostAfterPayout(platformBearsApi());
    expect(await disputeRow(dispute.id)).toMatchObject({ status: 'lost', recovery: 'platform', recovery_amount: 0, recovery_reversal_id: null });
    expect((await stripe.transfers.retrieve(paid.transferId)).amount_reversed).toBe(0);
    expect(await kindTotal(campaignId, 'transfer_reversal')).toBe(0);
    await expectReconciled(campaignId);
  });
});

describe('a dispute of a converted charge', () => {
  it('books the presentment amount and what Stripe withdrew in the settlement currency, and recovers in settlement', async () => {
    await testStripe.setExchangeRates({ eur: 1.1 });
    const { campaignId, pledges } = await fundedCampaign(
      [
        { amount: 20_000, card: 'pm_card_bypassPending' },
        { amount: 10_000, card: 'pm_card_createDispute' },
      ],
      'EUR',
    );
    const disputed = pledges[1]!;
    const dispute = await disputeOf(disputed.chargeId);
    await deliver('charge.dispute.created', dispute.id);
    const paid = await payOut(campaignId);
    const settled = pledges[0]!.settled + disputed.settled;
    const fees = pledges[0]!.fee + disputed.fee;
    expect(paid.amount).toBe(settled - commission(settled) - fees);

    const row = await disputeRow(dispute.id);
    expect(row).toMatchObject({ amount: 10_000, currency: 'EUR', settlement_amount: disputed.settled, settlement_currency: 'USD', fee: 1_500 });
    expect((await ledgerOf(campaignId)).find((entry) => entry.kind === 'dispute_withdrawal')).toMatchObject({ amount: 10_000, settlement_amount: disputed.settled });

    await request(api.app).post(`/api/support/disputes/${row.id}/accept`).set(support.auth).set('Idempotency-Key', randomUUID()).expect(200);
    const share = paid.amount - (pledges[0]!.settled - commission(pledges[0]!.settled) - fees - 1_500);
    expect(await disputeRow(dispute.id)).toMatchObject({ recovery: 'reversed', recovery_amount: share });
    expect((await stripe.transfers.retrieve(paid.transferId)).amount_reversed).toBe(share);
    await expectReconciled(campaignId);
  });
});

describe('a dispute won', () => {
  it('books the reinstatement; the fee stays with Stripe, borne by the platform, and the creator loses nothing', async () => {
    const { campaignId, pledges } = await fundedCampaign([{ amount: 10_000, card: 'pm_card_createDispute' }]);
    const dispute = await disputeOf(pledges[0]!.chargeId);
    await deliver('charge.dispute.created', dispute.id);
    const row = await disputeRow(dispute.id);
    const submitted = await postEvidence(row.id, { evidence: { uncategorized_text: 'winning_evidence' } }).expect(200);
    expect(submitted.body.dispute).toMatchObject({ status: 'under_review', evidenceSubmittedAt: expect.any(String) });
    await testStripe.advanceClock(16 * 60);
    await deliver('charge.dispute.funds_reinstated', dispute.id);

    expect(await disputeRow(dispute.id)).toMatchObject({ status: 'won', recovery: 'not_needed', closed_at: expect.any(Date) });
    const reinstatement = (await stripe.disputes.retrieve(dispute.id)).balance_transactions.find((balance) => balance.amount > 0)!;
    expect((await ledgerOf(campaignId)).filter((entry) => entry.kind === 'dispute_reinstatement')).toEqual([
      { kind: 'dispute_reinstatement', amount: 10_000, settlement_amount: 10_000, stripe_object_id: reinstatement.id },
    ]);
    expect(await kindTotal(campaignId, 'dispute_fee')).toBe(1_500);
    const paid = await payOut(campaignId);
    expect(paid.amount).toBe(10_000 - commission(10_000) - pledges[0]!.fee);
    await expectReconciled(campaignId);
  });
});

describe('webhooks duplicated and out of order', () => {
  it('book each dispute once, whatever order and however often its events arrive', async () => {
    const { campaignId, pledges } = await fundedCampaign([
      { amount: 20_000, card: 'pm_card_bypassPending' },
      { amount: 10_000, card: 'pm_card_createDispute' },
    ]);
    const dispute = await disputeOf(pledges[1]!.chargeId);
    await stripe.disputes.close(dispute.id);
    const paid = await payOut(campaignId);

    // The last event first: the dispute is booked from Stripe as it is now (lost), the earlier events change nothing.
    await deliver('charge.dispute.closed', dispute.id);
    const first = await disputeRow(dispute.id);
    const ledger = await ledgerOf(campaignId);
    const notifications = await db().selectFrom('notifications').select('dedupe_key').where('dedupe_key', 'like', `dispute-${first.id}-%`).execute();
    for (const type of ['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.closed', 'charge.dispute.created']) await deliver(type, dispute.id);
    await Promise.all([deliver('charge.dispute.funds_withdrawn', dispute.id), deliver('charge.dispute.closed', dispute.id)]);

    expect(await disputeRow(dispute.id)).toEqual({ ...first, updated_at: expect.any(Date) });
    expect(await ledgerOf(campaignId)).toEqual(ledger);
    expect(await db().selectFrom('notifications').select('dedupe_key').where('dedupe_key', 'like', `dispute-${first.id}-%`).execute()).toHaveLength(notifications.length);
    expect(notifications.map((n) => n.dedupe_key)).toEqual(expect.arrayContaining([expect.stringContaining('-opened-'), expect.stringContaining('-closed-')]));
    // Lost after the payout (the payout went before any event arrived): one reversal.
    expect(first.recovery).toBe('reversed');
    const transfer = await stripe.transfers.retrieve(paid.transferId);
    expect(transfer.reversals.data).toHaveLength(1);
    await expectReconciled(campaignId);
  });
});

describe('the support API', () => {
  let disputeId: string;
  beforeAll(async () => {
    const { pledges } = await fundedCampaign([{ amount: 5_000, card: 'pm_card_createDispute' }]);
    const dispute = await disputeOf(pledges[0]!.chargeId);
    await deliver('charge.dispute.created', dispute.id);
    disputeId = (await disputeRow(dispute.id)).id;
  });

  it('is for support staff: anyone else is refused before the body or the key is looked at', async () => {
    await request(api.app).get('/api/support/disputes').expect(401);
    await request(api.app).get('/api/support/disputes').set(backer.auth).expect(403);
    await request(api.app).post(`/api/support/disputes/${disputeId}/evidence`).set(backer.auth).send({ evidence: { nonsense: 1 } }).expect(403);
    await request(api.app).post(`/api/support/disputes/${disputeId}/accept`).set(backer.auth).expect(403);
    expect((await disputeRow((await db().selectFrom('disputes').select('stripe_dispute_id').where('id', '=', disputeId).executeTakeFirstOrThrow()).stripe_dispute_id)).status).toBe('needs_response');
  });

  it('lists by status', async () => {
    const open = await request(api.app).get('/api/support/disputes').query({ status: 'needs_response' }).set(support.auth).expect(200);
    expect(open.body.disputes.map((d: { id: string }) => d.id)).toContain(disputeId);
    expect(open.body.disputes.every((d: { status: string }) => d.status === 'needs_response')).toBe(true);
    const won = await request(api.app).get('/api/support/disputes').query({ status: 'won' }).set(support.auth).expect(200);
    expect(won.body.disputes.map((d: { id: string }) => d.id)).not.toContain(disputeId);
    const bad = await request(api.app).get('/api/support/disputes').query({ status: 'pending', limit: '0' }).set(support.auth).expect(400);
    expect(bad.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(['limit', 'status']);
  });

  it('names the fields at fault, wants an Idempotency-Key, and answers 404 for an unknown dispute', async () => {
    const missingKey = await request(api.app).post(`/api/support/disputes/${disputeId}/evidence`).set(support.auth).send({ evidence: { uncategorized_text: 'x' } }).expect(400);
    expect(missingKey.body.error.fields).toEqual([{ path: 'Idempotency-Key', message: 'is required' }]);
    const unknownField = await postEvidence(disputeId, { evidence: { receipt: 'file_123' } }).expect(400);
    // The file field is named itself: only Stripe's text fields are taken.
    expect(new Set(unknownField.body.error.fields.map((f: { path: string }) => f.path))).toEqual(new Set(['evidence', 'evidence.receipt']));
    const empty = await postEvidence(disputeId, { evidence: {} }).expect(400);
    expect(empty.body.error.fields.map((f: { path: string }) => f.path)).toEqual(['evidence']);
    const badTypes = await postEvidence(disputeId, { evidence: { product_description: 42 }, submit: 'yes' }).expect(400);
    expect(badTypes.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(['evidence.product_description', 'submit']);
    await postEvidence(randomUUID(), { evidence: { uncategorized_text: 'x' } }).expect(404);
    await request(api.app).post(`/api/support/disputes/${randomUUID()}/accept`).set(support.auth).set('Idempotency-Key', randomUUID()).expect(404);
    await request(api.app).post('/api/support/disputes/not-a-uuid/accept').set(support.auth).set('Idempotency-Key', randomUUID()).expect(400);
  });

  it('stages evidence without submitting it, replays a retried request, and refuses to act on a decided dispute', async () => {
    const key = randomUUID();
    const staged = await postEvidence(disputeId, { evidence: { product_description: 'A kettle, shipped' }, submit: false }, key).expect(200);
    expect(staged.body.dispute).toMatchObject({ status: 'needs_response', evidenceSubmittedAt: null });
    const replayed = await postEvidence(disputeId, { evidence: { product_description: 'A kettle, shipped' }, submit: false }, key).expect(200);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    const { stripe_dispute_id: stripeDisputeId } = await db().selectFrom('disputes').select('stripe_dispute_id').where('id', '=', disputeId).executeTakeFirstOrThrow();
    const requests = (await testStripe.requests()).filter((logged) => logged.method === 'POST' && logged.path === `/v1/disputes/${stripeDisputeId}`);
    expect(requests.filter((logged) => logged.idempotencyKey?.includes('-evidence-'))).toHaveLength(1);

    await request(api.app).post(`/api/support/disputes/${disputeId}/accept`).set(support.auth).set('Idempotency-Key', randomUUID()).expect(200);
    const late = await postEvidence(disputeId, { evidence: { uncategorized_text: 'winning_evidence' } }).expect(409);
    expect(late.body.error.code).toBe('dispute_not_open');
    await request(api.app).post(`/api/support/disputes/${disputeId}/accept`).set(support.auth).set('Idempotency-Key', randomUUID()).expect(409);
  });
});

describe('the staff audit log', () => {
  it('records staged evidence and the acceptance, with the support member, the dispute and the request id', async () => {
    const { pledges } = await fundedCampaign([{ amount: 10_000, card: 'pm_card_createDispute' }]);
    const dispute = await disputeOf(pledges[0]!.chargeId);
    await deliver('charge.dispute.created', dispute.id);
    const row = await disputeRow(dispute.id);
    await request(api.app)
      .post(`/api/support/disputes/${row.id}/evidence`)
      .set(support.auth)
      .set('Idempotency-Key', randomUUID())
      .set('X-Request-Id', 'req-evidence-1')
      .send({ evidence: { uncategorized_text: 'A kettle, delivered', customer_name: 'Ada' }, submit: false })
      .expect(200);
    await request(api.app).post(`/api/support/disputes/${row.id}/accept`).set(support.auth).set('Idempotency-Key', randomUUID()).set('X-Request-Id', 'req-accept-1').expect(200);

    const audited = await db().selectFrom('staff_audit_log').selectAll().where('object_id', '=', row.id).orderBy('id').execute();
    expect(audited).toEqual([
      expect.objectContaining({ action: 'dispute.evidence_submitted', object_type: 'dispute', actor_id: support.id, actor_role: 'support', request_id: 'req-evidence-1' }),
      expect.objectContaining({ action: 'dispute.accepted', object_type: 'dispute', actor_id: support.id, actor_role: 'support', request_id: 'req-accept-1' }),
    ]);
    // Which fields were sent, never their text (the backer's personal data stays with Stripe).
    expect(audited[0]!.details).toMatchObject({ fields: ['customer_name', 'uncategorized_text'], submitted: false });
    expect(JSON.stringify(audited[0]!.details)).not.toContain('Ada');
    expect(audited[1]!.details).toMatchObject({ amount: 10_000, currency: 'USD', status: 'lost' });
  });
});
