/**
 * The payout arithmetic. The invariant it keeps, per campaign, to the minor unit:
 *   captured - refunded = (transfer - transfer reversals) + (commission - commission reversals) + processing fees
 *                         - what the platform absorbs
 */
import { platformCommission } from '../money';

export interface PayoutInput {
  captured: number;
  refunded: number;
  /** Stripe's fees on the captures, from their balance transactions (Stripe keeps them when a charge is refunded). */
  processingFees: number;
  platformFeeBps: number;
}

export interface PayoutAmounts {
  netCollected: number;
  platformFee: number;
  processingFees: number;
  /** What the creator receives. */
  transfer: number;
  /**
   * By how much commission and Stripe's fees exceed what is left (after heavy refunds): the platform bears it, so the
   * transfer is never negative. Zero or more.
   */
  platformAbsorbs: number;
}

export function computePayout({ captured, refunded, processingFees, platformFeeBps }: PayoutInput): PayoutAmounts {
  const netCollected = captured - refunded;
  if (netCollected < 0) throw new RangeError('refunded exceeds captured');
  const platformFee = platformCommission(netCollected, platformFeeBps);
  const owed = netCollected - platformFee - processingFees;
  return { netCollected, platformFee, processingFees, transfer: Math.max(owed, 0), platformAbsorbs: Math.max(-owed, 0) };
}

export interface RefundAfterPayoutInput extends PayoutInput {
  /** The refund being made now; `refunded` is what had been refunded before it. */
  refundAmount: number;
  /** What the creator has received so far, net of earlier reversals. */
  transferredNet: number;
}

export interface RefundReversal {
  /** Taken back from the creator's Connect account. */
  transferReversal: number;
  /** Commission the platform gives up because the net collected shrank. */
  platformFeeReversal: number;
}

/**
 * A refund after the payout: the creator returns their share of it, the platform its commission on it, so the
 * invariant above still holds. Never reverses more than the creator still holds from this campaign.
 */
export function reversalForRefund(input: RefundAfterPayoutInput): RefundReversal {
  const before = computePayout(input);
  const after = computePayout({ ...input, refunded: input.refunded + input.refundAmount });
  const platformFeeReversal = before.platformFee - after.platformFee;
  const transferReversal = Math.min(input.refundAmount - platformFeeReversal, input.transferredNet);
  return { transferReversal: Math.max(transferReversal, 0), platformFeeReversal };
}
