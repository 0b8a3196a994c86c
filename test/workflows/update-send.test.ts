/**
 * The send of a creator update (workflows/update-send.ts) on the Temporal stand-in and real Postgres: 10,000 backers
 * are queued page by page (one transaction and one activity each, never one for all), paced, with continue-as-new
 * keeping each run's history small; and one mail per backer holds when a page's answer is lost after its commit,
 * when a page is queued again, and when the worker process is killed mid-send and started again.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type WorkflowExecutionInfo } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { sql } from 'kysely';
import { createDatabaseActivities } from '../../activities';
import { type PledgeStatus } from '../../db/schema';
import { CampaignUpdateSends } from '../../src/temporal/campaign-update-sends';
import { queueUpdatePage } from '../../src/updates/queue-update-page';
import { campaignUpdateSendWorkflowId, type UpdateSendPacing } from '../../workflows/update-send';
import { createCampaign, createUser, days, type TestUser } from '../helpers/campaign-fixtures';
import { createDedicatedDatabase, type DedicatedDatabase } from '../helpers/db';
import { createTestPlatform, type TestPlatform, workflowBundle } from '../helpers/platform';
import { startSourceWorkerProcess } from '../helpers/source-worker-process';
import { TEST_STRIPE_KEY } from '../helpers/stripe';
import { type WorkerProcess } from '../helpers/worker-process';

const EventType = temporal.api.enums.v1.EventType;

let p: TestPlatform;
let database: DedicatedDatabase;
let creator: TestUser;
let bundleDir: string;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  // A database of its own: the killed worker runs in another process, which reaches it by URL alone.
  database = await createDedicatedDatabase();
  try {
    p = await createTestPlatform({ TEMPORAL_TASK_QUEUE: `campaigns-${database.name}`, TEMPORAL_STRIPE_TASK_QUEUE: `stripe-${database.name}` }, { database });
  } catch (error) {
    await database.drop();
    throw error;
  }
  creator = await createUser(p);
  bundleDir = mkdtempSync(join(tmpdir(), 'update-send-'));
  // Bundled here, so that the tests' timings are the sends'.
  await workflowBundle();
}, 60_000);
afterAll(async () => {
  await worker?.kill('SIGKILL');
  await p?.close();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

const db = () => p.testDb.database.db;

/** `count` new users pledging to the campaign with `status`, written with SQL in one statement; their ids. */
async function backers(campaignId: string, count: number, status: PledgeStatus = 'captured'): Promise<string[]> {
  const rows = await sql<{ id: string }>`
    with made as (
      insert into users (email, name, password_hash)
      select gen_random_uuid() || '@example.com', 'Backer ' || n, 'x' from generate_series(1, ${count}) as n
      returning id
    )
    insert into pledges (campaign_id, backer_id, amount, currency, status)
    select ${campaignId}, id, 1000, 'USD', ${status} from made
    returning backer_id as id`.execute(db());
  return rows.rows.map((row) => row.id);
}

