/**
 * What every workflow suite ends with: each history its scenarios produced replays against today's workflow code,
 * and (with UPDATE_HISTORY_FIXTURES=1) is stored under test/workflows/histories for the replay suite, named by
 * content so that fixtures of earlier workflow versions (campaigns still running them) stay beside the new ones.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { allHistories, encodeHistory, type TestPlatform, workflowBundle } from '../helpers/platform';

/** Replays every run the platform's Temporal holds; stores them on request (settlement children up to `maxChildren`). */
export async function expectHistoriesReplay(p: TestPlatform, options: { maxChildren?: number } = {}) {
  const histories = await allHistories(p);
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories.map(({ workflowId, history }) => ({ workflowId, history })))) {
    if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
  }
  expect(failures).toEqual([]);
  if (process.env.UPDATE_HISTORY_FIXTURES) {
    const directory = join(__dirname, 'histories');
    mkdirSync(directory, { recursive: true });
    let children = 0;
    for (const history of histories) {
      const kind = history.name.split('-')[0]!;
      if (kind !== 'campaignWorkflow' && children++ >= (options.maxChildren ?? Infinity)) continue;
      const encoded = encodeHistory(history.history);
      writeFileSync(join(directory, `${kind}-${createHash('sha256').update(encoded).digest('hex').slice(0, 8)}.history`), `${encoded}\n`);
    }
  }
  return histories;
}
