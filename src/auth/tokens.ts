/**
 * Opaque bearer tokens: 32 random bytes given to the client once; only an HMAC of the token is stored, so a
 * database leak yields no usable tokens. Revocation is a row update.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { type Db, type Tx } from '../../db/database';
import { type User } from '../../db/schema';

export function hashToken(secret: string, token: string): string {
  return createHmac('sha256', secret).update(token).digest('base64url');
}

/** A new sign-in token; `secondFactor` when the sign-in passed the account's TOTP code too. */
export async function issueToken(db: Db | Tx, secret: string, userId: string, ttlMs: number, options: { secondFactor?: boolean } = {}): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const now = new Date();
  await db
    .insertInto('auth_tokens')
    .values({ user_id: userId, token_hash: hashToken(secret, token), expires_at: new Date(now.getTime() + ttlMs), second_factor_at: options.secondFactor ? now : null })
    .execute();
  return token;
}

export interface Session {
  tokenId: string;
  user: User;
  /** The sign-in passed a second factor (or the session confirmed one since): staff routes need it. */
  secondFactor: boolean;
}

/** The live session a token belongs to, or undefined when it is unknown, expired or revoked. */
export async function findSession(db: Db, secret: string, token: string): Promise<Session | undefined> {
  const row = await db
    .selectFrom('auth_tokens')
    .innerJoin('users', 'users.id', 'auth_tokens.user_id')
    .selectAll('users')
    .select(['auth_tokens.id as token_id', 'auth_tokens.second_factor_at'])
    .where('auth_tokens.token_hash', '=', hashToken(secret, token))
    .where('auth_tokens.revoked_at', 'is', null)
    .where('auth_tokens.expires_at', '>', new Date())
    .executeTakeFirst();
  if (!row) return undefined;
  const { token_id: tokenId, second_factor_at: secondFactorAt, ...user } = row;
  return { tokenId, user, secondFactor: secondFactorAt !== null };
}

export async function revokeToken(db: Db, tokenId: string): Promise<void> {
  await db.updateTable('auth_tokens').set({ revoked_at: new Date() }).where('id', '=', tokenId).execute();
}

/** Every live session of the account ends (its password was replaced, its second factor removed). */
export async function revokeUserTokens(db: Db | Tx, userId: string): Promise<void> {
  await db.updateTable('auth_tokens').set({ revoked_at: new Date() }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
}

/** The session has just passed the second factor (its holder confirmed a TOTP code). */
export async function markSecondFactorPassed(db: Db | Tx, tokenId: string): Promise<void> {
  await db.updateTable('auth_tokens').set({ second_factor_at: new Date() }).where('id', '=', tokenId).execute();
}
