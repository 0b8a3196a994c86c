/**
 * Sign-up without email enumeration: the API answers the same whether or not the address has an account, after
 * the same work (the throttle, one scrypt hash, one short transaction), and what differs goes by mail to the
 * address, which only its owner reads:
 *
 * - a new address: the account is made, unverified, and a verification link is mailed;
 * - an address with a verified account: its owner is told someone tried (at most one such mail a day), nothing else;
 * - an address with an account that was never verified: sign-up takes it over. The new password and name replace
 *   the old, every session and link of the account ends, and a new link is mailed.
 *
 * The last is the answer to pre-hijacking: whoever signs up first with someone else's address gets an account
 * that can neither pledge nor publish nor receive payouts, that its owner takes back by signing up, and that can
 * never be verified without the owner's mailbox AND the password set by the latest sign-up (verification needs
 * both: src/auth/email-verification.ts). A squatter who keeps signing up again can only delay the owner, and only
 * as long as the per-address sign-up throttle and the per-account mail limit let them; once verified, an account is
 * never taken over.
 */
import { sql } from 'kysely';
import { type AppDatabase, type Tx } from '../../db/database';
import { enqueueNotifications } from '../notifications/outbox';
import { type LinkSettings, mailVerificationLink, secondsUntilNextLink } from './email-verification';
import { hashPassword } from './passwords';
import { revokeUserTokens } from './tokens';

export interface SignupInput {
  /** Trimmed and lower-cased (the API's email schema). */
  email: string;
  password: string;
  name: string;
}

export type SignupOutcome = 'created' | 'taken_over' | 'owner_notified' | 'nothing_sent';

/** Carries out a sign-up; the outcome is for logs and tests, never for the caller's answer. */
export async function signUp(database: AppDatabase, settings: LinkSettings, input: SignupInput, now = new Date()): Promise<SignupOutcome> {
  // Before any lock: the hash is the expensive part, and every path pays it.
  const passwordHash = await hashPassword(input.password);
  return database.transaction(async (trx) => {
    // Two sign-ups with one address wait for each other, so the second sees the first's account.
    await sql`select pg_advisory_xact_lock(hashtextextended(${`signup:${input.email}`}, 0))`.execute(trx);
    const existing = await trx
      .selectFrom('users')
      .select(['id', 'name', 'email_verified_at'])
      .where(sql<string>`lower(email)`, '=', input.email)
      .forUpdate()
      .executeTakeFirst();
    if (!existing) {
      const user = await trx.insertInto('users').values({ email: input.email, name: input.name, password_hash: passwordHash }).returning(['id', 'name']).executeTakeFirstOrThrow();
      await mailVerificationLink(trx, settings, user, now);
      return 'created';
    }
    if (existing.email_verified_at !== null) {
      await notifyOwner(trx, existing.id, now);
      return 'owner_notified';
    }
    // Past the mail limit the sign-up changes nothing: a squatter cannot flood the owner or keep resetting the account.
    if ((await secondsUntilNextLink(trx, existing.id, now)) > 0) return 'nothing_sent';
    await trx.updateTable('users').set({ name: input.name, password_hash: passwordHash, updated_at: now }).where('id', '=', existing.id).execute();
    await revokeUserTokens(trx, existing.id);
    await mailVerificationLink(trx, settings, { id: existing.id, name: input.name }, now);
    return 'taken_over';
  });
}

/** "Someone tried to sign up with your address": one a day at most (the outbox's dedupe key), so it cannot be a mail bomb. */
async function notifyOwner(trx: Tx, userId: string, now: Date): Promise<void> {
  await enqueueNotifications(trx, [
    { recipientId: userId, template: 'signup_existing_account', payload: {}, dedupeKey: `signup-existing:${userId}:${now.toISOString().slice(0, 10)}` },
  ]);
}
