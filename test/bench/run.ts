/** `npm run bench -- <name>`: runs the benchmark test/bench/<name>.ts (compiled), e.g. `npm run bench -- settlement`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const BENCHMARKS = ['settlement', 'pledges', 'progress', 'tally', 'temporal', 'stripe'];

const name = process.argv[2];
if (!name || !BENCHMARKS.includes(name) || !existsSync(join(__dirname, `${name}.js`))) {
  console.error(`usage: npm run bench -- <${BENCHMARKS.join('|')}>`);
  process.exit(2);
}
// Each benchmark runs on import and prints its own figures, the last line as JSON.
void import(join(__dirname, `${name}.js`));
