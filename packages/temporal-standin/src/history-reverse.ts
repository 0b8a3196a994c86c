/**
 * GetWorkflowExecutionHistoryReverse: a run's history newest event first, in pages. Temporal UI reads a workflow's
 * event history this way in its default (descending) order. As on the server: the current run unless one is named,
 * pages of `maximum_page_size` events (the server's default when unset), no long poll for new events.
 */
import { type Engine } from './engine';
import { invalidArgument, type Msg, num } from './proto';

/** The server's frontend.historyMaxPageSize default. */
const DEFAULT_PAGE_SIZE = 256;

export function workflowHistoryReverse(engine: Engine, request: Msg): Msg {
  const run = engine.findRun((request.namespace as string) || 'default', request.execution);
  const pageSize = num(request.maximumPageSize) > 0 ? num(request.maximumPageSize) : DEFAULT_PAGE_SIZE;
  // The token names the event id the next page ends before.
  let before = run.history.length + 1;
  if (request.nextPageToken && (request.nextPageToken as Uint8Array).length > 0) {
    before = pageTokenPosition(request.nextPageToken as Uint8Array);
  }
  const from = Math.max(before - 1 - pageSize, 0);
  const events = run.history.slice(from, before - 1).reverse();
  return { history: { events }, nextPageToken: from > 0 ? Buffer.from(JSON.stringify({ before: from + 1 })) : Buffer.alloc(0) };
}

function pageTokenPosition(token: Uint8Array): number {
  try {
    const { before } = JSON.parse(Buffer.from(token).toString()) as { before?: unknown };
    if (typeof before === 'number' && Number.isInteger(before) && before >= 1) return before;
  } catch {
    // answered below
  }
  throw invalidArgument('invalid next page token');
}
