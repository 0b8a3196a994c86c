/**
 * `npm start`'s entry point as a user runs it: a child process with no configuration starts an embedded Postgres,
 * the Temporal and Stripe stand-ins, the API and the worker; the API answers; Ctrl-C (SIGINT) stops everything.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const START = join(__dirname, '..', '..', 'dist', 'src', 'cli', 'start.js');

let child: ChildProcess;
let output = '';
const workdir = mkdtempSync(join(tmpdir(), 'crowdfund-start-'));
// As root, the embedded Postgres runs as the `postgres` user, which must be able to reach the data directory.
chmodSync(workdir, 0o755);
const port = 20_000 + Math.floor(Math.random() * 20_000);

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(workdir, { recursive: true, force: true });
});

test('starts the whole platform with no configuration and stops it cleanly on SIGINT', async () => {
  const env = { ...process.env };
  for (const variable of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'STRIPE_SECRET_KEY', 'STRIPE_API_BASE', 'STRIPE_WEBHOOK_SECRET']) delete env[variable];
  child = spawn(process.execPath, [START], {
    cwd: workdir,
    env: {
      ...env,
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      EMBEDDED_POSTGRES_PORT: String(port + 1),
      TEMPORAL_STANDIN_PORT: '0',
      STRIPE_STANDIN_PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let i = 0; i < 240 && !output.includes('Press Ctrl-C') && child.exitCode === null; i++) await new Promise((resolve) => setTimeout(resolve, 250));
  expect(output).toContain('Crowdfund platform is running');
  expect(output).toMatch(/Postgres \(embedded\)/);
  expect(output).toMatch(/Temporal \(stand-in\)/);
  expect(output).toMatch(/Stripe \(stand-in\)/);

  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
  expect(await ready.json()).toEqual({ ok: true, database: true });
  const signup = await fetch(`http://127.0.0.1:${port}/api/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'newcomer@example.com', password: 'a long enough password', name: 'Newcomer' }),
  });
  expect(signup.status).toBe(201);

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(output).toContain('stopping...');
}, 90_000);
