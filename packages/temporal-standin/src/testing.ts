/**
 * The Temporal server a test file runs against, chosen by the environment:
 *
 * - default: the stand-in (dist/src/bin.js), time-skipping, started by the SDK's own `createTimeSkipping` with
 *   `existing-path`, exactly as it starts Temporal's Java test server;
 * - `TEMPORAL_TEST_SERVER=download` (needs the network): Temporal's own time-skipping test server, downloaded by
 *   the SDK: the reference the stand-in imitates, for running the same suites against it;
 * - `TEMPORAL_ADDRESS=host:port`: an existing server (no time skipping: only suites that do not sleep for days).
 */
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';

// From the sources (jest) or from dist/: the SDK needs the compiled executable, always <package>/dist/src/bin.js.
const PACKAGE_ROOT = join(__dirname, '..').replace(/[\\/]dist$/, '');
// `TEMPORAL_STANDIN_BIN` points at another build (one being developed, without replacing dist/ under other users).
export const TEMPORAL_STANDIN_BIN = process.env.TEMPORAL_STANDIN_BIN ?? join(PACKAGE_ROOT, 'dist', 'src', 'bin.js');

/** `searchAttributes`: name -> type (Keyword, Datetime, ...), registered on the server before the tests start. */
export async function createTestWorkflowEnvironment(options: { searchAttributes?: Record<string, string> } = {}): Promise<TestWorkflowEnvironment> {
  if (process.env.TEMPORAL_ADDRESS) return TestWorkflowEnvironment.createFromExistingServer({ address: process.env.TEMPORAL_ADDRESS });
  const searchAttributes = Object.entries(options.searchAttributes ?? {}).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
  if (process.env.TEMPORAL_TEST_SERVER === 'download') return TestWorkflowEnvironment.createTimeSkipping({ server: { extraArgs: searchAttributes } });
  return TestWorkflowEnvironment.createTimeSkipping({
    server: {
      executable: { type: 'existing-path', path: TEMPORAL_STANDIN_BIN },
      extraArgs: [...searchAttributes, ...(process.env.TEMPORAL_STANDIN_DEBUG ? ['--log-level', 'debug'] : [])],
    },
  });
}
