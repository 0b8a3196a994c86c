/**
 * Staff accounts (support, ops): created, or an existing account's role and password changed, by email. The
 * operator vouches for the address, so the account counts as verified. A password set here ends the account's
 * sessions: a session opened before (perhaps by someone who signed up first with this address) must not become a
 * staff session, nor enrol the staff member's second factor.
 */
import { sql } from 'kysely';
import { type Db } from '../../db/database';
import { type Role } from '../../db/schema';
import { hashPassword } from './passwords';
import { revokeUserTokens } from './tokens';

export async function saveStaffUser(db: Db, input: { email: string; role: Role; name?: string; password: string }) {
  const passwordHash = await hashPassword(input.password);
  const now = new Date();
  const user = await db
    .insertInto('users')
    .values({ email: input.email, name: input.name ?? input.email.split('@')[0]!, password_hash: passwordHash, role: input.role, email_verified_at: now })
    .onConflict((oc) =>
      oc.expression(sql`lower(email)`).doUpdateSet({ role: input.role, password_hash: passwordHash, email_verified_at: sql<Date>`coalesce(users.email_verified_at, ${now})`, updated_at: now }),
    )
    .returning(['id', 'email', 'role'])
    .executeTakeFirstOrThrow();
  await revokeUserTokens(db, user.id);
  return user;
}
