/**
 * Fault drill: Postgres restarts while backers are placing pledges. A private embedded Postgres (the shared one on
 * 5432 serves other test files) is shut down and started again after some placements reached Stripe, so the
 * outage lands between a pledge row and Stripe's answer for real. Backers retry with the same Idempotency-Key as a
 * frontend would, some give up, and the pending-pledge sweep runs. Then: no pledge lost, no orphan or duplicate
 * Stripe object, nobody held or charged twice, reward claims equal live pledges, keep-it-all money reconciles.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { type Server } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { AppDatabase } from '../../db/database';
import { type Campaign, LIVE_PLEDGE_STATUSES, type Pledge, type Reward } from '../../db/schema';
import { createApp } from '../../src/api/app';
import { IN_PROGRESS_LEASE_MS } from '../../src/api/idempotency';
import { issueToken } from '../../src/auth/tokens';
import { type Config, loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { resolvePendingPledges } from '../../src/pledges/resolve-pending-pledges';
import { reconcileCampaign } from '../../src/reconciliation/reconcile';
import { LIFTED_CARD_LIMITS } from '../helpers/api';
import { startTestStripe, type TestStripe } from '../helpers/stripe';

const DAY = 86_400_000;
const BACKERS_PER_CAMPAIGN = 24;
const LIMITED_REWARD_UNITS = 7;
/** Backers arrive over about a second, so the restart finds placements in every phase and some come after it. */
const ARRIVAL_INTERVAL_MS = 12;
/** Placements that must have reached Stripe before Postgres goes down. */
const REACHED_STRIPE_BEFORE_RESTART = 28;
/** How long Stripe takes to answer an intent: long enough for the restart to land while some are waiting on it. */
const STRIPE_LATENCY_MS = 250;
const MAX_ATTEMPTS = 40;

interface Answer {
  status: number;
  body: { id?: string; status?: string; error?: { code: string; message: string } };
  retryAfter?: string;
}

interface Backer {
  id: string;
  auth: { Authorization: string };
  campaign: Campaign;
  reward: Reward | undefined;
  idempotencyKey: string;
  /** Closed the tab after a failure instead of retrying: only the sweep can settle this backer's pending pledge. */
  givesUp: boolean;
  answers: Answer[];
}

const workdir = mkdtempSync(join(tmpdir(), 'crowdfund-pg-drill-'));
// As root, the embedded Postgres runs as the `postgres` user, which must be able to reach the data directory.
chmodSync(workdir, 0o755);
const dataDir = join(workdir, 'postgres');

let port: number;
let config: Config;
let postgres: PrivatePostgres;
let database: AppDatabase;
let stripe: TestStripe;
let server: Server;

beforeAll(async () => {
  port = await freePort();
  postgres = await startPrivatePostgres();
  database = new AppDatabase({ connectionString: postgres.url, poolSize: 8 });
  await database.migrateToLatest();
  stripe = await startTestStripe();
  // 72 backers from one address with one test card, retrying: the card-testing limits (card-testing.test.ts) are lifted.
  config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: postgres.url, LOG_LEVEL: 'error', ...LIFTED_CARD_LIMITS });
  server = createApp({ config, database, logger: createLogger('silent'), stripe: stripe.stripe }).listen(0, '127.0.0.1');
}, 30_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await database?.close();
  await stripe?.close();
  await postgres?.stop();
  rmSync(workdir, { recursive: true, force: true });
});

