/**
 * Conformance of DescribeTaskQueue (the UI's Workers tab, and whether it offers a workflow's call stack) and
 * GetClusterInfo (what the UI shows about the server and gates its features on). Expected answers follow the
 * server's matching service (service/matching/poller_history.go: pollers per task type, keyed by identity, their
 * last poll time and rate, 100000/s unless the worker limits it; dropped when the worker shuts down) and its
 * frontend (workflow_handler.go GetClusterInfo).
 */
import { type temporal } from '@temporalio/proto';
import { Conformance } from './harness';

const t = new Conformance();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

type DescribeRequest = temporal.api.workflowservice.v1.IDescribeTaskQueueRequest;
type DescribeResponse = temporal.api.workflowservice.v1.IDescribeTaskQueueResponse;
const describeQueue = (request: DescribeRequest = {}): Promise<DescribeResponse> =>
  t.client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: t.taskQueue }, ...request });

/** Asks again (real time, bounded) until `check` passes: the worker's first polls arrive shortly after it starts. */
async function eventually<T>(ask: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  let value = await ask();
  for (let attempt = 0; attempt < 200 && !check(value); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    value = await ask();
  }
  return value;
}

test('DescribeTaskQueue lists the workers polling a queue, per task type, until they shut down', async () => {
  const before = await t.env.currentTimeMs();
  const worker = await t.worker({ maxTaskQueueActivitiesPerSecond: 50 });
  const identity = worker.options.identity;
  await worker.runUntil(async () => {
    const workflowPollers = (await eventually(() => describeQueue({ taskQueueType: 1 }), (response) => (response.pollers ?? []).length > 0)).pollers!;
    expect(workflowPollers).toHaveLength(1);
    expect(workflowPollers[0]).toMatchObject({ identity, ratePerSecond: 100_000 });
    const lastAccess = Number(workflowPollers[0]!.lastAccessTime!.seconds) * 1000;
    expect(lastAccess).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(lastAccess).toBeLessThanOrEqual(await t.env.currentTimeMs());

    // Activity polls carry the worker's rate limit; the default type is the workflow one.
    const activityPollers = (await eventually(() => describeQueue({ taskQueueType: 2 }), (response) => (response.pollers ?? []).length > 0)).pollers!;
    expect(activityPollers).toMatchObject([{ identity, ratePerSecond: 50 }]);
    expect((await describeQueue()).pollers).toMatchObject([{ identity }]);

    const withStatus = await describeQueue({ taskQueueType: 1, includeTaskQueueStatus: true });
    expect(withStatus.taskQueueStatus).toMatchObject({ ratePerSecond: 100_000 });
    expect(Number(withStatus.taskQueueStatus!.backlogCountHint)).toBe(0);

    // The enhanced mode (the CLI's) answers per task type under the unversioned build id "".
    const enhanced = await describeQueue({ apiMode: 1, reportPollers: true });
    expect(enhanced.versionsInfo?.['']?.typesInfo?.[1]?.pollers).toMatchObject([{ identity }]);
    expect(enhanced.versionsInfo?.['']?.typesInfo?.[2]?.pollers).toMatchObject([{ identity, ratePerSecond: 50 }]);

    // A queue nobody polls has no pollers.
    expect((await describeQueue({ taskQueue: { name: `${t.taskQueue}-unpolled` } })).pollers ?? []).toEqual([]);
  });
  // The worker's ShutdownWorker takes it off the list at once.
  expect((await describeQueue({ taskQueueType: 1 })).pollers ?? []).toEqual([]);
  expect((await describeQueue({ taskQueueType: 2 })).pollers ?? []).toEqual([]);
});

test('DescribeTaskQueue without a task queue is INVALID_ARGUMENT, as on the server', async () => {
  await expect(t.client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: '' } })).rejects.toMatchObject({ code: 3, details: 'taskQueue is not set' });
});

test('GetClusterInfo reports the server version, supported clients and stores the UI displays', async () => {
  const info: temporal.api.workflowservice.v1.IGetClusterInfoResponse = await t.client.workflowService.getClusterInfo({});
  const system: temporal.api.workflowservice.v1.IGetSystemInfoResponse = await t.client.workflowService.getSystemInfo({});
  expect(info.serverVersion).toBe(system.serverVersion);
  expect(info.supportedClients).toMatchObject({ 'temporal-ui': '<3.0.0', 'temporal-typescript': '<2.0.0' });
  expect(info).toMatchObject({ clusterName: 'active', persistenceStore: expect.any(String), visibilityStore: expect.any(String) });
  expect(info.clusterId).toMatch(/^[0-9a-f-]{36}$/);
  // The UI compares major.minor.patch as numbers: the stand-in implements the features it gates up to 1.27.1
  // (reset with pending children), and is not Elasticsearch (so the UI sends no ORDER BY).
  const [major, minor] = info.serverVersion!.split('.').map(Number);
  expect(major).toBe(1);
  expect(minor).toBeGreaterThan(27);
  expect(info.visibilityStore).not.toContain('elasticsearch');
  expect(system.capabilities?.countGroupByExecutionStatus).toBe(true);
});
