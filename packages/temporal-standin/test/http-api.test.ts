/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read JSON answers */
/**
 * Temporal's HTTP API on the stand-in, as a `curl` user (plain fetch) and Temporal UI see it: the /api/v1 bindings
 * read from the descriptors, canonical proto3 JSON, payload shorthand on the server's HTTP port and the full form
 * for the UI, grpc-gateway's errors, and what the UI server adds (settings, the raw history download).
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { httpBindingCounts } from '../src/http-api';
import { type RunningTemporalStandin, startTemporalStandin } from '../src/server';
import * as activities from './activities';
import { counterWorkflow } from './workflows';

let standin: RunningTemporalStandin;
let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let bundle: WorkflowBundle;
let uiServer: Server;
let api: string;
let uiApi: string;
const taskQueue = 'http-api';

beforeAll(async () => {
  standin = await startTemporalStandin({ httpPort: 0 });
  api = `http://${standin.httpAddress}/api/v1`;
  uiServer = createServer(standin.httpApi({ uiVersion: '2.38.0' }));
  await new Promise<void>((resolve) => uiServer.listen(0, '127.0.0.1', resolve));
  uiApi = `http://127.0.0.1:${(uiServer.address() as AddressInfo).port}/api/v1`;
  connection = await Connection.connect({ address: standin.address });
  client = new Client({ connection });
  nativeConnection = await NativeConnection.connect({ address: standin.address });
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
}, 60_000);

afterAll(async () => {
  await nativeConnection?.close();
  await connection?.close();
  await new Promise((resolve) => uiServer?.close(resolve));
  await standin?.close();
});

async function call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(url, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: response.status, json: await response.json() };
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

test('every /api/v1 binding of WorkflowService and OperatorService is read from the descriptors', () => {
  expect(httpBindingCounts()).toEqual({ WorkflowService: 100, OperatorService: 6 });
});

test('list, describe, signal, query and history through plain HTTP, payloads in shorthand', async () => {
  const workflowId = `http-counter-${Date.now()}`;
  const handle = await client.workflow.start(counterWorkflow, { taskQueue, workflowId, memo: { title: 'A campaign' } });
  const worker = await Worker.create({ connection: nativeConnection, taskQueue, workflowBundle: bundle, activities });
  await worker.runUntil(async () => {
    const listed = await call('GET', `${api}/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId = '${workflowId}'`)}`);
    expect(listed.status).toBe(200);
    expect(listed.json.executions).toHaveLength(1);
    expect(listed.json.executions[0]).toMatchObject({
      execution: { workflowId, runId: handle.firstExecutionRunId },
      type: { name: 'counterWorkflow' },
      status: 'WORKFLOW_EXECUTION_STATUS_RUNNING',
      taskQueue,
      memo: { fields: { title: 'A campaign' } },
    });
    expect(listed.json.executions[0].startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(listed.json.executions[0].historyLength).toMatch(/^\d+$/);

    const described = await call('GET', `${api}/namespaces/default/workflows/${workflowId}?execution.runId=${handle.firstExecutionRunId}`);
    expect(described.json.workflowExecutionInfo).toMatchObject({ type: { name: 'counterWorkflow' }, status: 'WORKFLOW_EXECUTION_STATUS_RUNNING' });
    expect(described.json.executionConfig.taskQueue).toEqual({ name: taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' });

    // A shorthand input and a full-form one both arrive as json/plain payloads.
    expect((await call('POST', `${api}/namespaces/default/workflows/${workflowId}/signal/add`, { input: [5] })).status).toBe(200);
    const full = { input: { payloads: [{ metadata: { encoding: base64('json/plain') }, data: base64('2') }] } };
    expect((await call('POST', `${api}/namespaces/default/workflows/${workflowId}/signal/add`, full)).status).toBe(200);

    const queried = await call('POST', `${api}/namespaces/default/workflows/${workflowId}/query/total`, { query: {} });
    expect(queried).toEqual({ status: 200, json: { queryResult: [7] } });
    expect(await handle.query<number>('total')).toBe(7);

    const history = await call('GET', `${api}/namespaces/default/workflows/${workflowId}/history`);
    const signals = history.json.history.events.filter((event: any) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    expect(history.json.history.events[0]).toMatchObject({ eventId: '1', eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED' });
    expect(signals.map((event: any) => event.workflowExecutionSignaledEventAttributes.input)).toEqual([[5], [2]]);

    // `?noPayloadShorthand` asks for the full form, as Temporal's server HTTP API takes it.
    const fullForm = await call('GET', `${api}/namespaces/default/workflows/${workflowId}?noPayloadShorthand`);
    expect(fullForm.json.workflowExecutionInfo.memo.fields.title).toEqual({ metadata: { encoding: base64('json/plain') }, data: base64('"A campaign"') });

    await call('POST', `${api}/namespaces/default/workflows/${workflowId}/signal/finish`, {});
    expect(await handle.result()).toBe(7);
  });
  const counted = await call('GET', `${api}/namespaces/default/workflow-count?query=${encodeURIComponent(`WorkflowId = '${workflowId}' AND ExecutionStatus = 'Completed'`)}`);
  expect(counted.json.count).toBe('1');
});

test('errors answer grpc-gateway shapes: 404 for an unknown workflow, 400 naming a bad field, 501 for what the stand-in lacks', async () => {
  const missing = await call('GET', `${api}/namespaces/default/workflows/no-such-workflow`);
  expect(missing.status).toBe(404);
  expect(missing.json).toMatchObject({ code: 5, details: [] });
  const unknownField = await call('POST', `${api}/namespaces/default/workflows/any/signal/add`, { inputs: [] });
  expect(unknownField.status).toBe(400);
  expect(unknownField.json.message).toMatch(/inputs: unknown field/);
  const unimplemented = await call('GET', `${api}/namespaces/default/worker-deployments`);
  expect(unimplemented.status).toBe(501);
  expect((await call('GET', `${api}/nowhere`)).status).toBe(404);
});

test("for Temporal UI: its server's settings, the full payload form, and the raw history download", async () => {
  const settings = await call('GET', `${uiApi}/settings`);
  expect(settings.json).toMatchObject({ Auth: { Enabled: false }, Codec: { Endpoint: '' }, Version: '2.38.0', DefaultNamespace: 'default', NotifyOnNewVersion: false });

  const workflowId = `http-ui-${Date.now()}`;
  const handle = await client.workflow.start(counterWorkflow, { taskQueue, workflowId });
  const worker = await Worker.create({ connection: nativeConnection, taskQueue, workflowBundle: bundle, activities });
  await worker.runUntil(async () => {
    await call('POST', `${uiApi}/namespaces/default/workflows/${workflowId}/signal/add`, {
      signalName: 'add',
      workflowExecution: { workflowId, runId: handle.firstExecutionRunId },
      input: { payloads: [{ metadata: { encoding: base64('json/plain') }, data: base64('3') }] },
    });
    const queried = await call('POST', `${uiApi}/namespaces/default/workflows/${workflowId}/query/total`, { query: { queryType: 'total' } });
    expect(queried.json.queryResult.payloads[0]).toEqual({ metadata: { encoding: base64('json/plain') }, data: base64('3') });
    await handle.signal('finish');
    await handle.result();
  });
  const response = await fetch(`${uiApi}/namespaces/default/workflows/${workflowId}/run/${handle.firstExecutionRunId}/history.json`);
  const events = (await response.json()) as Array<{ eventId: string; eventType: string }>;
  expect(events[0]).toMatchObject({ eventId: '1', eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED' });
  expect(events.at(-1)!.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
  expect(events.map((event) => Number(event.eventId))).toEqual(events.map((_, index) => index + 1));
});
