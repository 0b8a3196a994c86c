/**
 * Support refunds take an `Idempotency-Key` as pledge placement does (issue #14, defect 9): a retried or
 * double-clicked refund is one refund; the same key with another body is a 422; while the first request runs, a
 * 409; without a key, a 400 naming the header. The campaign workflow is stood in for by the refund activity it
 * runs on each refund signal, so every signal is a real refund on the Stripe stand-in.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createRefundActivities } from '../../activities/refunds';
import { createApp } from '../../src/api/app';
import { type ApiContext } from '../../src/api/context';
import { issueToken } from '../../src/auth/tokens';
import { createLogger } from '../../src/logger';
import { type CampaignWorkflows } from '../../src/temporal/campaign-workflows';
import { createRefundWorld, type RefundWorld } from '../helpers/refund-fixtures';

let w: RefundWorld;
let app: ReturnType<typeof createApp>;
let signals: string[];
/** While set, a refund signal waits for it: the request that sent it is still running. */
let gate: Promise<void> | null = null;
/** When set, the next signal reaches the workflow but its answer is lost on the way back (the API answers 500). */
let loseNextAnswer = false;
let support: { Authorization: string };
let backer: { Authorization: string };

beforeAll(async () => {
  w = await createRefundWorld();
  const refunds = createRefundActivities(w.deps);
  signals = [];
  const workflows = {
    async refund(_campaignId: string, refundId: string) {
      signals.push(refundId);
      await gate;
      await refunds.executeRefund({ refundId });
      if (loseNextAnswer) {
        loseNextAnswer = false;
        throw new Error('connection to Temporal lost');
      }
    },
  } as Pick<CampaignWorkflows, 'refund'> as CampaignWorkflows;
  const context: ApiContext = { config: w.deps.config, database: w.testDb.database, logger: createLogger('silent'), stripe: w.deps.stripe, campaignWorkflows: workflows };
  app = createApp(context);
  // Sessions as a sign-in with the second factor leaves them (support's needs it).
  const token = async (role: 'user' | 'support') => ({ Authorization: `Bearer ${await issueToken(w.testDb.database.db, w.deps.config.auth.secret, (await w.user(role)).id, 86_400_000, { secondFactor: true })}` });
  support = await token('support');
  backer = await token('user');
});
afterAll(() => w.close());

const refundRows = (pledgeId: string) => w.testDb.database.db.selectFrom('refunds').select(['id', 'amount', 'status']).where('pledge_id', '=', pledgeId).execute();
const stripeRefunds = async (paymentIntentId: string) => (await w.deps.stripe.refunds.list({ payment_intent: paymentIntentId, limit: 100 })).data;

test('the same key twice is one refund, and the second answer is the first one replayed', async () => {
  const { pledgeId, paymentIntentId } = await w.collectedPledge(10_000);
  const key = randomUUID();
  const send = (body: object) => request(app).post(`/api/support/pledges/${pledgeId}/refunds`).set(support).set('Idempotency-Key', key).send(body);

  const first = await send({ amount: '25.00', reason: 'item damaged' }).expect(202);
  expect(first.body).toEqual({ refundId: expect.any(String), status: 'requested' });
  const again = await send({ amount: '25.00', reason: 'item damaged' }).expect(202);
  expect(again.body).toEqual(first.body);
  expect(again.headers['idempotent-replayed']).toBe('true');

  const other = await send({ amount: '30.00', reason: 'item damaged' }).expect(422);
  expect(other.body.error.code).toBe('idempotency_key_reused');

  expect(signals.filter((id) => id === first.body.refundId)).toHaveLength(1);
  expect(await refundRows(pledgeId)).toEqual([{ id: first.body.refundId, amount: 2_500, status: 'succeeded' }]);
  expect((await stripeRefunds(paymentIntentId)).map((refund) => refund.amount)).toEqual([2_500]);
});

test('a second request with the key while the first is still running is a 409, and nothing is refunded twice', async () => {
  const { pledgeId, paymentIntentId } = await w.collectedPledge(10_000);
  const key = randomUUID();
  const send = () => request(app).post(`/api/support/pledges/${pledgeId}/refunds`).set(support).set('Idempotency-Key', key).send({ reason: 'double click' });
  let open!: () => void;
  gate = new Promise((resolve) => (open = resolve));
  const signalled = signals.length;
  const first = send().then((response) => response);
  try {
    while (signals.length === signalled) await new Promise((resolve) => setTimeout(resolve, 10));
    const busy = await send().expect(409);
    expect(busy.body.error.code).toBe('request_in_progress');
  } finally {
    open();
    gate = null;
  }
  expect((await first).status).toBe(202);
  expect(await refundRows(pledgeId)).toEqual([{ id: (await first).body.refundId, amount: 10_000, status: 'succeeded' }]);
  expect(await stripeRefunds(paymentIntentId)).toHaveLength(1);
});

test('a refund without a key is refused with a 400 naming Idempotency-Key, after the role check', async () => {
  const { pledgeId } = await w.collectedPledge(10_000);
  const refused = await request(app).post(`/api/support/pledges/${pledgeId}/refunds`).set(support).send({ reason: 'no key' }).expect(400);
  expect(refused.body.error.fields).toEqual([{ path: 'Idempotency-Key', message: expect.any(String) }]);
  await request(app).post(`/api/support/pledges/${pledgeId}/refunds`).set(backer).send({ reason: 'not staff' }).expect(403);
  await request(app).post(`/api/support/pledges/${pledgeId}/refunds`).set(backer).set('Idempotency-Key', randomUUID()).send({ reason: 'not staff' }).expect(403);
  expect(await refundRows(pledgeId)).toEqual([]);
});

test('a request that died after its refund was under way, retried with its key, finds that refund instead of making another', async () => {
  const { pledgeId, paymentIntentId } = await w.collectedPledge(10_000);
  const key = randomUUID();
  const send = () => request(app).post(`/api/support/pledges/${pledgeId}/refunds`).set(support).set('Idempotency-Key', key).send({ amount: '40.00', reason: 'late delivery' });
  loseNextAnswer = true;
  await send().expect(500);
  const retried = await send().expect(202);
  const rows = await refundRows(pledgeId);
  expect(rows).toEqual([{ id: retried.body.refundId, amount: 4_000, status: 'succeeded' }]);
  expect(retried.body).toEqual({ refundId: rows[0]!.id, status: 'succeeded' });
  expect((await stripeRefunds(paymentIntentId)).map((refund) => refund.amount)).toEqual([4_000]);
});
