/**
 * The worker process runs two Temporal workers on one connection: workflows and database activities on the
 * campaigns task queue, and every Stripe-calling activity on the Stripe task queue, whose server-side rate limit
 * keeps settlement below Stripe's own (25 requests/s in test mode, 100 live).
 */
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createDatabaseActivities, createStripeActivities, type ActivityDeps } from '../../activities';
import { type Config } from '../config';

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

/** The workers of a process configured from the environment (the worker process and `npm start`). */
export function createConfiguredWorkers(
  config: Config,
  connection: NativeConnection,
  deps: ActivityDeps,
  workflows: WorkersOptions['workflows'],
  overrides?: Partial<WorkerOptions>,
): Promise<Worker[]> {
  return createWorkers({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    stripeTaskQueue: config.temporal.stripeTaskQueue,
    stripeActivitiesPerSecond: config.temporal.stripeActivitiesPerSecond,
    deps,
    workflows,
    ...(overrides ? { overrides } : {}),
  });
}

/** Runs the workers until they are shut down (a signal, or `worker.shutdown()`), then resolves. */
export async function runWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.run()));
}

export function workflowsPath(): string {
  return require.resolve('../../workflows');
}
