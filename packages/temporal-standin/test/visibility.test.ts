/**
 * Conformance of visibility (ListWorkflowExecutions, CountWorkflowExecutions) with the queries Temporal UI sends:
 * counts grouped by status, time ranges, prefix search, IN, IS NULL, parent and root relationships. The expected
 * answers are the server's SQL visibility store's (temporalio/temporal common/persistence/visibility/store/query
 * converter.go, store/sql): operators per search attribute type, SQL NULL semantics, its list order, and its
 * INVALID_ARGUMENT "invalid query: ..." messages.
 */
import { randomUUID } from 'node:crypto';
import { type WorkflowHandle } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Conformance } from './harness';
import { counterWorkflow, finishSignal, parentWorkflow, totalQuery } from './workflows';

const t = new Conformance();
// One worker for the file (workflows whose tasks are done hold no time-skipping lock, so env.sleep skips).
let stopWorker: () => Promise<void> = async () => undefined;
beforeAll(async () => {
  await t.setup();
  const worker = await t.worker();
  const running = worker.run();
  stopWorker = async () => {
    worker.shutdown();
    await running;
  };
});
afterAll(async () => {
  await stopWorker();
  await t.teardown();
});

const keyword = defineSearchAttributeKey('CustomKeywordField', SearchAttributeType.KEYWORD);
const int = defineSearchAttributeKey('CustomIntField', SearchAttributeType.INT);
const double = defineSearchAttributeKey('CustomDoubleField', SearchAttributeType.DOUBLE);
const bool = defineSearchAttributeKey('CustomBoolField', SearchAttributeType.BOOL);
const datetime = defineSearchAttributeKey('CustomDatetimeField', SearchAttributeType.DATETIME);

type Attributes = Parameters<typeof t.client.workflow.start>[1]['typedSearchAttributes'];
const startTagged = (tag: string, name: string, typedSearchAttributes: Attributes = []) =>
  t.client.workflow.start(counterWorkflow, {
    taskQueue: t.taskQueue,
    workflowId: `${tag}-${name}`,
    typedSearchAttributes: [{ key: keyword, value: tag }, ...(typedSearchAttributes as never[])],
  });

/** The workflow ids a query lists, in the order listed. */
async function listed(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const execution of t.client.workflow.list({ query })) ids.push(execution.workflowId);
  return ids;
}
const names = async (tag: string, query: string) => (await listed(`CustomKeywordField = '${tag}' AND (${query})`)).map((id) => id.slice(tag.length + 1)).sort();

async function rawCount(query: string): Promise<temporal.api.workflowservice.v1.ICountWorkflowExecutionsResponse> {
  return t.client.workflowService.countWorkflowExecutions({ namespace: 'default', query });
}

/** Waits until the worker has run the workflow's first task (its query answers). */
const settled = (handle: WorkflowHandle) => handle.query(totalQuery);

test('CountWorkflowExecutions GROUP BY ExecutionStatus answers a group per status, keyed by Keyword payloads', async () => {
  const tag = `group-${randomUUID()}`;
  const handles = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => startTagged(tag, name)));
  await Promise.all(handles.map(settled));
  for (const handle of handles.slice(0, 2)) {
    await handle.signal(finishSignal);
    await handle.result();
  }
  await handles[2]!.terminate('enough');
  const response = await rawCount(`CustomKeywordField = '${tag}' GROUP BY ExecutionStatus`);
  expect(Number(response.count)).toBe(5);
  const groups = (response.groups ?? []).map((group) => ({
    value: Buffer.from(group.groupValues![0]!.data!).toString(),
    encoding: Buffer.from(group.groupValues![0]!.metadata!.encoding!).toString(),
    type: Buffer.from(group.groupValues![0]!.metadata!.type!).toString(),
    count: Number(group.count),
  }));
  // Ordered by status: Running (1), Completed (2), Terminated (5).
  expect(groups).toEqual([
    { value: '"Running"', encoding: 'json/plain', type: 'Keyword', count: 2 },
    { value: '"Completed"', encoding: 'json/plain', type: 'Keyword', count: 2 },
    { value: '"Terminated"', encoding: 'json/plain', type: 'Keyword', count: 1 },
  ]);
  // The SDK decodes the same groups (as it decodes any untyped search attribute payload: a list of values).
  const counted = await t.client.workflow.count(`CustomKeywordField = '${tag}' GROUP BY ExecutionStatus`);
  expect(counted.groups).toEqual([
    { count: 2, groupValues: [['Running']] },
    { count: 2, groupValues: [['Completed']] },
    { count: 1, groupValues: [['Terminated']] },
  ]);
  // GROUP BY alone (the UI's count with no filter): the groups add up to the total.
  const all = await rawCount('GROUP BY ExecutionStatus');
  expect((all.groups ?? []).reduce((sum, group) => sum + Number(group.count), 0)).toBe(Number(all.count));
  expect(Number(all.count)).toBeGreaterThanOrEqual(5);
  // Without GROUP BY: the total only. Statuses by name or number filter the same.
  expect((await rawCount(`CustomKeywordField = '${tag}'`)).groups ?? []).toEqual([]);
  expect((await t.client.workflow.count(`CustomKeywordField = '${tag}' AND ExecutionStatus = 'Running'`)).count).toBe(2);
  expect((await t.client.workflow.count(`CustomKeywordField = '${tag}' AND ExecutionStatus IN (2, 5)`)).count).toBe(3);
  await Promise.all(['d', 'e'].map((name) => t.client.workflow.getHandle(`${tag}-${name}`).terminate()));
});

