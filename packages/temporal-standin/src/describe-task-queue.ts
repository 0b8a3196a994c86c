/**
 * DescribeTaskQueue: who polls a task queue (the UI's Workers tab; it offers the call stack only when the workflow's
 * queue has pollers), as the server's matching service answers it:
 *
 * - the legacy mode (what the UI and SDKs call): the pollers of one task type (workflow by default), and with
 *   `include_task_queue_status` the queue's backlog;
 * - the enhanced mode (the CLI's `task-queue describe`): pollers and stats per task type under the unversioned
 *   build id "".
 *
 * A worker's `ShutdownWorker` removes it from the pollers of its queues at once.
 */
import { type Engine } from './engine';
import { invalidArgument, type Msg } from './proto';

/** temporal.api.enums.v1.TaskQueueType / TaskQueueKind / DescribeTaskQueueMode */
const TASK_QUEUE_TYPE = { Workflow: 1, Activity: 2, Nexus: 3 };
const KIND_STICKY = 2;
const MODE_ENHANCED = 1;

export function describeTaskQueue(engine: Engine, request: Msg): Msg {
  const namespace = (request.namespace as string) || 'default';
  const name = request.taskQueue?.name as string | undefined;
  if (!name) throw invalidArgument('taskQueue is not set');
  const now = engine.clock.now();
  const queueOf = (type: number) => (type === TASK_QUEUE_TYPE.Activity ? engine.activityQueue(namespace, name) : type === TASK_QUEUE_TYPE.Workflow ? engine.workflowQueue(namespace, name) : undefined);
  const pollersOf = (type: number) => queueOf(type)?.describePollers(now) ?? [];
  const statsOf = (type: number) => ({
    approximateBacklogCount: queueOf(type)?.backlog ?? 0,
    approximateBacklogAge: { seconds: 0, nanos: 0 },
    tasksAddRate: 0,
    tasksDispatchRate: 0,
  });

  if (request.apiMode === MODE_ENHANCED) {
    if (request.taskQueue?.kind === KIND_STICKY) throw invalidArgument('Enhanced DescribeTaskQueue is not valid for a sticky queue, use api_mode=UNSPECIFIED or a normal queue.');
    const types = ((request.taskQueueTypes ?? []) as number[]).length > 0 ? (request.taskQueueTypes as number[]) : [TASK_QUEUE_TYPE.Workflow, TASK_QUEUE_TYPE.Activity];
    const typesInfo: Record<number, Msg> = {};
    for (const type of types) {
      typesInfo[type] = {
        ...(request.reportPollers ? { pollers: pollersOf(type) } : {}),
        ...(request.reportStats ? { stats: statsOf(type) } : {}),
      };
    }
    // Unversioned workers report under the empty build id.
    return { versionsInfo: { '': { buildId: '', typesInfo, taskReachability: 0 } } };
  }

  const type = (request.taskQueueType as number) || TASK_QUEUE_TYPE.Workflow;
  const backlog = queueOf(type)?.backlog ?? 0;
  return {
    pollers: pollersOf(type),
    ...(request.includeTaskQueueStatus
      ? { taskQueueStatus: { backlogCountHint: backlog, readLevel: 0, ackLevel: 0, ratePerSecond: 100_000, taskIdBlock: { startId: 1, endId: 100_000 } } }
      : {}),
    ...(request.reportStats ? { stats: statsOf(type) } : {}),
  };
}

/** ShutdownWorker: the worker (its identity) stops showing as a poller of its queues, the sticky one included. */
export function forgetWorkerPollers(engine: Engine, request: Msg): void {
  const namespace = (request.namespace as string) || 'default';
  const identity = request.identity as string | undefined;
  if (!identity) return;
  const taskQueue = request.taskQueue as string | undefined;
  if (taskQueue) {
    engine.workflowQueue(namespace, taskQueue).forgetPoller(identity);
    engine.activityQueue(namespace, taskQueue).forgetPoller(identity);
  }
  if (request.stickyTaskQueue) engine.workflowQueue(namespace, request.stickyTaskQueue as string).forgetPoller(identity);
}