async function newUpdate(campaignId: string) {
  return db()
    .insertInto('campaign_updates')
    .values({ campaign_id: campaignId, author_id: creator.id, number: 1, title: 'We shipped', body: '**Every** kettle left the factory.', audience: 'backers' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function startSend(update: { id: string; campaign_id: string; number: number }, pacing: UpdateSendPacing) {
  const started = await new CampaignUpdateSends(p.env.client, p.config, pacing).start({ id: update.id, campaignId: update.campaign_id, number: update.number });
  expect(started).toBe(true);
  return p.env.client.workflow.getHandle(campaignUpdateSendWorkflowId(update.id));
}

/** The update's outbox rows: how many, to how many people, written by how many transactions (each has its own now()). */
async function outbox(updateId: string) {
  const row = await sql<{ mails: number; recipients: number; transactions: number; largest: number }>`
    select count(*)::int as mails, count(distinct recipient_id)::int as recipients, count(distinct created_at)::int as transactions,
           coalesce(max(per_transaction), 0)::int as largest
    from (select recipient_id, created_at, count(*) over (partition by created_at) as per_transaction
          from notifications where dedupe_key like ${`update-${updateId}-%`}) as mails`.execute(db());
  return row.rows[0]!;
}

/** Recipients the send should have reached and missed, and people it reached that it should not have. */
async function misdirected(updateId: string, campaignId: string) {
  const row = await sql<{ missed: number; extra: number }>`
    with due as (
      select distinct backer_id as id from pledges
      where campaign_id = ${campaignId} and status in ('pending', 'requires_action', 'authorized', 'captured', 'errored', 'released')
        and not exists (select 1 from campaign_unsubscribes u where u.user_id = pledges.backer_id and u.campaign_id = ${campaignId})
    ), mailed as (select recipient_id as id from notifications where dedupe_key like ${`update-${updateId}-%`})
    select (select count(*) from due where id not in (select id from mailed))::int as missed,
           (select count(*) from mailed where id not in (select id from due))::int as extra`.execute(db());
  return row.rows[0]!;
}

/** Every run of the workflow id, with its history. */
async function runsOf(workflowId: string) {
  const executions: WorkflowExecutionInfo[] = [];
  for await (const execution of p.env.client.workflow.list()) if (execution.workflowId === workflowId) executions.push(execution);
  return Promise.all(executions.map(async (execution) => ({ execution, history: await p.env.client.workflow.getHandle(workflowId, execution.runId).fetchHistory() })));
}

const countEvents = (runs: Awaited<ReturnType<typeof runsOf>>, type: temporal.api.enums.v1.EventType) =>
  runs.reduce((sum, run) => sum + (run.history.events ?? []).filter((event) => event.eventType === type).length, 0);

test('10,000 backers: 20 pages of 500, each its own transaction and activity, paced, over 4 runs; one mail each, none to who is not a backer', async () => {
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10), status: 'active' });
  const mailed = await backers(campaign.id, 10_000);
  // One backer with a second pledge (released): still one mail.
  await db().insertInto('pledges').values({ campaign_id: campaign.id, backer_id: mailed[0]!, amount: 500, currency: 'USD', status: 'released' }).execute();
  // Not backers any more, and backers who unsubscribed from this campaign's updates.
  for (const status of ['cancelled', 'refunded', 'dropped', 'failed'] as const) await backers(campaign.id, 10, status);
  const unsubscribed = await backers(campaign.id, 30);
  await db().insertInto('campaign_unsubscribes').values(unsubscribed.map((userId) => ({ user_id: userId, campaign_id: campaign.id }))).execute();

  const update = await newUpdate(campaign.id);
  const startedAt = Date.now();
  const handle = await startSend(update, { pageSize: 500, pagesPerSecond: 2, pagesPerRun: 6 });
  const result = await p.runWorkers(() => handle.result());
  const elapsedMs = Date.now() - startedAt;

  expect(result).toEqual({ recipients: 10_000, pages: 20 });
  expect(await outbox(update.id)).toEqual({ mails: 10_000, recipients: 10_000, transactions: 20, largest: 500 });
  expect(await misdirected(update.id, campaign.id)).toEqual({ missed: 0, extra: 0 });
  expect(await db().selectFrom('campaign_updates').select(['send_status', 'recipients_queued', 'pages_queued']).where('id', '=', update.id).executeTakeFirstOrThrow()).toEqual({
    send_status: 'sent',
    recipients_queued: 10_000,
    pages_queued: 20,
  });

  const runs = await runsOf(handle.workflowId);
  // 20 pages at 6 a run: 6 + 6 + 6 + 2, three of them continued as new.
  expect(runs).toHaveLength(4);
  expect(countEvents(runs, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)).toBe(20);
  expect(countEvents(runs, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)).toBe(3);
  // Paced: a timer between pages (not after the last).
  expect(countEvents(runs, EventType.EVENT_TYPE_TIMER_FIRED)).toBe(19);
  const longest = Math.max(...runs.map((run) => run.history.events?.length ?? 0));
  expect(longest).toBeLessThan(100);
  const span = await sql<{ ms: number }>`
    select (extract(epoch from max(created_at) - min(created_at)) * 1000)::int as ms from notifications where dedupe_key like ${`update-${update.id}-%`}`.execute(db());
  console.log(
    `update send: 10,000 backers in 20 pages over ${runs.length} runs (longest history ${longest} events); ` +
      `first to last page ${span.rows[0]!.ms} ms (pacing skipped by the test clock); ${elapsedMs} ms with the workers' start`,
  );
}, 120_000);

