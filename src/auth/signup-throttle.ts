/**
 * Sign-ups are limited per client address (src/abuse/velocity-limits.ts for the number): fresh accounts are how a
 * card tester steps around the per-account limits, and each sign-up costs a 32 MiB scrypt hash. Every attempt
 * counts, whether or not the address was taken, and is counted before the password is hashed, atomically as
 * sign-in attempts are, so parallel sign-ups cannot all pass the check.
 */
import { type AppDatabase } from '../../db/database';
import { claimAttempt } from '../abuse/velocity';
import { SIGNUP_WINDOW_MS } from '../abuse/velocity-limits';
import { type Config } from '../config';
import { DomainError } from '../errors';

/** Counts a sign-up from `ip`, or throws `rate_limited` (429 with Retry-After) when the address has had its share. */
export async function claimSignup(database: AppDatabase, config: Config, ip: string | undefined): Promise<void> {
  const claim = await claimAttempt(
    database,
    { action: 'signup', userId: null, ip: ip ?? null, card: null },
    { actions: ['signup'], windowMs: SIGNUP_WINDOW_MS, perIp: config.abuse.signupsPerIp },
    'succeeded',
  );
  if ('retryAfterSeconds' in claim) {
    throw new DomainError('rate_limited', 'too_many_signups', 'Too many sign-ups from this address; try again later', { retryAfterSeconds: claim.retryAfterSeconds });
  }
}
