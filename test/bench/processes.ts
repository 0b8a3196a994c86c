/**
 * What the benchmarks share: the platform's processes as separate OS processes (Stripe stand-in, API), so the
 * process measured does not also pay for its peers; seeding of backers and campaigns; and the figures' arithmetic.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { hashToken } from '../../src/auth/tokens';
import { STANDIN_SECRET_KEY, STRIPE_STANDIN_BIN } from '@crowdfund/stripe-standin';
import { type Db } from '../../db/database';
import { createDedicatedDatabase } from '../helpers/db';

const DIST_SRC = join(__dirname, '..', '..', 'src');
/** Benchmarks sign their backers' tokens with this secret and give it to the API process. */
export const BENCH_AUTH_SECRET = 'benchmark-auth-secret-not-for-production-use';

export const MACHINE = `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`;

export interface ChildService {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Spawns `script` and resolves with what `ready` finds in one of its stdout lines. */
async function spawnService(script: string, args: string[], env: NodeJS.ProcessEnv, ready: (line: string) => string | undefined): Promise<ChildService> {
  const child: ChildProcess = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const found = ready(line);
      if (found) resolve(found);
    });
    void exited.then(() => reject(new Error(`${script} exited before it was ready`)));
  });
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The Stripe stand-in in its own process, as Stripe is. */
export function startStripeProcess(): Promise<ChildService> {
  return spawnService(STRIPE_STANDIN_BIN, ['--port', '0'], process.env, (line) => {
    const { port } = JSON.parse(line) as { port: number };
    return `http://127.0.0.1:${port}`;
  });
}

/** `npm run api` on a free port, against the given database and Stripe, with no Temporal (placement needs none). */
export function startApiProcess(options: { databaseUrl: string; stripeUrl: string; poolSize?: number }): Promise<ChildService> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', PORT: '0', DATABASE_URL: options.databaseUrl, DATABASE_POOL_SIZE: String(options.poolSize ?? 10) };
  Object.assign(env, { STRIPE_SECRET_KEY: STANDIN_SECRET_KEY, STRIPE_API_BASE: options.stripeUrl, AUTH_SECRET: BENCH_AUTH_SECRET });
  delete env.TEMPORAL_ADDRESS;
  return spawnService(join(DIST_SRC, 'api', 'main.js'), [], env, (line) => {
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    return entry.msg === 'API listening' ? entry.url : undefined;
  });
}

/**
 * The API as a process, with a database of its own and the Stripe stand-in as a process: what the placement and
 * progress benchmarks drive. Each is stopped (and the database dropped) through `stops`.
 */
export async function startApiWithStripe(stops: Array<() => unknown>): Promise<{ db: Db; api: ChildService }> {
  const scratch = await createDedicatedDatabase();
  stops.push(() => scratch.drop());
  const stripe = await startStripeProcess();
  stops.push(() => stripe.stop());
  const api = await startApiProcess({ databaseUrl: scratch.url, stripeUrl: stripe.url });
  stops.push(() => api.stop());
  return { db: scratch.database.db, api };
}

/** A process's resident memory now, from /proc (Linux), in bytes. */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** CPU time (user + system) of a process, or of one thread of it (`/proc/<pid>/task/<tid>`), in seconds, from /proc. */
export function cpuSecondsOf(pid: number, tid?: number): number {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  // The fields after the command name (which may hold spaces) in parentheses; utime and stime are the 14th and 15th.
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}
const CLOCK_TICKS_PER_SECOND = 100;

/** This process's threads and the CPU seconds each has used. */
export function threadCpuSeconds(): Map<number, number> {
  return new Map(readdirSync(`/proc/${process.pid}/task`).map((tid) => [Number(tid), cpuSecondsOf(process.pid, Number(tid))]));
}

/** Child processes of this one whose command line contains `text` (the Temporal stand-in the test server spawned). */
export function childPids(text: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text) ? [Number(entry)] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
}

/** `count` backers, each with a bearer token the API accepts. */
export async function seedBackers(db: Db, count: number): Promise<Array<{ id: string; token: string }>> {
  const backers = Array.from({ length: count }, () => ({ id: randomUUID(), token: randomBytes(32).toString('base64url') }));
  for (let i = 0; i < backers.length; i += 1_000) {
    const batch = backers.slice(i, i + 1_000);
    await db.insertInto('users').values(batch.map((b) => ({ id: b.id, email: `${b.id}@bench.test`, name: 'Backer', password_hash: 'x', email_verified_at: new Date() }))).execute();
    await db
      .insertInto('auth_tokens')
      .values(batch.map((b) => ({ user_id: b.id, token_hash: hashToken(BENCH_AUTH_SECRET, b.token), expires_at: new Date(Date.now() + 86_400_000) })))
      .execute();
  }
  return backers;
}

/** An active all-or-nothing campaign whose deadline is inside the hold window, so each pledge places a hold. */
export async function seedActiveCampaign(db: Db, title: string): Promise<string> {
  const creator = await db.insertInto('users').values({ email: `creator-${randomUUID()}@bench.test`, name: 'Creator', password_hash: 'x' }).returning('id').executeTakeFirstOrThrow();
  const campaign = await db
    .insertInto('campaigns')
    .values({
      creator_id: creator.id,
      title,
      slug: `bench-${randomUUID()}`,
      goal_amount: 10_000_000,
      currency: 'USD',
      model: 'aon',
      starts_at: new Date(Date.now() - 60_000),
      ends_at: new Date(Date.now() + 3 * 86_400_000),
      status: 'active',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return campaign.id;
}

/** A pledge of 25.00 with Stripe's test Visa card, through the API as a browser places it; resolves with the status. */
export async function placePledge(apiUrl: string, campaignId: string, token: string): Promise<number> {
  const response = await fetch(`${apiUrl}/api/campaigns/${campaignId}/pledges`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'idempotency-key': randomUUID(), 'content-type': 'application/json' },
    body: JSON.stringify({ amount: '25.00', paymentMethodId: 'pm_card_visa' }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** The p-th percentile (0..100) of values, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Outcome {
  status: number;
  /** From when the request was due to its answer. */
  latencyMs: number;
  /** When the answer arrived (performance.now()). */
  answeredAt: number;
}

/** Starts `send` every 1/rate s for `seconds`, never waiting for answers; latency counts from when each was due. */
export async function openLoop(rate: number, seconds: number, send: () => Promise<number>): Promise<Outcome[]> {
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const inFlight: Array<Promise<Outcome>> = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      send().then(
        (status) => ({ status, latencyMs: performance.now() - due, answeredAt: performance.now() }),
        () => ({ status: 0, latencyMs: performance.now() - due, answeredAt: performance.now() }),
      ),
    );
  }
  return Promise.all(inFlight);
}

export const round = (value: number, places = 1) => Math.round(value * 10 ** places) / 10 ** places;

/** Runs a benchmark with a stack of stops, undone in reverse however it ends; exits non-zero on failure. */
export function runBenchmark(body: (stops: Array<() => unknown>) => Promise<void>): void {
  const stops: Array<() => unknown> = [];
  body(stops)
    .finally(async () => {
      for (const stop of stops.reverse()) await Promise.resolve(stop()).catch((error: unknown) => console.error('while stopping:', error));
    })
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
}
