/** `npm run demo`: the walk-through (src/demo/walkthrough.ts) against the platform `npm start` runs from this directory. */
import { join } from 'node:path';
import { runDemo } from '../demo/walkthrough';
import { readPlatformFile } from './platform-file';
import { runCli, UsageError } from './run';

runCli(async () => {
  const platform = readPlatformFile(join(process.cwd(), '.data'));
  if (!platform) throw new UsageError('No platform is running from this directory: start it with `npm start` in another terminal, then run `npm run demo`.');
  await runDemo(platform, (line) => console.log(line));
});
