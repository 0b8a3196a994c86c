/** `.data/platform.json` holds the database URL: readable by its owner only, whatever was there before. */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPlatformFile, removePlatformFile, writePlatformFile } from '../../src/cli/platform-file';

const platform = { apiUrl: 'http://127.0.0.1:3000', databaseUrl: 'postgres://app:secret@127.0.0.1:5432/app', stripeStandinUrl: null, campaignMinDurationMs: 8_000 };
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'platform-file-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const modeOf = (path: string) => statSync(path).mode & 0o777;

test('is written 0600 and read back', () => {
  writePlatformFile(dir, platform);
  expect(modeOf(join(dir, 'platform.json'))).toBe(0o600);
  expect(readPlatformFile(dir)).toEqual(platform);
});

test('a file left world-readable is replaced by one only its owner reads', () => {
  writeFileSync(join(dir, 'platform.json'), '{}', { mode: 0o644 });
  expect(modeOf(join(dir, 'platform.json'))).toBe(0o644);
  writePlatformFile(dir, platform);
  expect(modeOf(join(dir, 'platform.json'))).toBe(0o600);
  removePlatformFile(dir);
  expect(readPlatformFile(dir)).toBeNull();
});
