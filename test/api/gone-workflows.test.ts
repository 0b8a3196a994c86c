/**
 * Signals and queries to a workflow that is gone (never started, ended, or terminated by an operator) answer 409 or
 * 404 with the API's error shape, never a 500: cancel, refunds (support's and a backer's cancellation of a charged
 * pledge), retry-settlement, a new card for a failed pledge, the ops state, and a Connect account update. Against the
 * Temporal stand-in with no worker: nothing runs the workflows, so they can be started and terminated at will.
 */
import { randomUUID } from 'node:crypto';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import request from 'supertest';
import { CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { campaignWorkflowId } from '../../workflows/messages';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';
import { createTestWorkflowEnvironment } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let api: TestApi;
let stripe: TestStripe;
let workflows: CampaignWorkflows;
let ops: { id: string; auth: { Authorization: string } };
let support: { id: string; auth: { Authorization: string } };

beforeAll(async () => {
  env = await createTestWorkflowEnvironment({ searchAttributes: true });
  stripe = await startTestStripe();
  api = await createTestApi({}, { stripe: stripe.stripe });
  workflows = new CampaignWorkflows(env.client, api.context.config);
  api.context.campaignWorkflows = workflows;
  ops = await staff('ops');
  support = await staff('support');
}, 60_000);
afterAll(async () => {
  await api.close();
  await stripe.close();
  await env.teardown();
});

async function staff(role: 'support' | 'ops') {
  const user = await tokenUser(api, role);
  await api.context.database.db.updateTable('users').set({ role }).where('id', '=', user.id).execute();
  return user;
}

/** A campaign whose workflow was started (nothing runs it) and then terminated, as an operator can in Temporal UI. */
async function terminatedCampaign(model: 'aon' | 'kia' = 'aon') {
  const creator = await tokenUser(api, 'Creator');
  const campaign = await campaignRow(api, { model, creatorId: creator.id });
  await workflows.start({ id: campaign.id, title: campaign.title, creatorId: creator.id, model, endsAt: campaign.ends_at });
  await env.client.workflow.getHandle(campaignWorkflowId(campaign.id)).terminate('test: the workflow is gone');
  return { campaign, creator };
}

/** A keep-it-all pledge charged through the API (its campaign's workflow already gone). */
async function chargedPledge(campaignId: string) {
  const backer = await tokenUser(api);
  const placed = await request(api.app)
    .post(`/api/campaigns/${campaignId}/pledges`)
    .set(backer.auth)
    .set('Idempotency-Key', randomUUID())
    .send({ amount: '20.00', paymentMethodId: 'pm_card_visa' })
    .expect(201);
  return { backer, pledgeId: (placed.body as { id: string }).id };
}

const errorCode = (response: request.Response) => (response.body as { error: { code: string } }).error.code;

test('cancelling a campaign whose workflow is gone is 409, for its creator and for ops', async () => {
  const { campaign, creator } = await terminatedCampaign();
  const byCreator = await request(api.app).post(`/api/campaigns/${campaign.id}/cancel`).set(creator.auth).send({ reason: 'Supplier went bust' });
  expect([byCreator.status, errorCode(byCreator)]).toEqual([409, 'campaign_workflow_closed']);
  const byOps = await request(api.app).post(`/api/campaigns/${campaign.id}/cancel`).set(ops.auth).send({ reason: 'Fraud' });
  expect([byOps.status, errorCode(byOps)]).toEqual([409, 'campaign_workflow_closed']);
  // Never started at all: the same answer.
  const creatorOfOther = await tokenUser(api, 'Creator');
  const neverStarted = await campaignRow(api, { creatorId: creatorOfOther.id });
  const response = await request(api.app).post(`/api/campaigns/${neverStarted.id}/cancel`).set(creatorOfOther.auth).send({ reason: 'Changed my mind' });
  expect([response.status, errorCode(response)]).toEqual([409, 'campaign_workflow_closed']);
  // Not audited: nothing was cancelled.
  expect(await api.context.database.db.selectFrom('staff_audit_log').select('id').where('object_id', '=', campaign.id).execute()).toEqual([]);
});

test('a refund (support’s, or a backer cancelling a charged pledge) to a workflow that is gone is 409, the refund row failed', async () => {
  const { campaign } = await terminatedCampaign('kia');
  const first = await chargedPledge(campaign.id);
  const bySupport = await request(api.app).post(`/api/support/pledges/${first.pledgeId}/refunds`).set(support.auth).set('Idempotency-Key', randomUUID()).send({ reason: 'Asked for it' });
  expect([bySupport.status, errorCode(bySupport)]).toEqual([409, 'refund_window_closed']);

  const second = await chargedPledge(campaign.id);
  const byBacker = await request(api.app).delete(`/api/pledges/${second.pledgeId}`).set(second.backer.auth);
  expect([byBacker.status, errorCode(byBacker)]).toEqual([409, 'refund_window_closed']);

  const refunds = await api.context.database.db.selectFrom('refunds').select(['pledge_id', 'status']).where('pledge_id', 'in', [first.pledgeId, second.pledgeId]).execute();
  expect(refunds.map((r) => r.status)).toEqual(['failed', 'failed']);
});

test('ops: retry-settlement and the workflow state of a campaign whose workflow is gone are 404', async () => {
  const neverStarted = await campaignRow(api);
  for (const id of [neverStarted.id]) {
    const retry = await request(api.app).post(`/api/ops/campaigns/${id}/retry-settlement`).set(ops.auth);
    expect([retry.status, errorCode(retry)]).toEqual([404, 'not_found']);
    const state = await request(api.app).get(`/api/ops/campaigns/${id}`).set(ops.auth);
    expect([state.status, errorCode(state)]).toEqual([404, 'not_found']);
  }
  const { campaign } = await terminatedCampaign();
  const retry = await request(api.app).post(`/api/ops/campaigns/${campaign.id}/retry-settlement`).set(ops.auth);
  expect([retry.status, errorCode(retry)]).toEqual([404, 'not_found']);
});

test('a new card for a failed pledge whose settlement has ended is 409; the card stays saved', async () => {
  const campaign = await campaignRow(api, { model: 'kia' });
  const { backer, pledgeId } = await chargedPledge(campaign.id);
  // As if its settlement charge had failed and the settlement child had since ended.
  await api.context.database.db.updateTable('pledges').set({ status: 'errored', grace_ends_at: new Date(Date.now() + 86_400_000) }).where('id', '=', pledgeId).execute();
  const response = await request(api.app).post(`/api/pledges/${pledgeId}/payment-method`).set(backer.auth).send({ paymentMethodId: 'pm_card_mastercard' });
  expect([response.status, errorCode(response)]).toEqual([409, 'settlement_closed']);
  const saved = await api.context.database.db.selectFrom('pledges').select('payment_method_id').where('id', '=', pledgeId).executeTakeFirstOrThrow();
  expect(saved.payment_method_id).not.toBeNull();
});

test('a Connect account update for a campaign whose workflow is gone is not an error', async () => {
  const { campaign } = await terminatedCampaign();
  await expect(workflows.connectAccountUpdated(campaign.id)).resolves.toBeUndefined();
  await expect(workflows.connectAccountUpdated(randomUUID())).resolves.toBeUndefined();
});