test('StartTime, CloseTime and ExecutionTime take ranges, comparisons and IS NULL', async () => {
  const tag = `time-${randomUUID()}`;
  const starts: Record<string, string> = {};
  for (const name of ['a', 'b', 'c']) {
    const handle = await startTagged(tag, name);
    await settled(handle);
    starts[name] = (await handle.describe()).startTime.toISOString();
    await t.env.sleep('1 minute');
  }
  const a = t.client.workflow.getHandle(`${tag}-a`);
  await a.signal(finishSignal);
  await a.result();
  expect(await names(tag, `StartTime BETWEEN '${starts.a}' AND '${starts.b}'`)).toEqual(['a', 'b']);
  expect(await names(tag, `StartTime > '${starts.a}'`)).toEqual(['b', 'c']);
  expect(await names(tag, `StartTime >= '${starts.b}'`)).toEqual(['b', 'c']);
  expect(await names(tag, `StartTime < '${starts.b}'`)).toEqual(['a']);
  expect(await names(tag, `StartTime <= '${starts.b}' AND StartTime != '${starts.a}'`)).toEqual(['b']);
  expect(await names(tag, `StartTime NOT BETWEEN '${starts.a}' AND '${starts.b}'`)).toEqual(['c']);
  // Datetimes may also be given as epoch nanoseconds.
  expect(await names(tag, `StartTime > ${BigInt(Date.parse(starts.b!)) * 1_000_000n}`)).toEqual(['c']);
  expect(await names(tag, 'CloseTime IS NULL')).toEqual(['b', 'c']);
  expect(await names(tag, 'CloseTime IS NOT NULL')).toEqual(['a']);
  expect(await names(tag, `CloseTime > '${starts.a}'`)).toEqual(['a']);
  expect(await names(tag, `ExecutionTime <= '${starts.c}'`)).toEqual(['a', 'b', 'c']);
  await Promise.all(['b', 'c'].map((name) => t.client.workflow.getHandle(`${tag}-${name}`).terminate()));
});

test('Int, Double, Bool and Datetime attributes compare by type; an absent attribute matches neither a test nor its NOT', async () => {
  const tag = `typed-${randomUUID()}`;
  const first = new Date('2026-01-01T00:00:00.000Z');
  const second = new Date('2026-02-01T00:00:00.000Z');
  const handles = [
    await startTagged(tag, 'one', [{ key: int, value: 1 }, { key: double, value: 0.5 }, { key: bool, value: true }, { key: datetime, value: first }] as never),
    await startTagged(tag, 'two', [{ key: int, value: 2 }, { key: double, value: 1.5 }, { key: bool, value: false }, { key: datetime, value: second }] as never),
    await startTagged(tag, 'none'),
  ];
  expect(await names(tag, 'CustomIntField BETWEEN 1 AND 2')).toEqual(['one', 'two']);
  expect(await names(tag, 'CustomIntField != 1')).toEqual(['two']);
  expect(await names(tag, 'NOT (CustomIntField = 1)')).toEqual(['two']);
  expect(await names(tag, 'CustomIntField IN (2, 3)')).toEqual(['two']);
  expect(await names(tag, 'CustomIntField IS NULL')).toEqual(['none']);
  expect(await names(tag, 'CustomDoubleField < 1')).toEqual(['one']);
  expect(await names(tag, 'CustomDoubleField >= 1.5')).toEqual(['two']);
  expect(await names(tag, 'CustomBoolField = true')).toEqual(['one']);
  expect(await names(tag, `CustomDatetimeField > '${first.toISOString()}'`)).toEqual(['two']);
  expect(await names(tag, `CustomDatetimeField <= '2026-01-01T01:00:00+01:00'`)).toEqual(['one']);
  expect(await names(tag, 'CustomIntField = 1 OR CustomBoolField = false')).toEqual(['one', 'two']);
  expect(await names(tag, '(CustomIntField = 1 OR CustomIntField = 2) AND CustomDoubleField > 1')).toEqual(['two']);
  await Promise.all(handles.map((handle) => handle.terminate()));
});

