/**
 * Reconciliation through the API runs as a background job: POST answers 202 at once (no Stripe call inside the
 * request), one run per campaign at a time (repeated POSTs find it), GET shows its progress and then the same report
 * `npm run reconcile` computes; runs are bounded per process, a run whose process died is replaced, and one stopped
 * by a shutdown or failed by Stripe says so.
 */
import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import request from 'supertest';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { ReconciliationJobs, type ReconciliationJobsOptions } from '../../src/reconciliation/reconciliation-jobs';
import { reconciliationView } from '../../src/reconciliation/report';
import { campaignRow, createTestApi, type TestApi, tokenUser } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

let api: TestApi;
let stripe: TestStripe;
let ops: { id: string; auth: { Authorization: string } };
let jobs: ReconciliationJobs | undefined;

beforeAll(async () => {
  stripe = await startTestStripe();
  api = await createTestApi({}, { stripe: stripe.stripe });
  ops = await staff('ops');
});
afterEach(async () => {
  await jobs?.stop();
  jobs = undefined;
});
afterAll(async () => {
  await api.close();
  await stripe.close();
});

interface JobView {
  id: string;
  status: string;
  progress: { pledgesChecked: number; pledgesTotal: number | null };
  result: { balanced: boolean } | null;
  error: string | null;
  alreadyRunning?: boolean;
}

async function staff(role: 'support' | 'ops') {
  const user = await tokenUser(api, role);
  await api.context.database.db.updateTable('users').set({ role }).where('id', '=', user.id).execute();
  return user;
}

/** This test's runner, on the API's context, with a Stripe client that may be slowed or broken. */
function useJobs(options: Partial<ReconciliationJobsOptions> = {}, client: Stripe = stripe.stripe): ReconciliationJobs {
  jobs = new ReconciliationJobs({ db: api.context.database.db, stripe: client, logger: api.context.logger, ...options });
  api.context.reconciliationJobs = jobs;
  return jobs;
}

/** A Stripe client whose PaymentIntent reads wait for `open()` (and may fail), counting how many run at once. */
function gatedStripe(failWith?: Error) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const stats = { inFlight: 0, maxInFlight: 0, calls: 0 };
  const client = Object.create(stripe.stripe) as Stripe;
  Object.defineProperty(client, 'paymentIntents', {
    value: {
      retrieve: async (...args: Parameters<Stripe['paymentIntents']['retrieve']>) => {
        stats.calls += 1;
        stats.inFlight += 1;
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
        try {
          await gate;
          if (failWith) throw failWith;
          return await stripe.stripe.paymentIntents.retrieve(...args);
        } finally {
          stats.inFlight -= 1;
        }
      },
    },
  });
  return { client, open: release, stats };
}

/** A keep-it-all campaign with `count` pledges captured through the API. */
async function fundedCampaign(count: number): Promise<string> {
  const campaign = await campaignRow(api, { model: 'kia' });
  for (let i = 0; i < count; i++) {
    const backer = await tokenUser(api);
    await request(api.app)
      .post(`/api/campaigns/${campaign.id}/pledges`)
      .set(backer.auth)
      .set('Idempotency-Key', randomUUID())
      .send({ amount: `${10 + i}.00`, paymentMethodId: 'pm_card_visa' })
      .expect(201);
  }
  return campaign.id;
}

const start = (campaignId: string) => request(api.app).post(`/api/ops/campaigns/${campaignId}/reconciliation`).set(ops.auth);
const latest = (campaignId: string) => request(api.app).get(`/api/ops/campaigns/${campaignId}/reconciliation`).set(ops.auth);

async function until(campaignId: string, done: (job: JobView) => boolean, timeoutMs = 10_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await latest(campaignId).expect(200)).body as JobView;
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test('POST answers 202 before Stripe is asked; repeated POSTs find the same run; GET shows progress, then the report', async () => {
  const campaignId = await fundedCampaign(3);
  const gated = gatedStripe();
  useJobs({ progressWriteMs: 0 }, gated.client);

  const first = await start(campaignId).expect(202);
  const job = first.body as JobView;
  expect(first.headers.location).toBe(`/api/ops/campaigns/${campaignId}/reconciliation`);
  expect(job).toMatchObject({ status: 'queued', alreadyRunning: false, result: null });
  // Several at once, as a double-click or a retrying client would: all find the one run.
  const again = await Promise.all(Array.from({ length: 5 }, () => start(campaignId).expect(202)));
  for (const response of again) expect(response.body).toMatchObject({ id: job.id, alreadyRunning: true });

  const running = await until(campaignId, (j) => j.status === 'running' && j.progress.pledgesTotal === 3);
  expect(running).toMatchObject({ id: job.id, progress: { pledgesChecked: 0, pledgesTotal: 3 }, result: null });
  expect(gated.stats.calls).toBe(1);

  gated.open();
  const done = await until(campaignId, (j) => j.status === 'succeeded');
  expect(done).toMatchObject({ id: job.id, progress: { pledgesChecked: 3, pledgesTotal: 3 }, error: null });
  expect(done.result).toEqual(JSON.parse(JSON.stringify(reconciliationView(await reconcileCampaign(api.context.database.db, campaignId, stripe.stripe)))));
  expect(done.result?.balanced).toBe(true);
  expect(gated.stats.calls).toBe(3);

  // Finished: the next POST starts a new run.
  const next = (await start(campaignId).expect(202)).body as JobView;
  expect(next.id).not.toBe(job.id);
  expect(next.alreadyRunning).toBe(false);
  await until(campaignId, (j) => j.id === next.id && j.status === 'succeeded');
});

