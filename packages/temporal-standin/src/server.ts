/**
 * The Temporal stand-in's gRPC front end: WorkflowService, OperatorService (search attributes), TestService (the
 * virtual clock) and Health, built by reflection from the protobuf root @temporalio/proto ships. Methods it does
 * not implement answer UNIMPLEMENTED, which the SDK treats as "feature absent".
 */
import * as grpc from '@grpc/grpc-js';
import { Clock } from './clock';
import { AlreadyStarted, answerQuery, Engine, type QueryTaskRef, type WorkflowTaskRef } from './engine';
import {
  decodeToken,
  durationMs,
  invalidArgument,
  type Msg,
  notFound,
  num,
  protoRoot,
  RpcError,
  timestamp,
  timestampMs,
} from './proto';
import { type ActivityState, type Run, Status } from './run';
import { pollerMetadata, type TaskQueue } from './matching';
import { STAGE, stageOf, type UpdateState, waitForStage } from './updates';
import { countWorkflowExecutions, listWorkflowExecutions, SYSTEM_SEARCH_ATTRIBUTES } from './visibility';
import { Schedules } from './schedules';
import { createHttpApi, type HttpApiHandler, type HttpApiOptions, listenHttpApi } from './http-api';
import { clusterInfo, SERVER_VERSION } from './cluster-info';
import { describeTaskQueue, forgetWorkerPollers } from './describe-task-queue';
import { resetWorkflowExecution } from './reset';
import { workflowHistoryReverse } from './history-reverse';

export const INDEXED_VALUE_TYPES: Record<string, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

/** The custom search attributes Temporal's dev server registers by default. */
const DEV_SERVER_SEARCH_ATTRIBUTES: Record<string, string> = {
  CustomKeywordField: 'Keyword',
  CustomStringField: 'Text',
  CustomTextField: 'Text',
  CustomIntField: 'Int',
  CustomDoubleField: 'Double',
  CustomBoolField: 'Bool',
  CustomDatetimeField: 'Datetime',
};

export interface TemporalStandinOptions {
  /** 0 or absent: a free port. */
  port?: number;
  host?: string;
  /** Virtual time that jumps over idle periods (the test server); off: real time (the dev server). */
  timeSkipping?: boolean;
  /** Extra search attributes, name -> type (Keyword, Text, Int, Double, Bool, Datetime, KeywordList). */
  searchAttributes?: Record<string, string>;
  logLevel?: 'quiet' | 'debug';
  /** Also serve Temporal's HTTP API (/api/v1, payload shorthand) on this port (0: a free one), as the server's HTTP port. */
  httpPort?: number;
}

export interface RunningTemporalStandin {
  address: string;
  port: number;
  engine: Engine;
  /** With `httpPort`: where the HTTP API answers (host:port). */
  httpAddress?: string;
  /** Temporal's HTTP API on these handlers as a node:http listener, e.g. for Temporal UI's server to mount. */
  httpApi(options?: HttpApiOptions): HttpApiHandler;
  close(): Promise<void>;
}

type Handler = (request: Msg, call: grpc.ServerUnaryCall<Msg, Msg>) => Msg | Promise<Msg>;

const MAX_MESSAGE = 128 * 1024 * 1024;

