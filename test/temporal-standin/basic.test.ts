import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { join } from 'node:path';
import * as activities from './activities';
import { helloWorkflow, sleepyWorkflow } from './workflows';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;
const taskQueue = 'conformance';

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: join(__dirname, '../../dist/src/standins/temporal/bin.js') } },
  });
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows') });
});
afterAll(() => env?.teardown());

async function withWorker<T>(fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
  return worker.runUntil(fn);
}

test('start, activity, complete', async () => {
  const result = await withWorker(() => env.client.workflow.execute(helloWorkflow, { taskQueue, workflowId: randomUUID(), args: ['world'] }));
  expect(result).toBe('Hello, world!');
});

test('a 30-day sleep is skipped', async () => {
  const started = Date.now();
  const slept = await withWorker(() => env.client.workflow.execute(sleepyWorkflow, { taskQueue, workflowId: randomUUID(), args: [30 * 24 * 3600 * 1000] }));
  expect(slept).toBeGreaterThanOrEqual(30 * 24 * 3600 * 1000);
  expect(Date.now() - started).toBeLessThan(10_000);
});
