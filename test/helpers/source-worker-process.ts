/**
 * ./source-worker-main.ts as its own OS process that a test can SIGKILL and start again, as
 * ./worker-process.ts does with the built worker: the TypeScript sources are compiled as they load by @swc/core
 * (what jest uses), so a drill exercises the code under test rather than the last `npm run build`.
 */
import { join } from 'node:path';
import { startPollingProcess, type WorkerProcess } from './worker-process';

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
  return startPollingProcess(['-e', REQUIRE_TYPESCRIPT, MAIN], env, { readyTimeoutMs: options.readyTimeoutMs ?? 60_000, cwd: join(__dirname, '..', '..') });
}
