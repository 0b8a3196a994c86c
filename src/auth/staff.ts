/** Staff accounts (support, ops): created, or an existing account's role and password changed, by email. */
import { sql } from 'kysely';
import { type Db } from '../../db/database';
import { type Role } from '../../db/schema';
import { hashPassword } from './passwords';

export async function saveStaffUser(db: Db, input: { email: string; role: Role; name?: string; password: string }) {
  const passwordHash = await hashPassword(input.password);
  return db
    .insertInto('users')
    .values({ email: input.email, name: input.name ?? input.email.split('@')[0]!, password_hash: passwordHash, role: input.role })
    .onConflict((oc) => oc.expression(sql`lower(email)`).doUpdateSet({ role: input.role, password_hash: passwordHash, updated_at: new Date() }))
    .returning(['id', 'email', 'role'])
    .executeTakeFirstOrThrow();
}