test('a page whose answer is lost after its commit is retried, the whole send started again changes nothing, and a page queued twice mails no one twice', async () => {
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10), status: 'active' });
  const mailed = await backers(campaign.id, 1_200);
  await db().insertInto('pledges').values({ campaign_id: campaign.id, backer_id: mailed[7]!, amount: 500, currency: 'USD', status: 'released' }).execute();
  const update = await newUpdate(campaign.id);
  const pacing = { pageSize: 500, pagesPerSecond: 2, pagesPerRun: 10 };
  const handle = await startSend(update, pacing);

  // The first two pages commit, then the worker "dies" before Temporal hears of it: Temporal tries them again.
  const deps = { database: p.testDb.database, stripe: p.stripe, config: p.config, mailer: { send: async () => undefined, close: () => undefined } };
  const activities = createDatabaseActivities(deps);
  let calls = 0;
  const flaky = await Worker.create({
    connection: p.env.nativeConnection,
    namespace: p.config.temporal.namespace,
    taskQueue: p.config.temporal.taskQueue,
    workflowBundle: await workflowBundle(),
    shutdownGraceTime: '1 second',
    activities: {
      ...activities,
      async queueCampaignUpdatePage(input: { updateId: string; limit: number }) {
        const page = await activities.queueCampaignUpdatePage(input);
        if (++calls <= 2) throw new Error('the worker died after the page committed');
        return page;
      },
    },
  });
  const result = await flaky.runUntil(handle.result());
  // One activity, tried three times: each retry found the page before it committed and went on to the next.
  expect(calls).toBe(3);
  expect(result).toEqual({ recipients: 1_200, pages: 3 });
  expect(await outbox(update.id)).toMatchObject({ mails: 1_200, recipients: 1_200, transactions: 3 });

  // Started again (a retried POST, a sweep): the send is done, nothing runs.
  expect(await new CampaignUpdateSends(p.env.client, p.config, pacing).start({ id: update.id, campaignId: campaign.id, number: update.number })).toBe(false);
  expect(await runsOf(handle.workflowId)).toHaveLength(1);

  // Its progress lost (an operator resets it): every page is queued again, and the outbox's dedupe keys hold.
  await db().updateTable('campaign_updates').set({ send_status: 'sending', send_cursor: null, recipients_queued: 0, pages_queued: 0 }).where('id', '=', update.id).execute();
  let page;
  do page = await queueUpdatePage({ database: p.testDb.database, config: p.config }, { updateId: update.id, limit: 500 });
  while (!page.done);
  expect(page.recipientsQueued).toBe(1_200);
  expect(await outbox(update.id)).toMatchObject({ mails: 1_200, recipients: 1_200 });
  expect(await misdirected(update.id, campaign.id)).toEqual({ missed: 0, extra: 0 });
}, 60_000);

test('the worker process killed twice mid-send and started again: every backer mailed exactly once', async () => {
  const bundlePath = join(bundleDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await workflowBundle()).code);
  const env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: '5',
    TEMPORAL_ADDRESS: p.env.address,
    TEMPORAL_NAMESPACE: p.config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: p.config.temporal.taskQueue,
    TEMPORAL_STRIPE_TASK_QUEUE: p.config.temporal.stripeTaskQueue,
    STRIPE_SECRET_KEY: TEST_STRIPE_KEY,
    STRIPE_API_BASE: p.testStripe.url,
    WORKFLOW_BUNDLE_PATH: bundlePath,
  };
  const campaign = await createCampaign(p, creator, { model: 'aon', goal: 100_000, durationMs: days(10), status: 'active' });
  await backers(campaign.id, 3_000);
  const update = await newUpdate(campaign.id);
  worker = await startSourceWorkerProcess(env);
  const startedAt = Date.now();
  // 30 pages, 5 a second in real time (time does not skip until the test waits for the result), 10 a run.
  const handle = await startSend(update, { pageSize: 100, pagesPerSecond: 5, pagesPerRun: 10 });

  const pagesQueued = async () => (await db().selectFrom('campaign_updates').select('pages_queued').where('id', '=', update.id).executeTakeFirstOrThrow()).pages_queued;
  const kills: Array<{ afterPage: number; pauseMs: number; restartMs: number }> = [];
  for (const [from, to] of [[3, 11], [15, 24]] as const) {
    const point = randomInt(from, to + 1);
    await until(async () => (await pagesQueued()) >= point, 60_000);
    // Anywhere in the page that follows: between pages, mid-transaction, or committed and not yet reported.
    const pauseMs = randomInt(0, 200);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    await worker.kill('SIGKILL');
    const afterPage = await pagesQueued();
    const restarting = Date.now();
    worker = await startSourceWorkerProcess(env);
    kills.push({ afterPage, pauseMs, restartMs: Date.now() - restarting });
  }
  const result = await handle.result();
  await worker.kill('SIGKILL');
  worker = undefined;

  console.log(`update send kill drill: 3,000 backers in 30 pages in ${Date.now() - startedAt} ms; kills ${JSON.stringify(kills)}`);
  for (const kill of kills) expect(kill.afterPage).toBeLessThan(30);
  expect(result).toEqual({ recipients: 3_000, pages: 30 });
  expect(await outbox(update.id)).toMatchObject({ mails: 3_000, recipients: 3_000, transactions: 30 });
  expect(await misdirected(update.id, campaign.id)).toEqual({ missed: 0, extra: 0 });
}, 180_000);

async function until(done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
