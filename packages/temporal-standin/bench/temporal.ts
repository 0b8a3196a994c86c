/**
 * `npm run bench -- temporal`: throughput of the Temporal stand-in with the real SDK worker on this machine.
 *   workflows/s: start + one activity + complete, N workflows in flight at once
 *   signals/s:   signals delivered to one running workflow
 * The last line printed is the figures as JSON.
 */
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { join } from 'node:path';
import { startTemporalStandin } from '../src/server';

const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 500);
const SIGNALS = Number(process.env.BENCH_SIGNALS ?? 2000);

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startTemporalStandin({ timeSkipping: false });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: join(__dirname, 'temporal-workflows.js'),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
  });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: 'bench',
    workflowBundle,
    activities: { echo: async (value: number) => value },
    maxConcurrentWorkflowTaskExecutions: 100,
    maxConcurrentActivityTaskExecutions: 100,
  });
  const figures = await worker.runUntil(async () => {
    const startedAt = Date.now();
    const handles = await Promise.all(
      Array.from({ length: WORKFLOWS }, (_, i) => client.workflow.start('activityOnce', { taskQueue: 'bench', workflowId: `bench-${i}-${startedAt}`, args: [i] })),
    );
    await Promise.all(handles.map((handle) => handle.result()));
    const workflowSeconds = (Date.now() - startedAt) / 1000;

    const counter = await client.workflow.start('countSignals', { taskQueue: 'bench', workflowId: `signals-${startedAt}`, args: [SIGNALS] });
    const signalsAt = Date.now();
    for (let sent = 0; sent < SIGNALS; sent += 50) {
      await Promise.all(Array.from({ length: Math.min(50, SIGNALS - sent) }, () => counter.signal('tick')));
    }
    const received = await counter.result();
    const signalSeconds = (Date.now() - signalsAt) / 1000;
    return {
      benchmark: 'temporal-standin',
      workflows: WORKFLOWS,
      workflowsPerSecond: Math.round(WORKFLOWS / workflowSeconds),
      signals: received,
      signalsPerSecond: Math.round(SIGNALS / signalSeconds),
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
  });
  await connection.close();
  await nativeConnection.close();
  await server.close();
  console.log(`workflows (start + activity + complete): ${figures.workflowsPerSecond}/s over ${WORKFLOWS}`);
  console.log(`signals to one workflow: ${figures.signalsPerSecond}/s over ${SIGNALS}`);
  console.log(JSON.stringify(figures));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