export async function startTemporalStandin(options: TemporalStandinOptions = {}): Promise<RunningTemporalStandin> {
  const timeSkipping = options.timeSkipping ?? false;
  // The test server starts with time skipping locked; the SDK unlocks it while it waits for a result.
  const clock = new Clock(timeSkipping, timeSkipping ? 1 : 0);
  const searchAttributes = new Map<string, number>();
  for (const [name, type] of Object.entries({ ...DEV_SERVER_SEARCH_ATTRIBUTES, ...options.searchAttributes })) {
    const value = INDEXED_VALUE_TYPES[type];
    if (value === undefined) throw new Error(`unknown search attribute type ${type} for ${name}`);
    searchAttributes.set(name, value);
  }
  const log = options.logLevel === 'debug' ? (message: string) => process.stderr.write(`[temporal-standin] ${new Date().toISOString().slice(11, 23)} ${message}\n`) : () => undefined;
  if (options.logLevel === 'debug') clock.trace = log;
  const engine = new Engine(clock, searchAttributes, log);
  engine.namespace('default');
  const schedules = new Schedules(engine);

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE,
    'grpc.max_send_message_length': MAX_MESSAGE,
  });
  const handlers = { WorkflowService: workflowService(engine, schedules, log), OperatorService: operatorService(engine) };
  addService(server, 'temporal.api.workflowservice.v1.WorkflowService', handlers.WorkflowService, log);
  addService(server, 'temporal.api.operatorservice.v1.OperatorService', handlers.OperatorService, log);
  addService(server, 'temporal.api.testservice.v1.TestService', testService(clock), log);
  addService(server, 'grpc.health.v1.Health', { Check: () => ({ status: 1 }) }, log);

  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const httpApi = (httpOptions?: HttpApiOptions) => createHttpApi(handlers, httpOptions, (message) => process.stderr.write(`[temporal-standin] ${message}\n`));
  const http = options.httpPort === undefined ? undefined : await listenHttpApi(httpApi({ payloadShorthand: true }), host, options.httpPort);
  return {
    address: `${host}:${port}`,
    port,
    engine,
    ...(http ? { httpAddress: http.address } : {}),
    httpApi,
    close: () =>
      new Promise<void>((resolve) => {
        void http?.close();
        schedules.shutdown();
        engine.shutdown();
        clock.close();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      }),
  };
}

