/**
 * `npm run bench -- <name>`: runs a compiled benchmark, e.g. `npm run bench -- settlement`: the product's from
 * test/bench/<name>.ts, the stand-ins' from their own packages (packages/<name>-standin/bench/<name>.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// dist/test/bench -> the repository root
const ROOT = join(__dirname, '..', '..', '..');
const standinBench = (name: string) => join(ROOT, 'packages', `${name}-standin`, 'dist', 'bench', `${name}.js`);
const BENCHMARKS: Record<string, string> = {
  settlement: join(__dirname, 'settlement.js'),
  pledges: join(__dirname, 'pledges.js'),
  progress: join(__dirname, 'progress.js'),
  tally: join(__dirname, 'tally.js'),
  'backers-csv': join(__dirname, 'backers-csv.js'),
  temporal: standinBench('temporal'),
  stripe: standinBench('stripe'),
};

const name = process.argv[2];
const path = name === undefined ? undefined : BENCHMARKS[name];
if (!path || !existsSync(path)) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}>`);
  process.exit(2);
}
// Each benchmark runs on import and prints its own figures, the last line as JSON.
void import(path);