test('one process runs a bounded number of reconciliations at once; the rest wait queued', async () => {
  const campaigns = [await fundedCampaign(1), await fundedCampaign(1), await fundedCampaign(1)];
  const gated = gatedStripe();
  useJobs({ concurrency: 2 }, gated.client);
  for (const id of campaigns) await start(id).expect(202);
  await until(campaigns[1]!, (j) => j.status === 'running');
  for (let waited = 0; gated.stats.inFlight < 2 && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(((await latest(campaigns[2]!).expect(200)).body as JobView).status).toBe('queued');
  expect(gated.stats.maxInFlight).toBe(2);
  gated.open();
  for (const id of campaigns) await until(id, (j) => j.status === 'succeeded');
  expect(gated.stats.maxInFlight).toBe(2);
});

test('a run whose process died (no heartbeat) is shown failed and replaced by the next POST', async () => {
  const campaignId = (await campaignRow(api)).id;
  useJobs({ staleAfterMs: 60_000 });
  const orphan = await api.context.database.db
    .insertInto('reconciliation_jobs')
    .values({ campaign_id: campaignId, requested_by: ops.id, status: 'running', heartbeat_at: new Date(Date.now() - 5 * 60_000) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const shown = (await latest(campaignId).expect(200)).body as JobView;
  expect(shown).toMatchObject({ id: orphan.id, status: 'failed', error: expect.stringMatching(/^abandoned/) as string });
  const replaced = (await start(campaignId).expect(202)).body as JobView;
  expect(replaced).toMatchObject({ alreadyRunning: false });
  expect(replaced.id).not.toBe(orphan.id);
  await until(campaignId, (j) => j.id === replaced.id && j.status === 'succeeded');
});

test('a shutdown stops running and queued runs and says so; Stripe failing fails the run without internals', async () => {
  // Two pledges: the stop is seen between them (a run that reaches its end first records its report).
  const [slow, waiting] = [await fundedCampaign(2), await fundedCampaign(1)];
  const gated = gatedStripe();
  const runner = useJobs({ concurrency: 1 }, gated.client);
  await start(slow).expect(202);
  await start(waiting).expect(202);
  await until(slow, (j) => j.status === 'running');
  const stopping = runner.stop();
  gated.open();
  await stopping;
  for (const id of [slow, waiting]) expect((await until(id, (j) => j.status === 'failed')).error).toMatch(/^interrupted: the API process shut down/);
  const refused = await start(slow).expect(503);
  expect(refused.body.error.code).toBe('shutting_down');

  const broken = gatedStripe(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { type: 'StripeConnectionError' }));
  useJobs({}, broken.client);
  broken.open();
  await start(slow).expect(202);
  const failed = await until(slow, (j) => j.status === 'failed');
  expect(failed.error).toBe('Stripe did not answer; request it again later');
  expect(failed.result).toBeNull();
});

test('ops only; an unknown campaign is 404, and so is one never reconciled', async () => {
  useJobs();
  const campaignId = (await campaignRow(api)).id;
  const user = await tokenUser(api);
  const support = await staff('support');
  for (const call of [(r: request.Test) => r, (r: request.Test) => r.set(user.auth), (r: request.Test) => r.set(support.auth)]) {
    for (const method of ['post', 'get'] as const) {
      const status = (await call(request(api.app)[method](`/api/ops/campaigns/${campaignId}/reconciliation`))).status;
      expect(status === 401 || status === 403).toBe(true);
    }
  }
  await request(api.app).get(`/api/ops/campaigns/${campaignId}/reconciliation`).expect(401);
  await request(api.app).post(`/api/ops/campaigns/${campaignId}/reconciliation`).set(support.auth).expect(403);
  await latest(campaignId).expect(404);
  await start(randomUUID()).expect(404);
  await latest(randomUUID()).expect(404);
  expect(await api.context.database.db.selectFrom('reconciliation_jobs').select('id').where('campaign_id', '=', campaignId).execute()).toEqual([]);
});
