/**
 * The payout arithmetic, all in the platform's settlement currency (what Stripe's balance holds, what the commission
 * is taken from and what the transfer pays): a campaign in another currency is reckoned from the settlement amounts
 * Stripe converted its charges and refunds to. The invariant it keeps, per campaign, to the minor unit:
 *   captured - refunded = (transfer - transfer reversals) + (commission - commission reversals) + processing fees
 *                         - what the platform absorbs + the reserve still held
 * A reserve against chargebacks (`reserveBps`) is part of what the platform still holds: the transfer pays the rest.
 */
import { type LedgerTotals } from '../ledger/ledger';
import { platformCommission } from '../money';

/** What the payout is computed from, read from the ledger's settlement view (`ledgerTotals(..., 'settlement')`). */
export function collectedFromLedger(settlement: LedgerTotals): Pick<PayoutInput, 'captured' | 'refunded' | 'processingFees'> {
  return {
    captured: settlement.capture,
    // A refund that failed after it was made put its money back with the platform.
    refunded: settlement.refund - settlement.refund_failed,
    processingFees: settlement.processing_fee,
  };
}

/** Settlement-currency minor units throughout. */
export interface PayoutInput {
  captured: number;
  refunded: number;
  /** Stripe's fees on the captures, from their balance transactions (Stripe keeps them when a charge is refunded). */
  processingFees: number;
  platformFeeBps: number;
  /**
   * Disputes lost that the creator bears (src/disputes/creator-dispute-debits.ts): what Stripe withdrew counts as
   * money not collected (no commission on it), and Stripe's dispute fees as fees. Open disputes are not here.
   */
  disputesLost?: number;
  disputeFees?: number;
  /** Part of what the creator is owed held back against chargebacks (PAYOUT_RESERVE_PERCENT); absent: none. */
  reserveBps?: number;
}

export interface PayoutAmounts {
  netCollected: number;
  platformFee: number;
  processingFees: number;
  /** What the creator receives now. */
  transfer: number;
  /** What the creator is owed but the platform holds back until the reserve period ends (zero without a reserve). */
  reserve: number;
  /**
   * By how much commission and Stripe's fees exceed what is left (after heavy refunds): the platform bears it, so the
   * transfer is never negative. Zero or more.
   */
  platformAbsorbs: number;
}

export function computePayout({ captured, refunded, processingFees, platformFeeBps, disputesLost = 0, disputeFees = 0, reserveBps = 0 }: PayoutInput): PayoutAmounts {
  const netCollected = captured - refunded - disputesLost;
  if (netCollected < 0) throw new RangeError('refunded exceeds captured');
  const platformFee = platformCommission(netCollected, platformFeeBps);
  const owed = netCollected - platformFee - processingFees - disputeFees;
  const reserve = payoutReserve(Math.max(owed, 0), reserveBps);
  return { netCollected, platformFee, processingFees, transfer: Math.max(owed, 0) - reserve, reserve, platformAbsorbs: Math.max(-owed, 0) };
}

/**
 * The reserve held back from what the creator is owed: `bps` of it, rounded down once (the creator's favour), so the
 * reserve never exceeds half of it (PAYOUT_RESERVE_PERCENT <= 50) and a transfer owed is never reserved whole.
 */
export function payoutReserve(owed: number, bps: number): number {
  if (!Number.isInteger(bps) || bps < 0 || bps > 5_000) throw new RangeError(`invalid reserve basis points ${bps}`);
  // BigInt keeps owed * bps exact past 2^53.
  return Number((BigInt(owed) * BigInt(bps)) / 10_000n);
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