test('keywords take STARTS_WITH, IN, NOT IN and <>', async () => {
  const tag = `keyword-${randomUUID()}`;
  const handles = await Promise.all(['alpha-1', 'alpha-2', 'beta-1'].map((name) => startTagged(tag, name)));
  expect(await names(tag, `WorkflowId STARTS_WITH '${tag}-alpha'`)).toEqual(['alpha-1', 'alpha-2']);
  // As the UI writes its filters: quoted names, double-quoted values.
  expect(await names(tag, `\`WorkflowId\` STARTS_WITH "${tag}-beta" OR \`WorkflowId\`="${tag}-alpha-2"`)).toEqual(['alpha-2', 'beta-1']);
  expect(await names(tag, `WorkflowId NOT STARTS_WITH '${tag}-alpha'`)).toEqual(['beta-1']);
  expect(await names(tag, `WorkflowId IN ('${tag}-alpha-1', '${tag}-beta-1', 'other')`)).toEqual(['alpha-1', 'beta-1']);
  expect(await names(tag, `WorkflowId NOT IN ('${tag}-alpha-1')`)).toEqual(['alpha-2', 'beta-1']);
  expect(await names(tag, `WorkflowId <> "${tag}-alpha-2" AND WorkflowType = 'counterWorkflow' AND TaskQueue = '${t.taskQueue}'`)).toEqual(['alpha-1', 'beta-1']);
  await Promise.all(handles.map((handle) => handle.terminate()));
});

test('children are found by ParentWorkflowId / ParentRunId and the tree by RootWorkflowId (the Relationships tab)', async () => {
  const parentId = t.id('relations');
  const parent = t.record(await t.client.workflow.start(parentWorkflow, { taskQueue: t.taskQueue, workflowId: parentId, args: [[1, 2]] }));
  expect(await parent.result()).toEqual([2, 4]);
  const parentRunId = parent.firstExecutionRunId;

  const children: Array<{ id: string; parent?: string | null; parentRun?: string | null; root?: string | null }> = [];
  for await (const execution of t.client.workflow.list({ query: `ParentWorkflowId = "${parentId}" AND ParentRunId = "${parentRunId}"` })) {
    children.push({ id: execution.workflowId, parent: execution.parentExecution?.workflowId, parentRun: execution.parentExecution?.runId, root: execution.rootExecution?.workflowId });
  }
  expect(children.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
    { id: `${parentId}/child-0`, parent: parentId, parentRun: parentRunId, root: parentId },
    { id: `${parentId}/child-1`, parent: parentId, parentRun: parentRunId, root: parentId },
  ]);
  expect((await listed(`RootWorkflowId = "${parentId}" AND RootRunId = "${parentRunId}"`)).sort()).toEqual([parentId, `${parentId}/child-0`, `${parentId}/child-1`]);
  expect(await listed(`WorkflowId STARTS_WITH "${parentId}" AND ParentWorkflowId is NULL`)).toEqual([parentId]);
  const tree = await t.client.workflow.count(`RootWorkflowId = "${parentId}" GROUP BY ExecutionStatus`);
  expect(tree).toEqual({ count: 3, groups: [{ count: 3, groupValues: [['Completed']] }] });
});

