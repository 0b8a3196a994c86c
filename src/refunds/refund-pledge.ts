/**
 * Support's refund of a pledge, full or partial: requested (src/refunds/request-refund.ts), then sent to the
 * campaign's workflow, which carries it out on Stripe.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { type AppDatabase } from '../../db/database';
import { type Refund } from '../../db/schema';
import { type AuditContext } from '../audit/staff-audit';
import { conflict, invalidField, notFound } from '../errors';
import { toMinorUnits } from '../money';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';
import { requestRefund } from './request-refund';

export interface SupportRefund {
  pledgeId: string;
  /** A decimal amount of the pledge's currency; the whole refundable remainder when absent. */
  amount?: string;
  reason: string;
  requestedBy: string;
  /** The request's Idempotency-Key, per staff member (see RefundRequest). */
  requestKey: string;
  audit: AuditContext;
}

export async function refundPledge(deps: { database: AppDatabase; workflows: CampaignWorkflows }, request: SupportRefund): Promise<Refund> {
  const { database, workflows } = deps;
  const pledge = await database.db.selectFrom('pledges').select(['currency']).where('id', '=', request.pledgeId).executeTakeFirst();
  if (!pledge) throw notFound('Pledge');
  let amount: number | undefined;
  if (request.amount !== undefined) {
    try {
      amount = toMinorUnits(request.amount, pledge.currency);
    } catch (error) {
      throw invalidField('amount', (error as Error).message);
    }
  }
  const { refund, campaignId } = await requestRefund(database, {
    pledgeId: request.pledgeId,
    ...(amount === undefined ? {} : { amount }),
    reason: request.reason,
    requestedBy: request.requestedBy,
    // A retry that takes over the key of a request that died finds that request's refund.
    requestKey: request.requestKey,
    audit: request.audit,
  });
  // A refund found done (or failed) by such a retry needs no workflow; one still requested may never have reached it.
  if (refund.status !== 'requested') return refund;
  await sendRefundToWorkflow({ database, workflows }, campaignId, refund.id);
  return refund;
}

/** Hands a requested refund to the campaign's workflow, which carries it out; a closed workflow refuses it (409). */
export async function sendRefundToWorkflow(deps: { database: AppDatabase; workflows: CampaignWorkflows }, campaignId: string, refundId: string): Promise<void> {
  try {
    await deps.workflows.refund(campaignId, refundId);
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    // The campaign's workflow has closed with its refund window: nothing would carry the refund out, and a row
    // left `requested` would count against what can be refunded. It stays, failed, as the record of the request.
    await deps.database.db
      .updateTable('refunds')
      .set({ status: 'failed', failure_message: 'refund window closed', completed_at: new Date() })
      .where('id', '=', refundId)
      .where('status', '=', 'requested')
      .execute();
    throw conflict('refund_window_closed', 'This campaign no longer takes refunds: its refund window has closed');
  }
}
