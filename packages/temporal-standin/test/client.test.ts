/**
 * Conformance of the stand-in's client-facing surface: describe, visibility (list, count, search attributes),
 * memo, start policies, history paging, dev mode through `createLocal`, and the executable's contract.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { TEMPORAL_STANDIN_BIN } from '../src/testing';
import { Conformance } from './harness';
import { addSignal, counterWorkflow, finishSignal, helloWorkflow, searchAttributesWorkflow, sleepyWorkflow } from './workflows';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

const keyword = defineSearchAttributeKey('CustomKeywordField', SearchAttributeType.KEYWORD_LIST);

test('describe reports status, type, task queue, memo and search attributes', async () => {
  const workflowId = t.id('describe');
  const handle = t.record(
    await t.client.workflow.start(counterWorkflow, {
      taskQueue: t.taskQueue,
      workflowId,
      memo: { title: 'A campaign' },
      typedSearchAttributes: [{ key: keyword, value: ['tagged'] }],
    }),
  );
  const running = await handle.describe();
  expect(running.status.name).toBe('RUNNING');
  expect(running.type).toBe('counterWorkflow');
  expect(running.taskQueue).toBe(t.taskQueue);
  expect(running.memo).toEqual({ title: 'A campaign' });
  expect(running.typedSearchAttributes.get(keyword)).toEqual(['tagged']);
  await t.withWorker(async () => {
    await handle.signal(finishSignal);
    await handle.result();
  });
  const closed = await handle.describe();
  expect(closed.status.name).toBe('COMPLETED');
  expect(closed.closeTime).toBeInstanceOf(Date);
  expect(closed.historyLength).toBeGreaterThan(5);
});

test('upserted search attributes are listed and counted by visibility queries', async () => {
  const tag = `tag-${randomUUID()}`;
  const ids = await t.withWorker(async () => {
    const handles = await Promise.all(
      [1, 2, 3].map(async (i) =>
        t.record(await t.client.workflow.start(searchAttributesWorkflow, { taskQueue: t.taskQueue, workflowId: t.id(`sa-${i}`), args: [i === 3 ? `${tag}-other` : tag] })),
      ),
    );
    await Promise.all(handles.map((handle) => handle.result()));
    return handles.map((handle) => handle.workflowId);
  });
  const listed: string[] = [];
  for await (const execution of t.client.workflow.list({ query: `CustomKeywordField = '${tag}' AND WorkflowType = 'searchAttributesWorkflow'` })) {
    listed.push(execution.workflowId);
  }
  expect(listed.sort()).toEqual(ids.slice(0, 2).sort());
  const count = await t.client.workflow.count(`CustomKeywordField IN ('${tag}', '${tag}-other') AND ExecutionStatus = 'Completed'`);
  expect(count.count).toBe(3);
  const byId = await t.client.workflow.count(`WorkflowId = '${ids[2]}' OR WorkflowId = 'missing'`);
  expect(byId.count).toBe(1);
  await expect(t.client.workflow.count('ExecutionStatus = ')).rejects.toThrow();
});

test('a running workflow id cannot be started twice; REJECT_DUPLICATE also refuses a closed one', async () => {
  const workflowId = t.id('dupe');
  const first = t.record(await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId }));
  await expect(t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId })).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
  await t.withWorker(async () => {
    await first.signal(finishSignal);
    await first.result();
  });
  await expect(
    t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId, workflowIdReusePolicy: 'REJECT_DUPLICATE' }),
  ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
  const again = await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId, workflowIdReusePolicy: 'ALLOW_DUPLICATE' });
  expect(again.firstExecutionRunId).not.toBe(first.firstExecutionRunId);
  await again.terminate();
});

test('USE_EXISTING returns the running workflow instead of failing', async () => {
  const workflowId = t.id('use-existing');
  const first = await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId });
  const second = await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId, workflowIdConflictPolicy: 'USE_EXISTING' });
  expect(second.firstExecutionRunId).toBe(first.firstExecutionRunId);
  await first.terminate();
});

test('a start request repeated with the same request id is one workflow', async () => {
  const request = {
    namespace: 'default',
    workflowId: t.id('request-id'),
    workflowType: { name: 'counterWorkflow' },
    taskQueue: { name: t.taskQueue },
    requestId: randomUUID(),
  };
  const first = await t.client.workflowService.startWorkflowExecution(request);
  const second = await t.client.workflowService.startWorkflowExecution(request);
  expect(second.runId).toBe(first.runId);
  await t.client.workflow.getHandle(request.workflowId).terminate();
});

test('history is paged, and a run closed by a signal shows the signal in order', async () => {
  const handle = t.record(await t.client.workflow.start(counterWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('paging') }));
  await t.withWorker(async () => {
    for (let i = 0; i < 30; i++) await handle.signal(addSignal, 1);
    await handle.signal(finishSignal);
    expect(await handle.result()).toBe(30);
  });
  const page = await t.client.workflowService.getWorkflowExecutionHistory({
    namespace: 'default',
    execution: { workflowId: handle.workflowId },
    maximumPageSize: 10,
  });
  expect(page.history?.events).toHaveLength(10);
  expect(page.nextPageToken?.length).toBeGreaterThan(0);
  const all = await handle.fetchHistory();
  const signals = all.events!.filter((event) => event.workflowExecutionSignaledEventAttributes).length;
  expect(signals).toBe(31);
  const ids = all.events!.map((event) => Number(event.eventId));
  expect(ids).toEqual(ids.map((_, i) => i + 1));
});

test('queries can be refused on closed workflows with a reject condition', async () => {
  const handle = t.record(await t.client.workflow.start(helloWorkflow, { taskQueue: t.taskQueue, workflowId: t.id('reject'), args: ['x'] }));
  await t.withWorker(() => handle.result());
  const response = await t.client.workflowService.queryWorkflow({
    namespace: 'default',
    execution: { workflowId: handle.workflowId },
    query: { queryType: 'total' },
    queryRejectCondition: 2, // NOT_OPEN
  });
  expect(response.queryRejected?.status).toBe(2); // COMPLETED
});

test('createLocal runs the executable as a dev server in real time', async () => {
  const local = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: TEMPORAL_STANDIN_BIN } } });
  try {
    const info = await local.connection.workflowService.getSystemInfo({});
    expect(info.capabilities?.sdkMetadata).toBe(true);
    const handle = await local.client.workflow.start(sleepyWorkflow, { taskQueue: 'local', workflowId: t.id('local'), args: [1] });
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.terminate();
  } finally {
    await local.teardown();
  }
});

test('the executable starts quietly on the port it is given and answers the SDK', async () => {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(TEMPORAL_STANDIN_BIN, [String(port), '--search-attribute', 'CampaignId=Keyword'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    let connection: Connection | undefined;
    const started = Date.now();
    while (!connection && Date.now() - started < 5_000) {
      connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 200 }).catch(() => undefined);
      if (!connection) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(connection).toBeDefined();
    const attributes = await connection!.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(attributes.customAttributes).toMatchObject({ CampaignId: 2, CustomKeywordField: 2 });
    await connection!.close();
    expect(output).toBe('');
  } finally {
    child.kill('SIGKILL');
  }
});