test('lists page by keyset tokens in the SQL store order', async () => {
  const tag = `pages-${randomUUID()}`;
  const handles: WorkflowHandle[] = [];
  // A (virtual) second apart, so that start and close times order them.
  for (const name of ['a', 'b', 'c', 'd', 'e']) {
    handles.push(await startTagged(tag, name));
    await settled(handles.at(-1)!);
    await t.env.sleep('1 second');
  }
  await handles[1]!.terminate();
  await t.env.sleep('1 second');
  await handles[3]!.terminate();
  const seen: string[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page: temporal.api.workflowservice.v1.IListWorkflowExecutionsResponse = await t.client.workflowService.listWorkflowExecutions({
      namespace: 'default',
      query: `CustomKeywordField = '${tag}'`,
      pageSize: 2,
      nextPageToken,
    });
    expect(page.executions!.length).toBeLessThanOrEqual(2);
    seen.push(...page.executions!.map((execution) => execution.execution!.workflowId!.slice(-1)));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  // Open runs first (newest first), then closed ones by close time, latest first.
  expect(seen).toEqual(['e', 'c', 'a', 'd', 'b']);
  await Promise.all([handles[0], handles[2], handles[4]].map((handle) => handle!.terminate()));
});

test('queries the server refuses answer INVALID_ARGUMENT with its message', async () => {
  const refused = async (query: string, message: string, count = false) => {
    const call = count ? rawCount(query) : t.client.workflowService.listWorkflowExecutions({ namespace: 'default', query });
    await expect(call).rejects.toMatchObject({ code: 3, details: `invalid query: ${message}` });
  };
  await refused('NoSuchField = 1', "invalid expression: column name 'NoSuchField' is not a valid search attribute");
  await refused("CustomIntField = 'one'", 'invalid expression: invalid value type for search attribute CustomIntField of type Int: "one" (type: string)');
  await refused("CustomIntField STARTS_WITH '1'", "operation is not supported: operator 'STARTS_WITH' not supported for Int type search attribute 'CustomIntField'");
  await refused("CustomBoolField BETWEEN true AND false", "invalid expression: cannot do range condition on search attribute 'CustomBoolField' of type Bool");
  await refused('WorkflowId = abc', 'operation is not supported: column name on the right side of comparison expression (did you forget to quote "abc"?)');
  await refused("ExecutionStatus = 'Done'", "invalid expression: invalid ExecutionStatus value 'Done'");
  await refused("StartTime > 'yesterday'", "invalid expression: unable to parse datetime 'yesterday'");
  await refused("WorkflowId = 'x' ORDER BY StartTime", "operation is not supported: 'ORDER BY' clause");
  await refused('GROUP BY WorkflowType', "operation is not supported: 'GROUP BY' clause is not supported for search attribute WorkflowType", true);
  await refused('GROUP BY ExecutionStatus', "operation is not supported: 'GROUP BY' clause");
  await refused("WorkflowId = 'x' LIMIT 10", "operation is not supported: 'LIMIT' clause");
  await refused('WorkflowId', 'invalid expression: incomplete expression');
  await expect(t.client.workflowService.listWorkflowExecutions({ namespace: 'default', query: 'WorkflowId = ' })).rejects.toMatchObject({ code: 3 });
  await expect(t.client.workflowService.listWorkflowExecutions({ namespace: 'default', query: "WorkflowId = 'a' AND (" })).rejects.toThrow(/malformed SQL query/);
});

test('ListSearchAttributes lists the system attributes queries can use, with their types', async () => {
  const { systemAttributes, customAttributes } = await t.client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
  const { INDEXED_VALUE_TYPE_KEYWORD: KEYWORD, INDEXED_VALUE_TYPE_DATETIME: DATETIME, INDEXED_VALUE_TYPE_INT: INT, INDEXED_VALUE_TYPE_KEYWORD_LIST: KEYWORD_LIST } =
    temporal.api.enums.v1.IndexedValueType;
  expect(systemAttributes).toMatchObject({
    WorkflowId: KEYWORD,
    ExecutionStatus: KEYWORD,
    StartTime: DATETIME,
    ExecutionTime: DATETIME,
    CloseTime: DATETIME,
    ExecutionDuration: INT,
    HistoryLength: INT,
    ParentWorkflowId: KEYWORD,
    ParentRunId: KEYWORD,
    RootWorkflowId: KEYWORD,
    RootRunId: KEYWORD,
    TemporalChangeVersion: KEYWORD_LIST,
  });
  expect(customAttributes).toMatchObject({ CustomKeywordField: KEYWORD, CustomIntField: INT });
});
