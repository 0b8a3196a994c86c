/**
 * The worker process runs two Temporal workers on one connection: workflows and database activities on the
 * campaigns task queue, and every Stripe-calling activity on the Stripe task queue, whose server-side rate limit
 * keeps settlement below Stripe's own (25 requests/s in test mode, 100 live).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Client } from '@temporalio/client';
import { DefaultLogger, type NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createDatabaseActivities, createStripeActivities, type ActivityDeps } from '../../activities';
import { type Config } from '../config';
import { startHousekeepingWorkflows } from './housekeeping';

export interface WorkersOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  stripeTaskQueue: string;
  stripeActivitiesPerSecond: number;
  deps: ActivityDeps;
  /** A prebuilt bundle (production, tests bundling once per file) or the workflows' source path. */
  workflows: Pick<WorkerOptions, 'workflowBundle'> | Pick<WorkerOptions, 'workflowsPath'>;
  /** Extra worker options (tests: `maxCachedWorkflows`, shorter `shutdownGraceTime`). */
  overrides?: Partial<WorkerOptions>;
}

export async function createWorkers(options: WorkersOptions): Promise<Worker[]> {
  const common = { connection: options.connection, namespace: options.namespace, shutdownGraceTime: '30 seconds' as const, ...options.overrides };
  const campaigns = await Worker.create({
    ...common,
    ...options.workflows,
    taskQueue: options.taskQueue,
    activities: createDatabaseActivities(options.deps),
  });
  const stripe = await Worker.create({
    ...common,
    taskQueue: options.stripeTaskQueue,
    activities: createStripeActivities(options.deps),
    maxTaskQueueActivitiesPerSecond: options.stripeActivitiesPerSecond,
  });
  return [campaigns, stripe];
}

/**
 * The worker side of a process configured from the environment (`npm run worker`, `npm start`): the two workers,
 * and the long-running housekeeping workflows (notification outbox, pending-pledge sweep, data retention) started once.
 */
export async function startConfiguredWorkers(
  config: Config,
  connection: NativeConnection,
  client: Client,
  deps: ActivityDeps,
  overrides?: Partial<WorkerOptions>,
): Promise<Worker[]> {
  const workers = await createWorkers({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    stripeTaskQueue: config.temporal.stripeTaskQueue,
    stripeActivitiesPerSecond: config.temporal.stripeActivitiesPerSecond,
    deps,
    workflows: workflowSource(),
    ...(overrides ? { overrides } : {}),
  });
  await startHousekeepingWorkflows(client, config.temporal.taskQueue, config.temporal.stripeTaskQueue);
  return workers;
}

const RUNTIME_LOG_LEVELS = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' } as const;

/** Temporal's runtime (worker state changes, core warnings) logs at the process's LOG_LEVEL: call before connecting. */
export function installRuntimeLogger(level: Config['logLevel']): void {
  Runtime.install({ logger: new DefaultLogger(RUNTIME_LOG_LEVELS[level]) });
}

/** The bundle `npm run build` prepared (dist/workflow-bundle.js), or the workflows' source bundled at start-up. */
function workflowSource(): WorkersOptions['workflows'] {
  const bundle = join(__dirname, '..', '..', 'workflow-bundle.js');
  return existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath: workflowsPath() };
}

/** Runs the workers until they are shut down (a signal, or `worker.shutdown()`), then resolves. */
export async function runWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.run()));
}

export function workflowsPath(): string {
  return require.resolve('../../workflows');
}