function addService(server: grpc.Server, serviceName: string, handlers: Record<string, Handler>, log: (message: string) => void): void {
  const service = protoRoot.lookupService(serviceName);
  const definition: Record<string, grpc.MethodDefinition<Msg, Msg>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(service.methods)) {
    method.resolve();
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    const streaming = Boolean(method.requestStream || method.responseStream);
    definition[name] = {
      path: `/${service.fullName.replace(/^\./, '')}/${name}`,
      requestStream: Boolean(method.requestStream),
      responseStream: Boolean(method.responseStream),
      requestSerialize: (message: Msg) => Buffer.from(request.encode(message).finish()),
      requestDeserialize: (bytes: Buffer) => request.decode(bytes),
      responseSerialize: (message: Msg) => Buffer.from(response.encode(message).finish()),
      responseDeserialize: (bytes: Buffer) => response.decode(bytes),
    };
    const handler = handlers[name];
    if (streaming || !handler) {
      implementation[name] = (call: grpc.ServerUnaryCall<Msg, Msg>, callback?: grpc.sendUnaryData<Msg>) => {
        const error = { code: grpc.status.UNIMPLEMENTED, details: `unknown method ${name}: not implemented by the Temporal stand-in` };
        if (callback) callback(error as grpc.ServiceError);
        else (call as unknown as grpc.ServerWritableStream<Msg, Msg>).destroy(Object.assign(new Error(error.details), error));
      };
      continue;
    }
    implementation[name] = (call: grpc.ServerUnaryCall<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      Promise.resolve()
        .then(() => handler(call.request, call))
        .then(
          (result) => callback(null, result),
          (error: unknown) => {
            if (error instanceof RpcError) {
              log(`${name} -> ${grpc.status[error.code]}: ${error.message}`);
              callback({ code: error.code, details: error.message, metadata: error.metadata } as grpc.ServiceError);
            } else {
              process.stderr.write(`[temporal-standin] ${name} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
              callback({ code: grpc.status.INTERNAL, details: error instanceof Error ? error.message : String(error) } as grpc.ServiceError);
            }
          },
        );
    };
  }
  server.addService(definition, implementation);
}

/** How long a long poll may wait: under the caller's deadline, at most a minute. */
function pollWaitMs(call: grpc.ServerUnaryCall<Msg, Msg>, cap = 60_000): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (!Number.isFinite(at)) return cap;
  return Math.max(Math.min(at - Date.now() - 1_000, cap), 0);
}

/**
 * A long poll: waits for a task, gives it back if the caller went away meanwhile, and skips tasks `take` finds
 * stale (returns undefined for); answers empty when the wait runs out.
 */
async function longPoll<T>(
  engine: Engine,
  queue: TaskQueue<T>,
  call: grpc.ServerUnaryCall<Msg, Msg>,
  take: (task: T) => Msg | undefined,
): Promise<Msg> {
  const owner = (call.request.workerInstanceKey as string) || undefined;
  for (;;) {
    // A poll that arrives after its worker said it shut down gets nothing: a task handed to it would be lost.
    if (owner && engine.shutDownWorkers.has(owner)) return {};
    const poll = queue.poll(pollWaitMs(call), owner, pollerMetadata(call.request, engine.clock.now()));
    call.on('cancelled', poll.cancel);
    const task = await poll.promise;
    if (task === undefined) return {};
    const wait = queue.reserveDispatch();
    if (wait > pollWaitMs(call)) {
      queue.requeue(task);
      return {};
    }
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (call.cancelled) {
      queue.requeue(task);
      return {};
    }
    const response = take(task);
    if (response) return response;
  }
}

function workflowService(engine: Engine, schedules: Schedules, log: (message: string) => void): Record<string, Handler> {
  const startOptions = (request: Msg) => ({
    namespace: request.namespace as string,
    workflowId: request.workflowId as string,
    workflowType: request.workflowType,
    taskQueue: request.taskQueue?.name as string,
    input: request.input,
    header: request.header,
    memo: request.memo,
    searchAttributes: request.searchAttributes,
    identity: request.identity as string,
    ...(durationMs(request.workflowTaskTimeout) ? { workflowTaskTimeoutMs: durationMs(request.workflowTaskTimeout)! } : {}),
    ...(durationMs(request.workflowRunTimeout) ? { workflowRunTimeoutMs: durationMs(request.workflowRunTimeout)! } : {}),
    ...(durationMs(request.workflowExecutionTimeout) ? { workflowExecutionTimeoutMs: durationMs(request.workflowExecutionTimeout)! } : {}),
    retryPolicy: request.retryPolicy,
    ...(request.cronSchedule ? { cronSchedule: request.cronSchedule as string } : {}),
    requestId: request.requestId as string,
  });
  const validateStart = (request: Msg) => {
    if (!request.workflowId) throw invalidArgument('WorkflowId is not set on request.');
    if (!request.workflowType?.name) throw invalidArgument('WorkflowType is not set on request.');
    if (!request.taskQueue?.name) throw invalidArgument('TaskQueue is not set on request.');
  };
  const withAlreadyStartedDetails = (error: unknown): never => {
    if (error instanceof AlreadyStarted) {
      // The client reads WorkflowExecutionAlreadyStartedFailure from the status details.
      const failureType = protoRoot.lookupType('temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure');
      const statusType = protoRoot.lookupType('google.rpc.Status');
      const details = statusType.encode({
        code: grpc.status.ALREADY_EXISTS,
        message: error.message,
        details: [{ type_url: 'type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure', value: failureType.encode({ startRequestId: '', runId: error.runId }).finish() }],
      }).finish();
      error.metadata.set('grpc-status-details-bin', Buffer.from(details));
    }
    throw error;
  };

  return {
    GetSystemInfo: () => ({
      serverVersion: SERVER_VERSION,
      capabilities: {
        signalAndQueryHeader: true,
        internalErrorDifferentiation: true,
        activityFailureIncludeHeartbeat: true,
        supportsSchedules: true,
        encodedFailureAttributes: true,
        buildIdBasedVersioning: false,
        upsertMemo: true,
        eagerWorkflowStart: false,
        sdkMetadata: true,
        countGroupByExecutionStatus: true,
        nexus: false,
      },
    }),

    DescribeNamespace: (request) => {
      const namespace = engine.namespace((request.namespace as string) || 'default');
      return {
        namespaceInfo: {
          name: namespace.name,
          state: 1,
          id: namespace.id,
          description: 'Temporal stand-in namespace',
          // What the stand-in implements; everything else stays false so the worker does not rely on it.
          capabilities: { syncUpdate: true, asyncUpdate: true, workerPollCompleteOnShutdown: true },
        },
        config: { workflowExecutionRetentionTtl: { seconds: 86_400 } },
        isGlobalNamespace: false,
      };
    },
    RegisterNamespace: (request) => {
      engine.namespace(request.namespace as string);
      return {};
    },
    ListNamespaces: () => ({
      namespaces: [...engine.namespaces.values()].map((namespace) => ({ namespaceInfo: { name: namespace.name, state: 1, id: namespace.id } })),
    }),

    StartWorkflowExecution: (request) => {
      validateStart(request);
      try {
        const { run, started } = engine.startWorkflow(startOptions(request), {
          reuse: request.workflowIdReusePolicy as number,
          conflict: request.workflowIdConflictPolicy as number,
        });
        return { runId: run.runId, started };
      } catch (error) {
        return withAlreadyStartedDetails(error);
      }
    },

    SignalWithStartWorkflowExecution: (request) => {
      validateStart(request);
      const current = engine.currentRun(request.namespace as string, request.workflowId as string);
      if (current?.open) {
        engine.signal(current, { signalName: request.signalName, input: request.signalInput, header: request.header, identity: request.identity, requestId: request.requestId });
        return { runId: current.runId, started: false };
      }
      try {
        const { run } = engine.startWorkflow(
          { ...startOptions(request), signal: { name: request.signalName as string, input: request.signalInput, header: request.header, identity: request.identity as string } },
          { reuse: request.workflowIdReusePolicy as number, conflict: 1 },
        );
        return { runId: run.runId, started: true };
      } catch (error) {
        return withAlreadyStartedDetails(error);
      }
    },

    SignalWorkflowExecution: (request) => {
      const run = engine.findOpenRun(request.namespace as string, request.workflowExecution);
      engine.signal(run, request);
      return {};
    },

    RequestCancelWorkflowExecution: (request) => {
      const run = engine.findOpenRun(request.namespace as string, request.workflowExecution);
      engine.requestCancel(run, request.reason as string, request.identity as string);
      return {};
    },

    TerminateWorkflowExecution: (request) => {
      const run = engine.findOpenRun(request.namespace as string, request.workflowExecution);
      engine.terminate(run, request.reason as string, request.identity as string, request.details);
      return {};
    },

    QueryWorkflow: async (request) => {
      const run = engine.findRun(request.namespace as string, request.execution);
      const rejectCondition = request.queryRejectCondition as number;
      if ((rejectCondition === 2 && !run.open) || (rejectCondition === 3 && run.status !== Status.Completed && !run.open)) {
        return { queryRejected: { status: run.status } };
      }
      return engine.query(run, request);
    },

    DescribeWorkflowExecution: (request) => engine.describe(engine.findRun(request.namespace as string, request.execution)),

    GetWorkflowExecutionHistory: async (request, call) => {
      const run = engine.findRun(request.namespace as string, request.execution);
      const closeOnly = request.historyEventFilterType === 2;
      const pageSize = num(request.maximumPageSize) || 1000;
      const token = request.nextPageToken && (request.nextPageToken as Uint8Array).length ? JSON.parse(Buffer.from(request.nextPageToken).toString()) : { from: 1 };
      const waitMs = pollWaitMs(call, 20_000);
      if (closeOnly) {
        if (run.open && request.waitNewEvent) await run.waitForHistory(waitMs).then(async () => (run.open ? waitClosed(run, call, waitMs) : undefined));
        if (run.open) return { history: { events: [] }, nextPageToken: Buffer.from(JSON.stringify(token)) };
        return { history: { events: [run.closeEvent] } };
      }
      let events = run.history.slice(token.from - 1, token.from - 1 + pageSize);
      if (events.length === 0 && request.waitNewEvent && run.open) {
        await run.waitForHistory(waitMs);
        events = run.history.slice(token.from - 1, token.from - 1 + pageSize);
      }
      const next = token.from + events.length;
      const more = next <= run.history.length || (request.waitNewEvent && run.open);
      // The last page ends with a pending speculative workflow task's events, as the server sends them (not to the CLI
      // or UI); they are no part of the page position.
      const speculative = !request.waitNewEvent && next > run.history.length && !['temporal-cli', 'temporal-ui'].includes(String(call.metadata.get('client-name')[0] ?? '')) ? run.speculativeEvents : [];
      return { history: { events: [...events, ...speculative] }, nextPageToken: more && events.length > 0 ? Buffer.from(JSON.stringify({ from: next })) : request.waitNewEvent && run.open ? Buffer.from(JSON.stringify({ from: next })) : Buffer.alloc(0) };
    },

    GetWorkflowExecutionHistoryReverse: (request) => workflowHistoryReverse(engine, request),

    ListWorkflowExecutions: (request) => listWorkflowExecutions(engine, request),
    ScanWorkflowExecutions: (request) => listWorkflowExecutions(engine, request),
    CountWorkflowExecutions: (request) => countWorkflowExecutions(engine, request),
    GetSearchAttributes: () => ({ keys: Object.fromEntries(engine.namespace('default').searchAttributes) }),

    PollWorkflowTaskQueue: (request, call) => {
      const fromSticky = request.taskQueue?.kind === 2;
      return longPoll(engine, engine.workflowQueue(request.namespace as string, request.taskQueue?.name as string), call, (task) => {
        if (task.kind === 'query') return engine.pendingLegacyQueries.has(task.query.id) ? engine.startQueryTask(task as QueryTaskRef) : undefined;
        const ref = task as WorkflowTaskRef;
        return ref.run.open && ref.run.wft.state === 'scheduled' ? engine.startWorkflowTask(ref, request.identity as string, fromSticky) : undefined;
      });
    },

    RespondWorkflowTaskCompleted: (request) => {
      const token = decodeToken(request.taskToken);
      const run = engine.workflowTaskRun(token.namespace, token.runId, token.id as number, token.attempt);
      return engine.completeWorkflowTask(run, request);
    },

    RespondWorkflowTaskFailed: (request) => {
      const token = decodeToken(request.taskToken);
      const run = engine.workflowTaskRun(token.namespace, token.runId, token.id as number, token.attempt);
      engine.failWorkflowTask(run, request.cause as number, request.failure, request.identity as string);
      return {};
    },

    RespondQueryTaskCompleted: (request) => {
      const token = decodeToken(request.taskToken);
      const pending = engine.pendingLegacyQueries.get(String(token.id));
      if (!pending) throw notFound('query not found');
      engine.pendingLegacyQueries.delete(String(token.id));
      answerQuery(pending.query, request.completedType === 1 ? { answer: request.queryResult } : { error: (request.errorMessage as string) || 'query failed' });
      return {};
    },

    PollActivityTaskQueue: (request, call) => {
      const queue = engine.activityQueue(request.namespace as string, request.taskQueue?.name as string);
      // A worker's `maxTaskQueueActivitiesPerSecond` arrives with each of its polls.
      const perSecond = request.taskQueueMetadata?.maxTasksPerSecond?.value as number | undefined;
      if (perSecond !== undefined) queue.setRateLimit(Number(perSecond));
      return longPoll(engine, queue, call, (task) => {
        const activity = task.run.activities.get(task.scheduledEventId);
        return task.run.open && activity?.state === 'scheduled' && activity.attempt === task.attempt ? engine.startActivityTask(task, request.identity as string) : undefined;
      });
    },

    ...activityResponses(engine, 'ById', (request) => activityById(engine, request)),
    ...activityResponses(engine, '', (request) => activityByToken(engine, request.taskToken)),

    UpdateWorkflowExecution: async (request, call) => {
      const stage = (request.waitPolicy?.lifecycleStage as number | undefined) ?? STAGE.Unspecified;
      if (stage === STAGE.Unspecified) throw invalidArgument('LifeCycle stage is required');
      const run = engine.findRun(request.namespace as string, request.workflowExecution);
      if (request.firstExecutionRunId && run.startRequest.firstExecutionRunId !== request.firstExecutionRunId) {
        throw notFound(`workflow execution ${run.workflowId} with first run ${request.firstExecutionRunId as string} not found`);
      }
      const update = engine.admitUpdate(run, request.request ?? {});
      return updateResponse(update, run.workflowId, stage, call);
    },

    PollWorkflowExecutionUpdate: async (request, call) => {
      const ref = request.updateRef ?? {};
      const update = engine.findUpdate(request.namespace as string, ref.workflowExecution, ref.updateId as string);
      return updateResponse(update, ref.workflowExecution?.workflowId as string, (request.waitPolicy?.lifecycleStage as number | undefined) ?? STAGE.Unspecified, call);
    },

    // Update-with-start: the only multi-operation the SDK sends (start, then update, one atomic step).
    ExecuteMultiOperation: async (request, call) => {
      const [first, second] = (request.operations ?? []) as Msg[];
      const start = first?.startWorkflow as Msg | undefined;
      const update = second?.updateWorkflow as Msg | undefined;
      if (!start || !update || request.operations.length !== 2) throw invalidArgument('expected exactly a start-workflow and an update-workflow operation');
      validateStart(start);
      const conflict = start.workflowIdConflictPolicy as number;
      if (conflict !== 1 && conflict !== 2) throw invalidArgument('update-with-start needs the workflow id conflict policy FAIL or USE_EXISTING');
      const stage = (update.waitPolicy?.lifecycleStage as number | undefined) ?? STAGE.Unspecified;
      if (stage === STAGE.Unspecified) throw invalidArgument('LifeCycle stage is required');
      let started: { run: Run; started: boolean };
      try {
        started = engine.startWorkflow({ ...startOptions(start), namespace: request.namespace as string }, { reuse: start.workflowIdReusePolicy as number, conflict });
      } catch (error) {
        return withAlreadyStartedDetails(error);
      }
      // Admitted before the first workflow task is taken, so that task carries it.
      const admitted = engine.admitUpdate(started.run, update.request ?? {});
      const updateWorkflow = await updateResponse(admitted, started.run.workflowId, stage, call);
      return { responses: [{ startWorkflow: { runId: started.run.runId, started: started.started } }, { updateWorkflow }] };
    },

    ShutdownWorker: (request) => {
      const sticky = request.stickyTaskQueue as string;
      log(`ShutdownWorker ${request.taskQueue} sticky ${sticky} worker ${request.workerInstanceKey}`);
      if (sticky) engine.dropStickyQueue(request.namespace as string, sticky);
      // `worker_poll_complete_on_shutdown`: the worker waits for its outstanding polls instead of abandoning them,
      // so they are answered (empty) now, on its normal queues too.
      const owner = request.workerInstanceKey as string;
      if (owner && request.taskQueue) engine.completeWorkerPolls(request.namespace as string, request.taskQueue as string, owner);
      forgetWorkerPollers(engine, request);
      return {};
    },
    ResetWorkflowExecution: (request) => resetWorkflowExecution(engine, request),
    ResetStickyTaskQueue: (request) => {
      const run = engine.findRun(request.namespace as string, request.execution);
      run.sticky = undefined;
      return {};
    },
    DescribeTaskQueue: (request) => describeTaskQueue(engine, request),
    GetClusterInfo: () => clusterInfo(),

    CreateSchedule: (request) => schedules.create(request),
    DescribeSchedule: (request) => schedules.describe(request),
    ListSchedules: (request) => schedules.list(request),
    UpdateSchedule: (request) => schedules.update(request),
    PatchSchedule: (request) => schedules.patch(request),
    DeleteSchedule: (request) => schedules.delete(request),
    ListScheduleMatchingTimes: (request) => schedules.matchingTimes(request),
  };
}

/**
 * Answers an update request once the update reached `stage` (or failed), or with the stage it got to when the long
 * poll's time is up (the client asks again).
 */
async function updateResponse(update: UpdateState, workflowId: string, stage: number, call: grpc.ServerUnaryCall<Msg, Msg>): Promise<Msg> {
  if (stage > STAGE.Admitted) await waitForStage(update, stage, pollWaitMs(call, 20_000));
  if (update.error) throw update.error;
  const reached = stageOf(update);
  return {
    updateRef: { workflowExecution: { workflowId, runId: update.runId }, updateId: update.id },
    outcome: reached === STAGE.Completed ? update.outcome : undefined,
    stage: reached,
  };
}

/** Waits until the run closes, or the long poll's time is up. */
async function waitClosed(run: Run, call: grpc.ServerUnaryCall<Msg, Msg>, waitMs: number): Promise<void> {
  const until = Date.now() + waitMs;
  while (run.open && !call.cancelled && Date.now() < until) await run.waitForHistory(until - Date.now());
}

/** The heartbeat and completion RPCs of activities, addressed by task token or (`ById`) by workflow and activity id. */
function activityResponses(engine: Engine, suffix: '' | 'ById', find: (request: Msg) => { run: Run; activity: ActivityState }): Record<string, Handler> {
  return {
    [`RecordActivityTaskHeartbeat${suffix}`]: (request) => {
      const { run, activity } = find(request);
      return engine.heartbeat(run, activity, request.details);
    },
    [`RespondActivityTaskCompleted${suffix}`]: (request) => {
      const { run, activity } = find(request);
      engine.completeActivity(run, activity, request.result, request.identity as string);
      return {};
    },
    [`RespondActivityTaskFailed${suffix}`]: (request) => {
      const { run, activity } = find(request);
      engine.failActivity(run, activity, request.failure, request.identity as string, request.lastHeartbeatDetails);
      return {};
    },
    [`RespondActivityTaskCanceled${suffix}`]: (request) => {
      const { run, activity } = find(request);
      engine.cancelActivityReported(run, activity, request.details, request.identity as string);
      return {};
    },
  };
}

function activityByToken(engine: Engine, taskToken: Uint8Array) {
  const token = decodeToken(taskToken);
  if (token.kind !== 'activity') throw notFound('not an activity task token');
  const run = engine.namespace(token.namespace).runs.get(token.runId);
  if (!run) throw notFound('workflow run not found');
  return { run, activity: engine.activityFor(run, token.id as number, token.attempt) };
}

function activityById(engine: Engine, request: Msg) {
  const run = engine.findOpenRun(request.namespace as string, { workflowId: request.workflowId, runId: request.runId });
  return { run, activity: engine.activityById(run, request.activityId as string) };
}

function operatorService(engine: Engine): Record<string, Handler> {
  return {
    AddSearchAttributes: (request) => {
      const namespace = engine.namespace((request.namespace as string) || 'default');
      for (const [name, type] of Object.entries((request.searchAttributes ?? {}) as Record<string, number>)) namespace.searchAttributes.set(name, type);
      return {};
    },
    RemoveSearchAttributes: (request) => {
      const namespace = engine.namespace((request.namespace as string) || 'default');
      for (const name of (request.searchAttributes ?? []) as string[]) namespace.searchAttributes.delete(name);
      return {};
    },
    ListSearchAttributes: (request) => {
      const namespace = engine.namespace((request.namespace as string) || 'default');
      return {
        customAttributes: Object.fromEntries(namespace.searchAttributes),
        systemAttributes: SYSTEM_SEARCH_ATTRIBUTES,
        storageSchema: {},
      };
    },
  };
}

function testService(clock: Clock): Record<string, Handler> {
  const sleepUntil = (at: number) => new Promise<Msg>((resolve) => clock.schedule(at, () => resolve({})));
  return {
    GetCurrentTime: () => ({ time: timestamp(clock.now()) }),
    LockTimeSkipping: () => {
      clock.lockExternal();
      return {};
    },
    UnlockTimeSkipping: () => {
      clock.unlockExternal();
      return {};
    },
    UnlockTimeSkippingWithSleep: (request) => {
      const wake = sleepUntil(clock.now() + (durationMs(request.duration) ?? 0)).then((reply) => {
        clock.lockExternal();
        return reply;
      });
      clock.unlockExternal();
      return wake;
    },
    Sleep: (request) => sleepUntil(clock.now() + (durationMs(request.duration) ?? 0)),
    SleepUntil: (request) => sleepUntil(timestampMs(request.timestamp) ?? clock.now()),
  };
}

