/**
 * TOTP second factors for staff (RFC 6238 through the `otpauth` package: SHA-1, 6 digits, 30-second steps, what
 * every authenticator app reads from an otpauth:// URI). Enrolment is two steps: the secret and its URI are given
 * once, then a code from the app confirms it; an enrolled factor is never shown again nor replaced without ops.
 *
 * The secret is stored encrypted (AES-256-GCM under a key derived from AUTH_SECRET, with the account id as
 * associated data, so a ciphertext copied onto another account does not decrypt). A code is accepted once: the
 * time step it belongs to is remembered, and only a later step is accepted after it, written atomically, so a
 * code seen over someone's shoulder or replayed from a log within its window is refused.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { type AppDatabase, type Db, type Tx } from '../../db/database';
import { type User } from '../../db/schema';
import { type AuditContext, recordStaffAction } from '../audit/staff-audit';
import { DomainError, conflict, notFound } from '../errors';
import { markSecondFactorPassed, revokeUserTokens } from './tokens';

export const TOTP_ALGORITHM = 'SHA1';
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** A code of the step before or after the server's is accepted too: phone clocks drift, and codes are typed late. */
export const TOTP_WINDOW_STEPS = 1;
const ISSUER = 'Crowdfund';

function totpOf(secret: Secret, label: string): TOTP {
  return new TOTP({ issuer: ISSUER, label, secret, algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
}

// ---------------------------------------------------------------------------------------------------------------
// The secret at rest

const CIPHER = 'aes-256-gcm';

function keyOf(authSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', authSecret, Buffer.alloc(0), 'crowdfund totp secret v1', 32));
}

/** `v1.<iv>.<tag>.<ciphertext>`, base64url. */
export function encryptTotpSecret(authSecret: string, userId: string, base32: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv(CIPHER, keyOf(authSecret), iv).setAAD(Buffer.from(userId));
  const ciphertext = Buffer.concat([cipher.update(base32, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

export function decryptTotpSecret(authSecret: string, userId: string, stored: string): Secret {
  const [version, iv, tag, ciphertext] = stored.split('.');
  if (version !== 'v1' || !iv || !tag || !ciphertext) throw new Error('not a stored TOTP secret');
  const decipher = createDecipheriv(CIPHER, keyOf(authSecret), Buffer.from(iv, 'base64url')).setAAD(Buffer.from(userId));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Secret.fromBase32(Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8'));
}

/** The time step `code` belongs to, within the window around `now`, or null when it is not a current code. */
function stepOf(secret: Secret, code: string, now: Date): number | null {
  const totp = totpOf(secret, '');
  const delta = totp.validate({ token: code, timestamp: now.getTime(), window: TOTP_WINDOW_STEPS });
  return delta === null ? null : totp.counter({ timestamp: now.getTime() }) + delta;
}

const wrongCode = () => new DomainError('invalid', 'invalid_totp', 'code: is not the current code of the authenticator', { fields: [{ path: 'code', message: 'is not the current code of the authenticator' }] });

// ---------------------------------------------------------------------------------------------------------------
// Enrolment, use and reset

export interface TotpEnrolment {
  /** Base32, for apps that take the secret typed in. */
  secret: string;
  /** otpauth://totp/...: what the app scans as a QR code. */
  uri: string;
}

/** Starts (or starts again) enrolment: a new secret, given this once. Refused when a factor is already enrolled. */
export async function startTotpEnrolment(database: AppDatabase, authSecret: string, user: Pick<User, 'id' | 'email'>): Promise<TotpEnrolment> {
  return database.transaction(async (trx) => {
    const factor = await trx.selectFrom('totp_factors').select('confirmed_at').where('user_id', '=', user.id).forUpdate().executeTakeFirst();
    if (factor?.confirmed_at) throw conflict('totp_already_enrolled', 'A second factor is already enrolled; ops can reset it if the device is lost');
    const secret = new Secret({ size: 20 });
    const ciphertext = encryptTotpSecret(authSecret, user.id, secret.base32);
    await trx
      .insertInto('totp_factors')
      .values({ user_id: user.id, secret_ciphertext: ciphertext })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ secret_ciphertext: ciphertext, confirmed_at: null, last_used_step: null }))
      .execute();
    return { secret: secret.base32, uri: totpOf(secret, user.email).toString() };
  });
}

/**
 * Confirms enrolment with the app's first code. The session that confirms has just shown the second factor, so it
 * counts as passed (no second sign-in needed); the enrolment is audited.
 */
export async function confirmTotpEnrolment(
  database: AppDatabase,
  authSecret: string,
  session: { userId: string; tokenId: string },
  code: string,
  audit: AuditContext,
  now = new Date(),
): Promise<void> {
  await database.transaction(async (trx) => {
    const factor = await trx.selectFrom('totp_factors').selectAll().where('user_id', '=', session.userId).forUpdate().executeTakeFirst();
    if (!factor) throw conflict('totp_not_started', 'Start enrolment first (POST /api/me/totp)');
    if (factor.confirmed_at) throw conflict('totp_already_enrolled', 'A second factor is already enrolled');
    const step = stepOf(decryptTotpSecret(authSecret, session.userId, factor.secret_ciphertext), code, now);
    if (step === null) throw wrongCode();
    await trx.updateTable('totp_factors').set({ confirmed_at: now, last_used_step: step }).where('user_id', '=', session.userId).execute();
    await markSecondFactorPassed(trx, session.tokenId);
    await recordStaffAction(trx, audit, { action: 'totp.enrolled', objectType: 'user', objectId: session.userId });
  });
}

/** Whether the account has a confirmed second factor (its sign-ins then need a code). */
export async function hasTotpFactor(db: Db | Tx, userId: string): Promise<boolean> {
  const factor = await db.selectFrom('totp_factors').select('user_id').where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst();
  return factor !== undefined;
}

/**
 * Whether `code` is a current code of the account's confirmed factor that was not used before; using it is written
 * in the same statement that checks it is later than the last one used, so two sign-ins with one code cannot both pass.
 */
export async function useTotpCode(db: Db, authSecret: string, userId: string, code: string, now = new Date()): Promise<boolean> {
  const factor = await db.selectFrom('totp_factors').select('secret_ciphertext').where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst();
  if (!factor) return false;
  const step = stepOf(decryptTotpSecret(authSecret, userId, factor.secret_ciphertext), code, now);
  if (step === null) return false;
  const used = await db
    .updateTable('totp_factors')
    .set({ last_used_step: step })
    .where('user_id', '=', userId)
    .where('confirmed_at', 'is not', null)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
    .returning('user_id')
    .executeTakeFirst();
  return used !== undefined;
}

/**
 * Removes the account's second factor (its device is lost, or may be in the wrong hands) and ends all its sessions,
 * audited. The staff member signs in with the password again and enrols a new device before staff routes open.
 * False when there was none to remove (nothing is changed or audited).
 */
export async function resetTotpFactor(database: AppDatabase, userId: string, audit: AuditContext): Promise<boolean> {
  return database.transaction(async (trx) => {
    const user = await trx.selectFrom('users').select(['id', 'email']).where('id', '=', userId).forUpdate().executeTakeFirst();
    if (!user) throw notFound('User');
    const removed = await trx.deleteFrom('totp_factors').where('user_id', '=', userId).returning('confirmed_at').executeTakeFirst();
    if (!removed) return false;
    await revokeUserTokens(trx, userId);
    await recordStaffAction(trx, audit, {
      action: 'totp.reset',
      objectType: 'user',
      objectId: userId,
      details: { email: user.email, wasConfirmed: removed.confirmed_at !== null },
    });
    return true;
  });
}
