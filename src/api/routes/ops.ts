/**
 * Ops staff's view of a campaign's workflow, its reconciliation, the retry button for errored settlements, the
 * campaign's commission, staff roles, and the staff audit log. Every write is audited with this request's id.
 */
import { Router } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { auditEntryView, listStaffActions, recordStaffAction, staffActor } from '../../audit/staff-audit';
import { setUserRole } from '../../auth/staff-roles';
import { resetTotpFactor } from '../../auth/totp';
import { overrideCommission } from '../../campaigns/commission';
import { text } from '../../campaigns/schemas';
import { type ApiContext, requireRole, requireWorkflows } from '../context';
import { DomainError, invalidField, notFound } from '../../errors';
import { MAX_PLATFORM_FEE_BPS, MIN_PLATFORM_FEE_BPS } from '../../money';
import { requestIdOf } from '../request-id';
import { ReconciliationJobs } from '../../reconciliation/reconciliation-jobs';
import { type ReconciliationView } from '../../reconciliation/report';
import { type ReconciliationJob, type StaffAuditAction } from '../../../db/schema';
import { campaignIdParams } from './campaign-lifecycle';

// An instant Postgres can store and JavaScript can read (the ISO format alone allows 30 February).
const instant = z.iso.datetime({ offset: true }).refine((value) => !Number.isNaN(Date.parse(value)), 'must be a real date and time');

