/** Workflows for the Temporal stand-in benchmark. */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';

const { echo } = proxyActivities<{ echo(value: number): Promise<number> }>({ startToCloseTimeout: '1 minute' });

export async function activityOnce(value: number): Promise<number> {
  return echo(value);
}

const tick = defineSignal('tick');
export async function countSignals(expected: number): Promise<number> {
  let received = 0;
  setHandler(tick, () => void received++);
  await condition(() => received >= expected);
  return received;
}