test('Postgres restarting mid-placement loses no pledge and leaves no orphan or duplicate Stripe object', async () => {
  const creator = await insertUser();
  const hold = await insertCampaign(creator, 'aon', 3 * DAY);
  const charge = await insertCampaign(creator, 'kia', 3 * DAY);
  const save = await insertCampaign(creator, 'aon', 30 * DAY);
  const campaigns = [hold, charge, save];
  const limited = await Promise.all(
    campaigns.map((campaign) =>
      database.db.insertInto('rewards').values({ campaign_id: campaign.id, title: 'Signed', min_pledge: 1_000, limit_qty: LIMITED_REWARD_UNITS }).returningAll().executeTakeFirstOrThrow(),
    ),
  );
  const backers: Backer[] = [];
  for (const [index, campaign] of campaigns.entries()) {
    for (let i = 0; i < BACKERS_PER_CAMPAIGN; i++) {
      backers.push({
        ...(await insertBacker()),
        campaign,
        // Half want the limited reward: more of them than there are units.
        reward: i % 2 === 0 ? limited[index] : undefined,
        idempotencyKey: randomUUID(),
        givesUp: false,
        answers: [],
      });
    }
  }

  await stripe.injectFault({ kind: 'latency', method: 'POST', path: '^/v1/(payment|setup)_intents$', latencyMs: STRIPE_LATENCY_MS });
  const firstAttempts = backers.map((backer, index) => delay(index * ARRIVAL_INTERVAL_MS).then(() => place(backer)));

  await until(() => intentRequests().length >= REACHED_STRIPE_BEFORE_RESTART);
  const restartedAt = Date.now();
  await postgres.stop();
  const whileDown = await checkApiWhileDatabaseIsDown(backers[0]!);
  postgres = await startPrivatePostgres();
  const downForMs = Date.now() - restartedAt;
  await Promise.all(firstAttempts);

  const failedDuringOutage = backers.filter((backer) => saysTryAgain(backer.answers[0]!));
  const leftPending = await database.db.selectFrom('pledges').select(['id', 'backer_id']).where('status', '=', 'pending').execute();
  const stripeKeysSeen = new Set(intentRequests().map((r) => r.idempotencyKey));
  const reachedStripeUnrecorded = leftPending.filter((p) => stripeKeysSeen.has(`pledge-${p.id}-authorize`)).length;
  // Every other backer left with a pending pledge gives up; the others retry, and must be answered with that pledge.
  const pendingOf = new Map(leftPending.map((p, index) => [p.backer_id, { id: p.id, givesUp: index % 2 === 0 }]));
  for (const backer of backers) backer.givesUp = pendingOf.get(backer.id)?.givesUp ?? false;

  await Promise.all(backers.filter((backer) => !backer.givesUp).map((backer) => retryUntilDefinite(backer)));
  const swept = await resolvePendingPledges({ database, stripe: stripe.stripe }, { olderThanMs: 0 });
  await stripe.clearFaults();

  // The drill was real: the restart hit requests in flight, some after Stripe had acted on them.
  expect(failedDuringOutage.length).toBeGreaterThan(0);
  expect(reachedStripeUnrecorded).toBeGreaterThanOrEqual(2);
  expect(whileDown).toEqual({ ready: 503, pledge: 503, read: 503 });

  // A retry carries its own pending pledge on; the sweep settles those of the backers who gave up, and only those.
  for (const backer of backers.filter((b) => pendingOf.has(b.id) && !b.givesUp)) {
    const last = backer.answers.at(-1)!;
    expect({ status: last.status, id: last.body.id }).toEqual({ status: 201, id: pendingOf.get(backer.id)!.id });
  }
  expect(swept).toBe(backers.filter((b) => b.givesUp).length);

  // Every answer is the API's error shape; "try again" answers say when; nothing leaks internals or is a 500.
  const answers = backers.flatMap((backer) => backer.answers);
  expect(answers.filter((answer) => answer.status >= 500 && answer.status !== 503)).toEqual([]);
  for (const answer of answers.filter((a) => a.status >= 400)) {
    expect(answer.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    expect(JSON.stringify(answer.body)).not.toMatch(/ECONN|127\.0\.0\.1|:\d{4,5}\b|terminat|postgres|sqlstate|\bat \S+ \(/i);
  }
  expect(answers.filter(saysTryAgain).filter((answer) => answer.retryAfter === undefined)).toEqual([]);

  const pledges = await database.db.selectFrom('pledges').selectAll().where('campaign_id', 'in', campaigns.map((c) => c.id)).execute();
  const live = pledges.filter((p) => LIVE.includes(p.status));
  expect(pledges.filter((p) => p.status === 'pending')).toEqual([]);
  expect(await resolvePendingPledges({ database, stripe: stripe.stripe }, { olderThanMs: 0 })).toBe(0);

  // No pledge lost: each backer who kept retrying got a definite answer, and a 201 is exactly one settled pledge;
  // a backer who gave up has the one pledge the sweep settled.
  const settled = (campaign: Campaign) => (campaign.model === 'kia' ? 'captured' : 'authorized');
  for (const backer of backers) {
    const mine = pledges.filter((p) => p.backer_id === backer.id);
    const last = backer.answers.at(-1)!;
    if (backer.givesUp) {
      expect(mine.map((p) => [p.id, p.status])).toEqual([[pendingOf.get(backer.id)!.id, settled(backer.campaign)]]);
      continue;
    }
    expect([201, 409]).toContain(last.status);
    if (last.status === 201) {
      expect(mine.map((p) => [p.id, p.status])).toEqual([[last.body.id, settled(backer.campaign)]]);
    } else {
      expect({ code: last.body.error?.code, pledges: mine.length }).toEqual({ code: 'reward_sold_out', pledges: 0 });
    }
  }
  expect(live.length).toBeGreaterThan(0);

  // No orphan: every intent on Stripe is the one intent of one pledge row, and only live pledges hold money.
  const intents = [...stripe.standin.state.paymentIntents.values(), ...stripe.standin.state.setupIntents.values()].filter((intent) =>
    campaigns.some((c) => c.id === intent.metadata?.campaign_id),
  );
  const intentsByPledge = groupBy(intents, (intent) => intent.metadata!.pledge_id!);
  expect([...intentsByPledge.values()].filter((group) => group.length !== 1)).toEqual([]);
  for (const intent of intents) {
    const owner = pledges.find((p) => p.id === intent.metadata!.pledge_id);
    expect(owner && [owner.payment_intent_id, owner.setup_intent_id]).toContain(intent.id);
    expect(owner && LIVE.includes(owner.status)).toBe(true);
  }
  expect(intents).toHaveLength(live.length);
  expect(intents.filter((intent) => !['requires_capture', 'succeeded'].includes(intent.status))).toEqual([]);

  // Nobody held or charged twice, nor made a Stripe customer twice.
  const moneyIntents = [...stripe.standin.state.paymentIntents.values()].filter((intent) => ['requires_capture', 'succeeded'].includes(intent.status));
  expect([...groupBy(moneyIntents, (intent) => String(intent.customer)).values()].filter((group) => group.length > 1)).toEqual([]);
  const customers = [...stripe.standin.state.customers.values()].filter((customer) => backers.some((b) => b.id === customer.metadata.user_id));
  expect([...groupBy(customers, (customer) => customer.metadata.user_id!).values()].filter((group) => group.length > 1)).toEqual([]);

  // A reward unit per live pledge on it, never more than there are.
  for (const reward of limited) {
    const { claimed_qty } = await database.db.selectFrom('rewards').select('claimed_qty').where('id', '=', reward.id).executeTakeFirstOrThrow();
    expect(claimed_qty).toBe(live.filter((p) => p.reward_id === reward.id).length);
    expect(claimed_qty).toBeLessThanOrEqual(LIMITED_REWARD_UNITS);
  }

  // Keep-it-all money: the ledger, the pledge rows and Stripe agree, and every charge on Stripe is in the ledger.
  const report = await reconcileCampaign(database.db, charge.id, stripe.stripe);
  expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  const charged = moneyIntents.filter((intent) => intent.metadata?.campaign_id === charge.id).reduce((sum, intent) => sum + intent.amount_received, 0);
  expect(report.ledger.capture).toBe(charged);
  expect(charged).toBeGreaterThan(0);

  console.info(
    `drill: ${backers.length} backers, Postgres down ${downForMs} ms, ${failedDuringOutage.length} failed during the outage ` +
      `(${reachedStripeUnrecorded} after Stripe acted), ${answers.length - backers.length} retries, ${swept} swept; ` +
      `first: ${count(backers.map((b) => label(b.answers[0]!)))}; retried: ${count(backers.flatMap((b) => b.answers.slice(1).map(label)))}; ` +
      `final: ${count(backers.map((b) => `${label(b.answers.at(-1)!)}${b.givesUp ? ' (gave up)' : ''}`))}`,
  );

  async function place(backer: Backer): Promise<Answer> {
    const response = await request(server)
      .post(`/api/campaigns/${backer.campaign.id}/pledges`)
      .set(backer.auth)
      .set('Idempotency-Key', backer.idempotencyKey)
      .send({ amount: '25.00', paymentMethodId: 'pm_card_visa', ...(backer.reward ? { rewardId: backer.reward.id } : {}) });
    const answer: Answer = { status: response.status, body: response.body as Answer['body'], ...(response.headers['retry-after'] ? { retryAfter: response.headers['retry-after'] as string } : {}) };
    backer.answers.push(answer);
    return answer;
  }

  async function retryUntilDefinite(backer: Backer): Promise<void> {
    while (saysTryAgain(backer.answers.at(-1)!) && backer.answers.length < MAX_ATTEMPTS) {
      await delay(100 + Math.random() * 100);
      await place(backer);
    }
  }

  async function checkApiWhileDatabaseIsDown(backer: Backer) {
    const ready = await request(server).get('/health/ready');
    const read = await request(server).get('/api/me/pledges').set(backer.auth);
    const pledge = await request(server)
      .post(`/api/campaigns/${backer.campaign.id}/pledges`)
      .set(backer.auth)
      .set('Idempotency-Key', randomUUID())
      .send({ amount: '25.00', paymentMethodId: 'pm_card_visa' });
    expect(ready.body).toEqual({ ok: false, database: false });
    for (const response of [read, pledge]) {
      expect(response.body).toEqual({ error: { code: 'database_unavailable', message: expect.any(String) } });
      expect(response.headers['retry-after']).toEqual(expect.any(String));
    }
    return { ready: ready.status, pledge: pledge.status, read: read.status };
  }
});

test('a key left running by a request that died is taken over once older than any request runs, and its pledge resumed', async () => {
  await stripe.clearFaults();
  const campaign = await insertCampaign(await insertUser(), 'aon', 3 * DAY);
  const backer = await insertBacker();
  const key = randomUUID();
  const attempt = () => request(server).post(`/api/campaigns/${campaign.id}/pledges`).set(backer.auth).set('Idempotency-Key', key).send({ amount: '30.00', paymentMethodId: 'pm_card_visa' });

  // Stripe does not answer, so the request runs for a while: its claim on the key is what a process dying now leaves.
  await stripe.injectFault({ kind: 'reset', method: 'POST', path: '^/v1/payment_intents$', count: 3 });
  const running = attempt().then((response) => response);
  const keyRow = () => database.db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', backer.id).where('key', '=', key).executeTakeFirst();
  let claim: Awaited<ReturnType<typeof keyRow>>;
  await until(() => Boolean(claim), async () => (claim = await keyRow()));
  expect((await running).status).toBe(503);
  const pending = await database.db.selectFrom('pledges').selectAll().where('backer_id', '=', backer.id).executeTakeFirstOrThrow();
  expect(pending.status).toBe('pending');

  const leave = async (claimedAt: Date) => {
    await database.db.deleteFrom('idempotency_keys').where('user_id', '=', backer.id).where('key', '=', key).execute();
    await database.db.insertInto('idempotency_keys').values({ ...claim!, response_body: null, created_at: claimedAt }).execute();
  };
  await leave(new Date());
  const young = await attempt();
  expect({ status: young.status, code: young.body.error?.code, retryAfter: young.headers['retry-after'] }).toEqual({ status: 409, code: 'request_in_progress', retryAfter: expect.any(String) });

  await leave(new Date(Date.now() - IN_PROGRESS_LEASE_MS - 60_000));
  const takenOver = await attempt();
  expect({ status: takenOver.status, id: takenOver.body.id, pledge: takenOver.body.status }).toEqual({ status: 201, id: pending.id, pledge: 'authorized' });
  expect((await attempt()).headers['idempotent-replayed']).toBe('true');
  const holds = [...stripe.standin.state.paymentIntents.values()].filter((intent) => intent.metadata?.pledge_id === pending.id);
  expect(holds.map((intent) => intent.status)).toEqual(['requires_capture']);
});

const LIVE: readonly Pledge['status'][] = LIVE_PLEDGE_STATUSES;

function saysTryAgain(answer: Answer): boolean {
  return answer.status === 503 || (answer.status === 409 && answer.body.error?.code === 'request_in_progress');
}

function intentRequests() {
  return stripe.standin.requests.filter((r) => r.method === 'POST' && /^\/v1\/(payment|setup)_intents$/.test(r.path));
}

async function insertUser() {
  return database.db.insertInto('users').values({ email: `${randomUUID()}@example.com`, name: 'Backer', password_hash: 'x', email_verified_at: new Date() }).returningAll().executeTakeFirstOrThrow();
}

async function insertBacker(): Promise<{ id: string; auth: { Authorization: string } }> {
  const { id } = await insertUser();
  return { id, auth: { Authorization: `Bearer ${await issueToken(database.db, config.auth.secret, id, DAY)}` } };
}

async function insertCampaign(creator: { id: string }, model: 'aon' | 'kia', endsInMs: number): Promise<Campaign> {
  return database.db
    .insertInto('campaigns')
    .values({
      creator_id: creator.id,
      title: `Drill ${model}`,
      slug: `drill-${randomUUID()}`,
      goal_amount: 100_000,
      currency: 'USD',
      model,
      status: 'active',
      starts_at: new Date(Date.now() - DAY),
      ends_at: new Date(Date.now() + endsInMs),
      refund_terms: model === 'kia' ? 'Refunds within 14 days' : null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

interface PrivatePostgres {
  url: string;
  /** A fast shutdown: Postgres ends every session, rolling back open transactions. */
  stop(): Promise<void>;
}

const EMBEDDED_POSTGRES = join(__dirname, '..', '..', 'packages', 'dev-platform', 'dist', 'src', 'embedded-postgres.js');

/**
 * `npm start`'s embedded Postgres on this file's data directory and port. It runs in a child process from the
 * compiled module, as the e2e test runs the platform, because the `embedded-postgres` package is ESM-only and jest
 * cannot load it. The child stops Postgres when its stdin closes, so it never outlives this process.
 */
async function startPrivatePostgres(): Promise<PrivatePostgres> {
  if (!existsSync(EMBEDDED_POSTGRES)) throw new Error(`${EMBEDDED_POSTGRES} is missing: run npm run build`);
  const script = `
    const { startEmbeddedPostgres } = require(${JSON.stringify(EMBEDDED_POSTGRES)});
    startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port} }).then(
      (postgres) => {
        process.stdout.write(JSON.stringify({ url: postgres.url }) + '\\n');
        process.stdin.on('data', () => undefined).on('end', () => postgres.stop().then(() => process.exit(0)));
      },
      (error) => { console.error(error); process.exit(1); },
    );`;
  const child: ChildProcess = spawn(process.execPath, ['--no-warnings', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = /^\{.*\}$/m.exec(output);
      if (line) resolve((JSON.parse(line[0]) as { url: string }).url);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`embedded Postgres exited (${code}): ${output}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as { port: number };
      probe.close(() => resolve(free));
    });
  });
}

async function until(condition: () => boolean, poll: () => Promise<unknown> = () => delay(5), timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the drill');
    await poll();
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

function label(answer: Answer): string {
  return `${answer.status}${answer.body.error ? ` ${answer.body.error.code}` : ''}`;
}

function count(labels: string[]): string {
  return [...groupBy(labels, (label) => label).entries()].map(([label, group]) => `${group.length}x ${label}`).join(', ');
}