export const AUDIT_ACTIONS = [
  'refund.requested',
  'settlement.retried',
  'campaign.cancelled',
  'role.granted',
  'role.revoked',
  'dispute.evidence_submitted',
  'dispute.accepted',
  'commission.overridden',
  'totp.enrolled',
  'totp.reset',
  'backer_report.exported',
] as const satisfies readonly StaffAuditAction[];
export const auditQuery = z.object({
  actorId: z.uuid().optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
  objectType: z.enum(['pledge', 'campaign', 'user', 'dispute']).optional(),
  objectId: text().min(1).max(200).optional(),
  since: instant.optional(),
  until: instant.optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
// What nextCursor holds: the last entry's id, as a decimal string.
const auditCursor = z.tuple([z.string().regex(/^[1-9][0-9]{0,14}$/)]);

export const userIdParams = z.object({ id: z.uuid() });
export const roleBody = z.strictObject({ role: z.enum(['user', 'support', 'ops']) });
export const commissionBody = z.strictObject({ platformFeeBps: z.number().int().min(MIN_PLATFORM_FEE_BPS).max(MAX_PLATFORM_FEE_BPS) });

/** The process's reconciliation runner: made on first use unless the server made one (and stops it on shutdown). */
function reconciliationJobsOf(context: ApiContext): ReconciliationJobs {
  context.reconciliationJobs ??= new ReconciliationJobs({ db: context.database.db, logger: context.logger, ...(context.stripe ? { stripe: context.stripe } : {}) });
  return context.reconciliationJobs;
}

export function reconciliationJobView(job: ReconciliationJob) {
  return {
    id: job.id,
    campaignId: job.campaign_id,
    status: job.status,
    requestedBy: job.requested_by,
    progress: { pledgesChecked: job.pledges_checked, pledgesTotal: job.pledges_total },
    createdAt: job.created_at.toISOString(),
    startedAt: job.started_at?.toISOString() ?? null,
    finishedAt: job.finished_at?.toISOString() ?? null,
    result: (job.result ?? null) as ReconciliationView | null,
    error: job.error,
  };
}

export function opsRoutes(context: ApiContext): Router {
  const router = Router();
  const requireCampaign = async (id: string) => {
    const campaign = await context.database.db.selectFrom('campaigns').select('id').where('id', '=', id).executeTakeFirst();
    if (!campaign) throw notFound('Campaign');
  };

  router.get('/campaigns/:id', async (req, res) => {
    requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    const workflows = requireWorkflows(context);
    try {
      const { state, execution } = await workflows.state(id);
      res.json({
        state,
        workflow: {
          workflowId: execution.workflowId,
          runId: execution.runId,
          status: execution.status.name,
          startTime: execution.startTime.toISOString(),
          historyLength: execution.historyLength,
          searchAttributes: Object.fromEntries(execution.typedSearchAttributes.getAll().map((pair) => [pair.key.name, pair.value])),
        },
      });
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw notFound('Campaign workflow');
      throw error;
    }
  });

  /**
   * The same proof as `npm run reconcile` (Stripe's side checked when Stripe is configured), run in the background:
   * POST starts it (or finds the one running), GET reads the latest run's progress or result.
   */
  router.post('/campaigns/:id/reconciliation', async (req, res) => {
    const staff = requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    await requireCampaign(id);
    const { job, started } = await reconciliationJobsOf(context).request(id, staff.id);
    res.status(202).location(`${req.baseUrl}/campaigns/${id}/reconciliation`).json({ ...reconciliationJobView(job), alreadyRunning: !started });
  });

  router.get('/campaigns/:id/reconciliation', async (req, res) => {
    requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    await requireCampaign(id);
    const job = await reconciliationJobsOf(context).latest(id);
    if (!job) throw new DomainError('not_found', 'not_found', 'No reconciliation of this campaign has been requested; POST to this address to start one');
    res.json(reconciliationJobView(job));
  });

  router.post('/campaigns/:id/retry-settlement', async (req, res) => {
    const staff = requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    const workflows = requireWorkflows(context);
    try {
      await workflows.retrySettlement(id);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw notFound('Campaign workflow');
      throw error;
    }
    // A signal writes nothing here: recorded once the workflow has taken it.
    await recordStaffAction(context.database.db, { actor: staffActor(staff), requestId: requestIdOf(res) }, {
      action: 'settlement.retried',
      objectType: 'campaign',
      objectId: id,
    });
    res.status(202).json({ status: 'retrying' });
  });

  router.put('/campaigns/:id/commission', async (req, res) => {
    const staff = requireRole(res, 'ops');
    const { id } = campaignIdParams.parse(req.params);
    const { platformFeeBps } = commissionBody.parse(req.body);
    const { from, to } = await overrideCommission(context.database, { campaignId: id, platformFeeBps, audit: { actor: staffActor(staff), requestId: requestIdOf(res) } });
    res.json({ campaignId: id, platformFeeBps: to, previousPlatformFeeBps: from });
  });

  router.put('/users/:id/role', async (req, res) => {
    const staff = requireRole(res, 'ops');
    const { id } = userIdParams.parse(req.params);
    const { role } = roleBody.parse(req.body);
    const change = await setUserRole(context.database, { id }, role, { actor: staffActor(staff), requestId: requestIdOf(res) });
    res.json({ userId: change.userId, role: change.to, previousRole: change.from, changed: change.changed });
  });

  /** Removes a staff member's TOTP factor (a lost device) and ends their sessions; they enrol again. Audited. */
  router.delete('/users/:id/totp', async (req, res) => {
    const staff = requireRole(res, 'ops');
    const { id } = userIdParams.parse(req.params);
    const reset = await resetTotpFactor(context.database, id, { actor: staffActor(staff), requestId: requestIdOf(res) });
    res.json({ userId: id, reset });
  });

  /** The staff audit log, newest first, in keyset pages. */
  router.get('/audit', async (req, res) => {
    requireRole(res, 'ops');
    const query = auditQuery.parse(req.query);
    let beforeId: number | undefined;
    if (query.cursor) {
      try {
        beforeId = Number(auditCursor.parse(JSON.parse(Buffer.from(query.cursor, 'base64url').toString()))[0]);
      } catch {
        throw invalidField('cursor', 'is not a cursor this API gave');
      }
    }
    const { since, until, cursor: _cursor, ...filter } = query;
    const { entries, next } = await listStaffActions(context.database.db, {
      ...filter,
      since: since === undefined ? undefined : new Date(since),
      until: until === undefined ? undefined : new Date(until),
      beforeId,
    });
    res.json({ data: entries.map(auditEntryView), nextCursor: next === null ? null : Buffer.from(JSON.stringify([String(next)])).toString('base64url') });
  });

  return router;
}
