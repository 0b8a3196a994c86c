/**
 * Support's refund request: checked against what is left to refund (counting refunds already requested but not yet
 * done), written as a `requested` row, then carried out by the campaign workflow. The pledge row is locked while
 * checking, so two concurrent requests cannot together refund more than was captured.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { type AppDatabase } from '../../db/database';
import { type Refund } from '../../db/schema';
import { type AuditContext, recordStaffAction } from '../audit/staff-audit';
import { conflict, notFound, unprocessable } from '../errors';
import { stripeKeys } from '../payments/idempotency-keys';

export interface RefundRequest {
  pledgeId: string;
  /** Minor units; the whole refundable remainder when absent. */
  amount?: number;
  reason: string;
  requestedBy: string;
  /** The request's Idempotency-Key, per staff member: the same request again finds its refund rather than adding one. */
  requestKey?: string;
  /** A staff member's request is audited with the refund row, in its transaction (a backer's cancellation is not). */
  audit?: AuditContext;
}

export async function requestRefund(database: AppDatabase, request: RefundRequest): Promise<{ refund: Refund; campaignId: string }> {
  return database.transaction(async (trx) => {
    const pledge = await trx.selectFrom('pledges').selectAll().where('id', '=', request.pledgeId).forUpdate().executeTakeFirst();
    if (!pledge) throw notFound('Pledge');
    if (request.requestKey) {
      const earlier = await trx.selectFrom('refunds').selectAll().where('request_key', '=', request.requestKey).executeTakeFirst();
      if (earlier?.pledge_id === pledge.id) return { refund: earlier, campaignId: pledge.campaign_id };
      if (earlier) throw unprocessable('idempotency_key_reused', 'This Idempotency-Key was used to refund another pledge');
    }
    if (pledge.status !== 'captured') throw conflict('pledge_not_refundable', `Only collected pledges can be refunded; this one is ${pledge.status}`);
    const pending = await trx
      .selectFrom('refunds')
      .select(sql<number>`coalesce(sum(amount), 0)`.as('total'))
      .where('pledge_id', '=', pledge.id)
      .where('status', '=', 'requested')
      .executeTakeFirstOrThrow();
    const refundable = pledge.amount_captured - pledge.amount_refunded - Number(pending.total);
    const amount = request.amount ?? refundable;
    if (amount <= 0 || amount > refundable) {
      throw unprocessable('refund_exceeds_captured', `At most ${refundable} minor units of this pledge can still be refunded`, [
        { path: 'amount', message: `must be at most what is left to refund (${refundable} minor units)` },
      ]);
    }
    const id = randomUUID();
    const refund = await trx
      .insertInto('refunds')
      .values({
        id,
        pledge_id: pledge.id,
        amount,
        currency: pledge.currency,
        reason: request.reason,
        requested_by: request.requestedBy,
        idempotency_key: stripeKeys.refund(id),
        request_key: request.requestKey ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (request.audit) {
      await recordStaffAction(trx, request.audit, {
        action: 'refund.requested',
        objectType: 'pledge',
        objectId: pledge.id,
        details: { refundId: refund.id, campaignId: pledge.campaign_id, amount, currency: pledge.currency, reason: request.reason },
      });
    }
    return { refund, campaignId: pledge.campaign_id };
  });
}
