/**
 * `.data/platform.json`: where the platform `npm start` runs can be reached, written once it is up and removed when
 * it stops, so that `npm run demo` (in another terminal) finds it without configuration.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PlatformFile {
  apiUrl: string;
  databaseUrl: string;
  /** The Stripe stand-in's URL, or null when the platform runs against Stripe itself. */
  stripeStandinUrl: string | null;
  campaignMinDurationMs: number;
}

const fileIn = (dataDir: string) => join(dataDir, 'platform.json');

export function writePlatformFile(dataDir: string, platform: PlatformFile): void {
  writeFileSync(fileIn(dataDir), `${JSON.stringify(platform, null, 2)}\n`);
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
