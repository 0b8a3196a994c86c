/**
 * Granting and revoking staff roles (ops through the API, the operator through `npm run user:role`), audited in the
 * same transaction as the change. The platform never loses its last ops account this way: ops rows are locked in id
 * order before counting, so two ops demoting each other at once cannot both pass the check.
 */
import { type AppDatabase } from '../../db/database';
import { type Role } from '../../db/schema';
import { type AuditContext, recordStaffAction } from '../audit/staff-audit';
import { conflict, notFound } from '../errors';

export interface RoleChange {
  userId: string;
  email: string;
  from: Role;
  to: Role;
  /** False when the user already had the role: nothing was changed or audited. */
  changed: boolean;
}

/** The user `where` names (by id or by email, case-insensitively) gets `role`. */
export async function setUserRole(database: AppDatabase, where: { id: string } | { email: string }, role: Role, audit: AuditContext): Promise<RoleChange> {
  return database.transaction(async (trx) => {
    let query = trx.selectFrom('users').select(['id', 'email', 'role']).forUpdate();
    query = 'id' in where ? query.where('id', '=', where.id) : query.where((eb) => eb(eb.fn('lower', ['email']), '=', where.email.toLowerCase()));
    const user = await query.executeTakeFirst();
    if (!user) throw notFound('User');
    if (user.role === role) return { userId: user.id, email: user.email, from: user.role, to: role, changed: false };
    if (user.role === 'ops') {
      const ops = await trx.selectFrom('users').select('id').where('role', '=', 'ops').orderBy('id').forUpdate().execute();
      if (ops.length <= 1) throw conflict('last_ops', 'This is the last ops account: grant ops to someone else first');
    }
    await trx.updateTable('users').set({ role, updated_at: new Date() }).where('id', '=', user.id).execute();
    await recordStaffAction(trx, audit, {
      action: role === 'user' ? 'role.revoked' : 'role.granted',
      objectType: 'user',
      objectId: user.id,
      details: { email: user.email, from: user.role, to: role },
    });
    return { userId: user.id, email: user.email, from: user.role, to: role, changed: true };
  });
}
