import { ConfigError } from '../config';

/**
 * Runs a command-line entry point: a configuration problem prints its readable message, anything else its
 * message and cause, and the process exits non-zero. Never a bare stack trace for a user's mistake.
 */
export function runCli(main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      if (error instanceof ConfigError || error instanceof UsageError) {
        console.error(error.message);
      } else {
        console.error(error);
      }
      process.exit(1);
    },
  );
}

/** A mistake in how a command was called: printed as-is, without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}
