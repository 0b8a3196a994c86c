/** A dispute as support staff read it: amounts as decimal strings in their own currencies (the API's convention). */
import { type Dispute } from '../../db/schema';
import { fromMinorUnits } from '../money';

export function disputeView(dispute: Dispute) {
  const settlement = (minor: number) => (dispute.settlement_currency ? fromMinorUnits(minor, dispute.settlement_currency) : null);
  return {
    id: dispute.id,
    stripeDisputeId: dispute.stripe_dispute_id,
    campaignId: dispute.campaign_id,
    pledgeId: dispute.pledge_id,
    chargeId: dispute.charge_id,
    paymentIntentId: dispute.payment_intent_id,
    status: dispute.status,
    reason: dispute.reason,
    amount: fromMinorUnits(dispute.amount, dispute.currency),
    currency: dispute.currency,
    /** What Stripe withdrew and its dispute fee, in the platform's settlement currency. */
    settlementAmount: settlement(dispute.settlement_amount),
    fee: settlement(dispute.fee),
    settlementCurrency: dispute.settlement_currency,
    evidenceDueBy: dispute.evidence_due_by?.toISOString() ?? null,
    evidenceSubmittedAt: dispute.evidence_submitted_at?.toISOString() ?? null,
    recovery: dispute.recovery,
    recoveryAmount: settlement(dispute.recovery_amount),
    createdAt: dispute.created_at.toISOString(),
    closedAt: dispute.closed_at?.toISOString() ?? null,
  };
}

export type DisputeView = ReturnType<typeof disputeView>;
