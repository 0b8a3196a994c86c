/**
 * ./source-worker-main.ts as its own OS process that a test can SIGKILL and start again, as
 * ./worker-process.ts does with the built worker: the TypeScript sources are compiled as they load by @swc/core
 * (what jest uses), so a drill exercises the code under test rather than the last `npm run build`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type WorkerProcess } from './worker-process';

const MAIN = join(__dirname, 'source-worker-main.ts');

/** Loads `.ts` through swc's CommonJS transform, then runs the script named by the first argument. */
const REQUIRE_TYPESCRIPT = `
const { transformSync } = require('@swc/core');
const { readFileSync } = require('node:fs');
require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename, module: { type: 'commonjs' }, jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  });
  module._compile(code, filename);
};
require(process.argv[1]);
`;

export async function startSourceWorkerProcess(env: Record<string, string>, options: { readyTimeoutMs?: number } = {}): Promise<WorkerProcess> {
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const child = spawn(process.execPath, ['-e', REQUIRE_TYPESCRIPT, MAIN], { cwd: join(__dirname, '..', '..'), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise<void>((resolve) => createInterface({ input: child.stdout! }).on('line', (line) => line.startsWith('worker polling') && resolve()));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`worker process did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
  });
  const died = exited.then(({ code, signal }) => {
    throw new Error(`worker process exited (${code ?? signal}) before it polled:\n${stderr}`);
  });
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
