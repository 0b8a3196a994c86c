/**
 * Conformance of GetWorkflowExecutionHistoryReverse (Temporal UI's event history in its default, descending order):
 * the run's events newest first, paged by `maximum_page_size`, the current run unless one is named.
 */
import { randomUUID } from 'node:crypto';
import { type temporal } from '@temporalio/proto';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { createTestWorkflowEnvironment } from '../src/testing';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createTestWorkflowEnvironment();
});
afterAll(() => env?.teardown());

type Response = temporal.api.workflowservice.v1.IGetWorkflowExecutionHistoryReverseResponse;

test('history comes newest first, page by page, and matches the forward history reversed', async () => {
  const workflowId = `reverse-${randomUUID()}`;
  // No worker: the run's history is its start, one scheduled task and the signals.
  const handle = await env.client.workflow.start('counterWorkflow', { taskQueue: `reverse-${randomUUID()}`, workflowId });
  for (let i = 0; i < 5; i++) await handle.signal('add', i);
  const forward = (await handle.fetchHistory()).events!.map((event) => Number(event.eventId));
  expect(forward).toEqual([1, 2, 3, 4, 5, 6, 7]);

  const pages: number[][] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page: Response = await env.client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: 'default',
      execution: { workflowId },
      maximumPageSize: 3,
      nextPageToken,
    });
    pages.push(page.history!.events!.map((event) => Number(event.eventId)));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  expect(pages).toEqual([[7, 6, 5], [4, 3, 2], [1]]);

  const whole: Response = await env.client.workflowService.getWorkflowExecutionHistoryReverse({ namespace: 'default', execution: { workflowId, runId: handle.firstExecutionRunId } });
  expect(whole.history!.events!.map((event) => Number(event.eventId))).toEqual([...forward].reverse());
  expect(whole.nextPageToken?.length ?? 0).toBe(0);
  await expect(env.client.workflowService.getWorkflowExecutionHistoryReverse({ namespace: 'default', execution: { workflowId: `missing-${randomUUID()}` } })).rejects.toMatchObject({ code: 5 });
  await handle.terminate();
});
