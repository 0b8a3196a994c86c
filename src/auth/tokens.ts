/**
 * Opaque bearer tokens: 32 random bytes given to the client once; only an HMAC of the token is stored, so a
 * database leak yields no usable tokens. Revocation is a row update.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { type Db } from '../../db/database';
import { type User } from '../../db/schema';

export function hashToken(secret: string, token: string): string {
  return createHmac('sha256', secret).update(token).digest('base64url');
}

export async function issueToken(db: Db, secret: string, userId: string, ttlMs: number): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await db
    .insertInto('auth_tokens')
    .values({ user_id: userId, token_hash: hashToken(secret, token), expires_at: new Date(Date.now() + ttlMs) })
    .execute();
  return token;
}

export interface Session {
  tokenId: string;
  user: User;
}

/** The live session a token belongs to, or undefined when it is unknown, expired or revoked. */
export async function findSession(db: Db, secret: string, token: string): Promise<Session | undefined> {
  const row = await db
    .selectFrom('auth_tokens')
    .innerJoin('users', 'users.id', 'auth_tokens.user_id')
    .selectAll('users')
    .select('auth_tokens.id as token_id')
    .where('auth_tokens.token_hash', '=', hashToken(secret, token))
    .where('auth_tokens.revoked_at', 'is', null)
    .where('auth_tokens.expires_at', '>', new Date())
    .executeTakeFirst();
  if (!row) return undefined;
  const { token_id: tokenId, ...user } = row;
  return { tokenId, user };
}

export async function revokeToken(db: Db, tokenId: string): Promise<void> {
  await db.updateTable('auth_tokens').set({ revoked_at: new Date() }).where('id', '=', tokenId).execute();
}
