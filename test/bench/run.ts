/** `npm run bench -- <name>`: runs test/bench/<name>.ts (compiled), e.g. `npm run bench -- temporal`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const name = process.argv[2];
const file = name ? join(__dirname, `${name}.js`) : '';
if (!name || !existsSync(file)) {
  console.error('usage: npm run bench -- <temporal|stripe|...>');
  process.exit(2);
}
// Each benchmark runs on import and prints its own figures.
void import(file);
