/**
 * The product's worker (`node dist/src/worker/main.js`, what `npm run worker` runs) as a separate OS process that a
 * test can SIGKILL and start again. It reads DATABASE_URL with no schema option, so it needs a database of its own
 * (`createDedicatedDatabase` in ./db).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const WORKER_MAIN = join(__dirname, '..', '..', 'dist', 'src', 'worker', 'main.js');

export interface WorkerProcess {
  pid: number;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What the process wrote to stderr (for failure messages). */
  stderr(): string;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the worker with `env` on top of this process's environment; resolves once it polls its task queues (the
 * line main.ts prints when its workers are created and the housekeeping workflows started).
 */
export async function startWorkerProcess(env: Record<string, string>, options: { readyTimeoutMs?: number } = {}): Promise<WorkerProcess> {
  return startPollingProcess([WORKER_MAIN], env, { readyTimeoutMs: options.readyTimeoutMs ?? 30_000 });
}

/** Runs `node <args>` with `env` and resolves once it prints `worker polling` (any worker entry point says so). */
export async function startPollingProcess(args: string[], env: Record<string, string>, options: { readyTimeoutMs: number; cwd?: string }): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, args, { ...(options.cwd ? { cwd: options.cwd } : {}), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<void>((resolve) => lines.on('line', (line) => line.startsWith('worker polling') && resolve()));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`worker process did not start within ${options.readyTimeoutMs} ms:\n${stderr}`)), options.readyTimeoutMs);
  });
  const died = exited.then(({ code, signal }) => {
    throw new Error(`worker process exited (${code ?? signal}) before it polled:\n${stderr}`);
  });
  // Only a failure while starting counts; a kill later is the caller's doing.
  died.catch(() => undefined);
  try {
    await Promise.race([ready, timeout, died]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid: child.pid!,
    exited,
    stderr: () => stderr,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
