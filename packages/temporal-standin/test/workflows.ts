/** Test-only workflows that exercise each feature of the Temporal stand-in through the real SDK. */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from './activities';

const { greet, failTimes, slow, heartbeating, alwaysFails } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '50 milliseconds', maximumInterval: '100 milliseconds' },
});
const { greet: greetLocally } = proxyLocalActivities<typeof activities>({ startToCloseTimeout: '5 seconds' });

export async function helloWorkflow(name: string): Promise<string> {
  return greet(name);
}

export async function sleepyWorkflow(ms: number): Promise<number> {
  const started = Date.now();
  await sleep(ms);
  return Date.now() - started;
}

export async function retryWorkflow(failures: number): Promise<number> {
  return failTimes(failures, workflowInfo().workflowId);
}

export async function nonRetryableWorkflow(): Promise<string> {
  try {
    await alwaysFails('NotRetryable');
    return 'no failure';
  } catch (error) {
    return (error as { cause?: { type?: string } }).cause?.type ?? 'unknown';
  }
}

export async function timeoutWorkflow(): Promise<string> {
  const { slow: slowWithTimeout } = proxyActivities<typeof activities>({
    startToCloseTimeout: '200 milliseconds',
    retry: { maximumAttempts: 2, initialInterval: '10 milliseconds' },
  });
  try {
    await slowWithTimeout(2_000);
    return 'finished';
  } catch (error) {
    return `${(error as Error).name}:${(error as { cause?: { timeoutType?: number } }).cause?.timeoutType}`;
  }
}

export async function heartbeatCancelWorkflow(): Promise<string> {
  const { heartbeating: beat } = proxyActivities<typeof activities>({ startToCloseTimeout: '20 seconds', heartbeatTimeout: '2 seconds' });
  try {
    await CancellationScope.cancellable(async () => {
      const promise = beat(50);
      await sleep(300);
      CancellationScope.current().cancel();
      await promise;
    });
    return 'not cancelled';
  } catch (error) {
    return isCancellation(error) ? 'cancelled' : `other: ${(error as Error).message}`;
  }
}

export const addSignal = defineSignal<[number]>('add');
export const finishSignal = defineSignal('finish');
export const totalQuery = defineQuery<number>('total');

export async function counterWorkflow(): Promise<number> {
  let total = 0;
  let finished = false;
  setHandler(addSignal, (value) => {
    total += value;
  });
  setHandler(finishSignal, () => {
    finished = true;
  });
  setHandler(totalQuery, () => total);
  await condition(() => finished);
  return total;
}

export async function childWorkflow(value: number): Promise<number> {
  if (value < 0) throw ApplicationFailure.nonRetryable('negative', 'NegativeValue');
  await sleep(10);
  return value * 2;
}

export async function parentWorkflow(values: number[]): Promise<number[]> {
  return Promise.all(values.map((value, i) => executeChild(childWorkflow, { args: [value], workflowId: `${workflowInfo().workflowId}/child-${i}` })));
}

export async function childFailureWorkflow(): Promise<string> {
  try {
    await executeChild(childWorkflow, { args: [-1], workflowId: `${workflowInfo().workflowId}/child` });
    return 'no failure';
  } catch (error) {
    return (error as { cause?: { type?: string } }).cause?.type ?? 'unknown';
  }
}

export async function abandonedChildParentWorkflow(): Promise<string> {
  const child = await startChild(counterWorkflow, { workflowId: `${workflowInfo().workflowId}/abandoned`, parentClosePolicy: ParentClosePolicy.ABANDON });
  return child.workflowId;
}

export async function signalOtherWorkflow(targetId: string, value: number): Promise<void> {
  await getExternalWorkflowHandle(targetId).signal(addSignal, value);
}

export async function signalMissingWorkflow(): Promise<string> {
  try {
    await getExternalWorkflowHandle('does-not-exist').signal(addSignal, 1);
    return 'signalled';
  } catch (error) {
    return (error as Error).message;
  }
}

export async function cancelOtherWorkflow(targetId: string): Promise<void> {
  await getExternalWorkflowHandle(targetId).cancel();
}

export async function cancellableWorkflow(): Promise<string> {
  try {
    await sleep('1 day');
    return 'slept';
  } catch (error) {
    if (isCancellation(error)) return 'cancelled';
    throw error;
  }
}

export async function continueAsNewWorkflow(iteration: number, until: number): Promise<number> {
  if (iteration < until) await continueAsNew<typeof continueAsNewWorkflow>(iteration + 1, until);
  return iteration;
}

export async function searchAttributesWorkflow(status: string): Promise<void> {
  upsertSearchAttributes({ CustomKeywordField: [status] });
  await sleep(10);
}

export async function patchedWorkflow(): Promise<string> {
  const value = patched('new-behaviour') ? 'patched' : 'original';
  const local = await greetLocally('local');
  return `${value} ${local}`;
}

export async function timerCancelWorkflow(): Promise<string> {
  let fired = false;
  const scope = new CancellationScope();
  const timer = scope.run(() => sleep('1 hour')).then(() => (fired = true), () => undefined);
  await sleep(10);
  scope.cancel();
  await timer;
  return fired ? 'fired' : 'cancelled';
}

