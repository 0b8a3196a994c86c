/**
 * `.data/platform.json`: where the platform `npm start` runs can be reached, written once it is up and removed when
 * it stops, so that `npm run demo` (in another terminal) finds it without configuration.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PlatformFile {
  apiUrl: string;
  databaseUrl: string;
  /** The Stripe stand-in's URL, or null when the platform runs against Stripe itself. */
  stripeStandinUrl: string | null;
  campaignMinDurationMs: number;
}

const fileIn = (dataDir: string) => join(dataDir, 'platform.json');

/**
 * Readable by its owner only: it holds the database URL (with any password in it). Written to a fresh file created
 * 0600 and renamed over the old one, so a file left with wider permissions is replaced, and a reader never sees half.
 */
export function writePlatformFile(dataDir: string, platform: PlatformFile): void {
  const temporary = `${fileIn(dataDir)}.${process.pid}.tmp`;
  rmSync(temporary, { force: true });
  writeFileSync(temporary, `${JSON.stringify(platform, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, fileIn(dataDir));
}

export function removePlatformFile(dataDir: string): void {
  rmSync(fileIn(dataDir), { force: true });
}

/** The running platform's file, or null when none is running from this directory. */
export function readPlatformFile(dataDir: string): PlatformFile | null {
  try {
    return JSON.parse(readFileSync(fileIn(dataDir), 'utf8')) as PlatformFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
