/** Workflows of the reset and visibility conformance tests (test/reset.test.ts, test/visibility.test.ts). */
import { condition, defineQuery, defineSignal, defineUpdate, executeChild, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type * as activities from './reset-activities';

const { gated } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export const addSignal = defineSignal<[string]>('add');
export const finishSignal = defineSignal('finish');
export const itemsQuery = defineQuery<string[]>('items');
export const addUpdate = defineUpdate<string[], [string]>('addByUpdate');

/** Collects what signals and updates add, until `finish`; returns it. */
export async function collectorWorkflow(): Promise<string[]> {
  const items: string[] = [];
  let finished = false;
  setHandler(addSignal, (item) => void items.push(item));
  setHandler(addUpdate, (item) => {
    items.push(`update ${item}`);
    return [...items];
  });
  setHandler(finishSignal, () => void (finished = true));
  setHandler(itemsQuery, () => [...items]);
  await condition(() => finished);
  return items;
}

/** Runs the gated activity while signals arrive; finishes after the activity and two signals. */
export async function activityAndSignalsWorkflow(): Promise<string> {
  const items: string[] = [];
  setHandler(addSignal, (item) => void items.push(item));
  setHandler(itemsQuery, () => [...items]);
  const greeting = await gated('first');
  await condition(() => items.length >= 2);
  return `${greeting} after ${items.join(',')}`;
}

/** Sleeps an hour, counting signals meanwhile; answers with the items and how long it slept (virtual time). */
export async function sleeperWorkflow(): Promise<string> {
  const items: string[] = [];
  setHandler(addSignal, (item) => void items.push(item));
  setHandler(itemsQuery, () => [...items]);
  const started = Date.now();
  await sleep('1 hour');
  return `${items.join(',')} slept ${Math.round((Date.now() - started) / 60_000)} min`;
}

/** A child that waits for `finish`, then answers with its items. */
export async function waitingChildWorkflow(): Promise<string[]> {
  return collectorWorkflow();
}

/** Starts a waiting child and answers with the child's result and the signals it got itself. */
export async function parentOfWaitingChildWorkflow(): Promise<string> {
  const items: string[] = [];
  setHandler(addSignal, (item) => void items.push(item));
  setHandler(itemsQuery, () => [...items]);
  const childResult = await executeChild(waitingChildWorkflow, { workflowId: `${workflowInfo().workflowId}/child` });
  return `child ${childResult.join(',')}; own ${items.join(',')}`;
}