export async function slowActivityWorkflow(ms: number): Promise<string> {
  await slow(ms);
  return 'done';
}

export async function heartbeatDetailsWorkflow(): Promise<number> {
  return heartbeating(3);
}

export async function heartbeatTimeoutWorkflow(): Promise<string> {
  const { silent } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds', heartbeatTimeout: '300 milliseconds', retry: { maximumAttempts: 1 } });
  try {
    await silent(3_000);
    return 'finished';
  } catch (error) {
    return `${(error as Error).name}:${(error as { cause?: { timeoutType?: string } }).cause?.timeoutType}`;
  }
}

export async function scheduleToCloseWorkflow(): Promise<string> {
  const { alwaysRetryable } = proxyActivities<typeof activities>({
    scheduleToCloseTimeout: '1 second',
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 1 },
  });
  try {
    await alwaysRetryable();
    return 'finished';
  } catch (error) {
    // As on the server: the retry that would pass the deadline is not made; the last failure is reported.
    return `${(error as Error).name}:${(error as { retryState?: string }).retryState}:${(error as { cause?: Error }).cause?.message}`;
  }
}

export async function nextRetryDelayWorkflow(): Promise<number> {
  const { delayedRetry } = proxyActivities<typeof activities>({ startToCloseTimeout: '10 seconds', retry: { initialInterval: '1 millisecond', maximumAttempts: 3 } });
  const started = Date.now();
  await delayedRetry(workflowInfo().workflowId);
  return Date.now() - started;
}

export async function terminatingParentWorkflow(): Promise<string> {
  const child = await startChild(counterWorkflow, { workflowId: `${workflowInfo().workflowId}/terminated-on-close` });
  return child.workflowId;
}

export async function childTerminatedWorkflow(): Promise<string> {
  const child = await startChild(cancellableWorkflow, { workflowId: `${workflowInfo().workflowId}/victim` });
  try {
    await child.result();
    return 'completed';
  } catch (error) {
    return `${(error as Error).name}:${(error as { cause?: Error }).cause?.name}`;
  }
}

export async function childTimeoutWorkflow(): Promise<string> {
  try {
    await executeChild(cancellableWorkflow, { workflowId: `${workflowInfo().workflowId}/slow`, workflowRunTimeout: '1 hour' });
    return 'completed';
  } catch (error) {
    return `${(error as Error).name}:${(error as { cause?: Error }).cause?.name}`;
  }
}

/** An activity with only a schedule-to-close timeout that no worker polls for: reports the timeout type it got. */
export async function unpickedActivityWorkflow(): Promise<string> {
  const { greet: neverPicked } = proxyActivities<typeof activities>({ scheduleToCloseTimeout: '1 second' });
  try {
    await neverPicked('nobody');
    return 'ran';
  } catch (error) {
    return `${(error as Error).name}:${(error as { cause?: { timeoutType?: string } }).cause?.timeoutType}`;
  }
}

/** Short timers and activities forever, so a worker always has polls outstanding (the worker-shutdown feature). */
export async function busyLoopWorkflow(): Promise<void> {
  const { greet: noop } = proxyActivities<typeof activities>({ scheduleToCloseTimeout: '10 seconds', startToCloseTimeout: '5 seconds', retry: { maximumAttempts: 1 } });
  for (;;) {
    await sleep(20);
    await noop('again');
  }
}

// Updates
export const addUpdate = defineUpdate<number, [number]>('add');
export const addAfterActivityUpdate = defineUpdate<number, [number]>('addAfterActivity');
export const finishUpdate = defineUpdate<number>('finish');
export const updateCount = defineQuery<number>('updateCount');

/**
 * Keeps a total that updates change: `add` (validated: negative values rejected), `addAfterActivity` (its handler
 * awaits an activity) and `finish`, which ends the run with the total. `continueAfter`: continue-as-new once that
 * many updates were handled, carrying the total.
 */
export async function updatableWorkflow(initial = 0, continueAfter = 0): Promise<number> {
  let total = initial;
  let handled = 0;
  let finished = false;
  setHandler(
    addUpdate,
    (value: number) => {
      total += value;
      handled++;
      return total;
    },
    {
      validator: (value: number) => {
        if (value < 0) throw new Error(`negative value ${value}`);
      },
    },
  );
  setHandler(addAfterActivityUpdate, async (value: number) => {
    const greeting = await greet(String(value));
    total += value;
    handled++;
    return greeting.length > 0 ? total : -1;
  });
  setHandler(finishUpdate, () => {
    finished = true;
    return total;
  });
  setHandler(updateCount, () => handled);
  await condition(() => finished || (continueAfter > 0 && handled >= continueAfter));
  if (!finished) await continueAsNew<typeof updatableWorkflow>(total, 0);
  return total;
}

export async function failingWorkflow(): Promise<never> {
  throw ApplicationFailure.nonRetryable('failing on purpose', 'Deliberate');
}

/** Returns how many cron runs came before this one (from the previous run's result). */
export async function cronCountingWorkflow(): Promise<number> {
  return ((workflowInfo().lastResult as number | undefined) ?? 0) + 1;
}
