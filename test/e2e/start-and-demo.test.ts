/**
 * The README's first two commands as a newcomer runs them: `npm start` in one terminal (a child process with no
 * configuration: embedded Postgres, the Temporal and Stripe stand-ins, the API and the worker) and `npm run demo`
 * in another, whose walk-through checks every step and exits non-zero on anything unexpected; then Ctrl-C stops
 * the platform cleanly. Only the local timescale is shortened, through the same variables a user would set.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeTemporalUi } from './temporal-ui';

const DIST = join(__dirname, '..', '..', 'dist', 'src', 'cli');

const workdir = mkdtempSync(join(tmpdir(), 'crowdfund-start-'));
// As root, the embedded Postgres runs as the `postgres` user, which must be able to reach the data directory.
chmodSync(workdir, 0o755);
const port = 20_000 + Math.floor(Math.random() * 20_000);
let platform: ChildProcess;
let platformOutput = '';

function run(script: string, env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [join(DIST, script)], { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

const exitOf = (child: ChildProcess) =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

beforeAll(async () => {
  const env = { ...process.env };
  for (const variable of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'STRIPE_SECRET_KEY', 'STRIPE_API_BASE', 'STRIPE_WEBHOOK_SECRET']) delete env[variable];
  const started = run('start.js', {
    ...env,
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    EMBEDDED_POSTGRES_PORT: String(port + 1),
    TEMPORAL_STANDIN_PORT: '0',
    TEMPORAL_UI_PORT: '0',
    STRIPE_STANDIN_PORT: '0',
    LOG_LEVEL: 'warn',
    CAMPAIGN_MIN_DURATION: '8s',
    GRACE_WINDOW: '3s',
    PAYOUT_DELAY: '1s',
  });
  platform = started.child;
  for (let i = 0; i < 240 && !started.output().includes('Press Ctrl-C') && platform.exitCode === null; i++) await new Promise((resolve) => setTimeout(resolve, 250));
  platformOutput = started.output();
}, 90_000);

afterAll(() => {
  if (platform.exitCode === null) platform.kill('SIGKILL');
  rmSync(workdir, { recursive: true, force: true });
});

test('npm start runs the whole platform with no configuration and says what it started', async () => {
  expect(platformOutput).toContain('Crowdfund platform is running');
  expect(platformOutput).toMatch(/Postgres \(embedded\)/);
  expect(platformOutput).toMatch(/Temporal \(stand-in\)/);
  expect(platformOutput).toMatch(/Temporal UI +http:\/\/127\.0\.0\.1:\d+/);
  expect(platformOutput).toMatch(/Stripe \(stand-in\)/);
  expect(platformOutput).toMatch(/Local timescale +campaigns from 8s/);
  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
  expect(await ready.json()).toEqual({ ok: true, database: true });
  expect(existsSync(join(workdir, '.data', 'platform.json'))).toBe(true);
});

test('npm run demo walks a funded and a failed campaign, with a lost chargeback, from publication to a balanced reconciliation', async () => {
  const demo = run('demo.js', process.env);
  const code = await exitOf(demo.child);
  const output = demo.output();
  expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('Done.') as string });
  expect(output).toMatch(/"Solar kettle": funded, 145\.00 of 100\.00 USD/);
  expect(output).toMatch(/"Moon boots": failed/);
  expect(output).toMatch(/Carol: errored \(authentication_required\)/);
  expect(output).toMatch(/Carol: dropped/);
  expect(output).toMatch(/GET \/api\/support\/disputes: dp_\w+, 25\.00 USD \(fraudulent\), needs_response/);
  expect(output).toMatch(/issuer decides: lost; not paid out yet, so it comes off the payout/);
  expect(output).toMatch(/transfer tr_\w+: \d+\.\d\d USD/);
  expect(output).toMatch(/^ {5}- chargebacks +40\.00 USD$/m);
  expect(output).toMatch(/refund [\w-]+: 40\.00 USD back to Bob's card/);
  // Reconciliation runs as a background job through the API: started by POST, read back once done.
  expect(output.match(/^ {3}"(Solar kettle|Moon boots)" \(POST \/api\/ops\/campaigns\/[\w-]+\/reconciliation: job [\w-]+, \d+ pledges checked on Stripe\)$/gm)).toHaveLength(2);
  expect(output.match(/^ {3}balanced$/gm)).toHaveLength(2);
  expect(output).not.toMatch(/DIFF|NOT BALANCED/);
}, 120_000);

// After the demo, before Ctrl-C: ops in Temporal UI (test/e2e/temporal-ui.ts).
describeTemporalUi(() => platformOutput);

test('Ctrl-C stops everything cleanly', async () => {
  platform.kill('SIGINT');
  expect(await exitOf(platform)).toBe(0);
  expect(existsSync(join(workdir, '.data', 'platform.json'))).toBe(false);
}, 30_000);
