/**
 * Email verification: an account proves it receives mail at its address before it may pledge or publish. The link
 * mailed (through the notification outbox) carries 32 random bytes; only their HMAC under AUTH_SECRET is stored
 * (as for sign-in tokens), so neither a database leak nor a guess yields a working link. A link is used once,
 * expires, and is revoked when a newer one is mailed.
 *
 * Verifying also needs a session of the account (see verifyEmail): the mailbox proves the address, the session
 * proves the password, and only the address's owner has both. That is what makes pre-hijacking pointless
 * (src/auth/signup.ts): someone who signed up first with another's address can never get that account verified.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { type AppDatabase, type Tx } from '../../db/database';
import { type User } from '../../db/schema';
import { DomainError, conflict } from '../errors';
import { enqueueNotifications } from '../notifications/outbox';
import { hashToken } from './tokens';

/** A link works for a day: long enough to find the mail the next morning; a link found later in a mailbox or a log is dead. */
export const VERIFICATION_LINK_TTL_MS = 24 * 60 * 60 * 1000;

/** Links mailed to one account are counted over the last hour (the one mailed at sign-up included). */
export const VERIFICATION_EMAIL_WINDOW_MS = 60 * 60 * 1000;
/**
 * 5 an hour: a backer whose mail is slow asks again once or twice; more only fills someone's inbox (an account can
 * be made with anyone's address, so this also bounds how much mail one can send a stranger).
 */
export const VERIFICATION_EMAILS_PER_WINDOW = 5;

export interface LinkSettings {
  /** AUTH_SECRET: the key of the HMAC stored for each link. */
  secret: string;
  /** PUBLIC_URL: the web frontend's base, where /verify-email reads the token and posts it to the API. */
  publicUrl: string;
}

const hashOf = (secret: string, token: string) => hashToken(secret, `email-verification:${token}`);

/** How many links were mailed to the account within the window, and when the oldest of them leaves it. */
async function recentLinks(trx: Tx, userId: string, now: Date): Promise<{ count: number; oldest: Date | null }> {
  const row = await trx
    .selectFrom('email_verifications')
    .select((eb) => [eb.fn.countAll<string>().as('count'), eb.fn.min('created_at').as('oldest')])
    .where('user_id', '=', userId)
    .where('created_at', '>', new Date(now.getTime() - VERIFICATION_EMAIL_WINDOW_MS))
    .executeTakeFirstOrThrow();
  return { count: Number(row.count), oldest: row.oldest === null ? null : new Date(row.oldest) };
}

/**
 * Seconds until the account may be mailed another link, or 0 now. Callers hold the account's row lock (or the
 * sign-up lock on its address), so two requests cannot both pass the check.
 */
export async function secondsUntilNextLink(trx: Tx, userId: string, now = new Date()): Promise<number> {
  const { count, oldest } = await recentLinks(trx, userId, now);
  if (count < VERIFICATION_EMAILS_PER_WINDOW || oldest === null) return 0;
  return Math.max(1, Math.ceil((oldest.getTime() + VERIFICATION_EMAIL_WINDOW_MS - now.getTime()) / 1000));
}

/** Mails the account a new link (queued in the outbox, in the caller's transaction); earlier links stop working. */
export async function mailVerificationLink(trx: Tx, settings: LinkSettings, user: Pick<User, 'id' | 'name'>, now = new Date()): Promise<void> {
  const token = randomBytes(32).toString('base64url');
  await trx.updateTable('email_verifications').set({ revoked_at: now }).where('user_id', '=', user.id).where('used_at', 'is', null).where('revoked_at', 'is', null).execute();
  const expiresAt = new Date(now.getTime() + VERIFICATION_LINK_TTL_MS);
  const link = await trx
    .insertInto('email_verifications')
    .values({ user_id: user.id, token_hash: hashOf(settings.secret, token), created_at: now, expires_at: expiresAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  await enqueueNotifications(trx, [
    {
      recipientId: user.id,
      template: 'email_verification',
      payload: { name: user.name, verifyUrl: `${settings.publicUrl}/verify-email?token=${token}`, expiresAt: expiresAt.toISOString() },
      dedupeKey: `email-verification:${link.id}`,
    },
  ]);
}

/** `POST /api/me/verification-email`: a new link for a signed-in account not verified yet, within the limit. */
export async function requestVerificationEmail(database: AppDatabase, settings: LinkSettings, userId: string, now = new Date()): Promise<void> {
  await database.transaction(async (trx) => {
    const user = await trx.selectFrom('users').select(['id', 'name', 'email_verified_at']).where('id', '=', userId).forUpdate().executeTakeFirstOrThrow();
    if (user.email_verified_at !== null) throw conflict('email_already_verified', 'This account’s email address is already verified');
    const retryAfterSeconds = await secondsUntilNextLink(trx, user.id, now);
    if (retryAfterSeconds > 0) {
      throw new DomainError('rate_limited', 'too_many_verification_emails', 'Too many verification emails for this account; try again later', { retryAfterSeconds });
    }
    await mailVerificationLink(trx, settings, user, now);
  });
}

const refused = (code: string, message: string) => new DomainError('invalid', code, message, { fields: [{ path: 'token', message }] });

/**
 * `POST /api/auth/verify-email`: uses the link's token, which must have been mailed to the signed-in account, and
 * marks the account verified. Refused with 400: a token that was never issued to this account (forged, mistyped,
 * another account's), one already used, one revoked by a newer link, one expired. Single use holds under
 * concurrency: the link's row is locked and its use is written in the same transaction.
 */
export async function verifyEmail(database: AppDatabase, secret: string, userId: string, token: string, now = new Date()): Promise<{ verifiedAt: Date }> {
  return database.transaction(async (trx) => {
    const link = await trx.selectFrom('email_verifications').selectAll().where('token_hash', '=', hashOf(secret, token)).forUpdate().executeTakeFirst();
    // Another account's link says nothing about it: the same answer as a link that never existed.
    if (!link || link.user_id !== userId) throw refused('verification_invalid', 'is not a verification link of this account');
    if (link.used_at !== null) throw refused('verification_used', 'was already used');
    if (link.revoked_at !== null) throw refused('verification_revoked', 'was replaced by a newer link: use the latest email');
    if (link.expires_at.getTime() <= now.getTime()) throw refused('verification_expired', 'has expired: ask for a new link');
    await trx.updateTable('email_verifications').set({ used_at: now }).where('id', '=', link.id).execute();
    const user = await trx
      .updateTable('users')
      .set({ email_verified_at: sql<Date>`coalesce(email_verified_at, ${now})`, updated_at: now })
      .where('id', '=', userId)
      .returning('email_verified_at')
      .executeTakeFirstOrThrow();
    return { verifiedAt: user.email_verified_at! };
  });
}
