/** Prebuilds the workflow bundle at `npm run build`, so a production worker starts without webpack. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from './workers';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error } });
  writeFileSync(join(__dirname, '..', '..', 'workflow-bundle.js'), code);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
