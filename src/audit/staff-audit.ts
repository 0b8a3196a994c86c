/**
 * The staff audit log (db/migrations/0013): every staff action written with who did it, on what, and the request
 * that asked for it. An action that writes Postgres records its entry in the same transaction, so the action and
 * its record commit together; one that only asks Temporal or Stripe records it right after it succeeded.
 */
import { type Db, type Tx } from '../../db/database';
import { type Role, type StaffAuditAction, type StaffAuditEntry, type StaffAuditObjectType, type User } from '../../db/schema';

/** Who acted: a staff member (their role at the time), or the operator's command line (no account: `cli`). */
export interface AuditActor {
  id: string | null;
  role: Role | null;
  label: string;
}

/** What an audited use case is told about the caller, besides the business input. */
export interface AuditContext {
  actor: AuditActor;
  /** The API request's X-Request-Id; null from the command line. */
  requestId: string | null;
}

export const CLI_ACTOR: AuditActor = { id: null, role: null, label: 'cli' };

export function staffActor(user: Pick<User, 'id' | 'role' | 'email'>): AuditActor {
  return { id: user.id, role: user.role, label: user.email };
}

export interface StaffAction {
  action: StaffAuditAction;
  objectType: StaffAuditObjectType;
  objectId: string;
  details?: Record<string, unknown>;
}

export async function recordStaffAction(db: Db | Tx, by: AuditContext, action: StaffAction): Promise<void> {
  await db
    .insertInto('staff_audit_log')
    .values({
      actor_id: by.actor.id,
      actor_role: by.actor.role,
      actor_label: by.actor.label,
      action: action.action,
      object_type: action.objectType,
      object_id: action.objectId,
      details: JSON.stringify(action.details ?? {}),
      request_id: by.requestId,
    })
    .execute();
}

export interface AuditFilter {
  actorId?: string;
  action?: StaffAuditAction;
  objectType?: StaffAuditObjectType;
  objectId?: string;
  since?: Date;
  until?: Date;
  /** Entries older than this id (the previous page's last): keyset pagination, newest first. */
  beforeId?: number;
  limit: number;
}

/** One page, newest first; `next` is the last entry's id when more are older. */
export async function listStaffActions(db: Db, filter: AuditFilter): Promise<{ entries: StaffAuditEntry[]; next: number | null }> {
  let query = db.selectFrom('staff_audit_log').selectAll().orderBy('id', 'desc').limit(filter.limit + 1);
  if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.objectType !== undefined) query = query.where('object_type', '=', filter.objectType);
  if (filter.objectId !== undefined) query = query.where('object_id', '=', filter.objectId);
  if (filter.since !== undefined) query = query.where('occurred_at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('occurred_at', '<', filter.until);
  if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
  const rows = await query.execute();
  const entries = rows.slice(0, filter.limit);
  return { entries, next: rows.length > filter.limit ? entries[entries.length - 1]!.id : null };
}

export function auditEntryView(entry: StaffAuditEntry) {
  return {
    id: String(entry.id),
    occurredAt: entry.occurred_at.toISOString(),
    actor: { id: entry.actor_id, role: entry.actor_role, label: entry.actor_label },
    action: entry.action,
    object: { type: entry.object_type, id: entry.object_id },
    details: entry.details,
    requestId: entry.request_id,
  };
}
