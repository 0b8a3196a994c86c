/**
 * Stored histories of real campaign runs (test/workflows/histories, written by the settlement suite with
 * UPDATE_HISTORY_FIXTURES=1) replayed against today's workflow code: a change that would break running
 * campaigns fails here before it ships.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { decodeHistory, workflowBundle } from '../helpers/platform';

const directory = join(__dirname, 'histories');
const fixtures = readdirSync(directory).filter((file) => file.endsWith('.history'));

test('the stored histories cover the campaign workflow and its settlement children', () => {
  expect(fixtures.some((file) => file.startsWith('campaignWorkflow'))).toBe(true);
  expect(fixtures.some((file) => file.startsWith('settlePledgeWorkflow'))).toBe(true);
});

test.each(fixtures)('%s replays deterministically', async (file) => {
  const history = decodeHistory(readFileSync(join(directory, file), 'utf8').trim());
  await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file)).resolves.toBeUndefined();
});
