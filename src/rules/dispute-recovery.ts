/**
 * What a lost dispute costs the creator, when the creator bears it (DISPUTE_RECOVERY=creator): the same as if the
 * disputed amount had been refunded (the platform gives up its commission on it) plus Stripe's dispute fee. Before the
 * payout that is simply taken off it (`disputesLost`, `disputeFees` in the payout arithmetic); after it, the creator's
 * share is drawn from the payout's reserve while one is held, and what the reserve does not cover is taken back by a
 * transfer reversal. Settlement-currency minor units throughout.
 */
import { computePayout, type PayoutInput } from './payout';

export interface DisputeAfterPayoutInput extends PayoutInput {
  /** The dispute lost now: what Stripe withdrew and its fee. */
  lost: { amount: number; fee: number };
  /** What the creator has received so far, net of every reversal decided. */
  transferredNet: number;
  /** What is left of the payout's reserve (held, not yet released); absent: none. */
  reserveHeld?: number;
}

export interface DisputeRecovery {
  /** Covered by the payout's reserve: the platform keeps it, nothing moves on Stripe. */
  reserveDrawn: number;
  /** Taken back from the creator's Connect account. */
  transferReversal: number;
  /** Commission the platform gives up because the money collected shrank. */
  platformFeeReversal: number;
}

/**
 * The reserve first, then a reversal for the rest; never takes back more than the creator still holds from this
 * campaign (the platform bears the rest).
 */
export function recoveryForLostDispute(input: DisputeAfterPayoutInput): DisputeRecovery {
  // What the creator is owed in all, reserve included: the share is the same whether or not part of it is held back.
  const owedIn = { ...input, reserveBps: 0 };
  const before = computePayout(owedIn);
  const after = computePayout({
    ...owedIn,
    disputesLost: (input.disputesLost ?? 0) + input.lost.amount,
    disputeFees: (input.disputeFees ?? 0) + input.lost.fee,
  });
  const share = Math.max(before.transfer - after.transfer, 0);
  const reserveDrawn = Math.min(share, Math.max(input.reserveHeld ?? 0, 0));
  const transferReversal = Math.min(share - reserveDrawn, input.transferredNet);
  return { reserveDrawn, transferReversal: Math.max(transferReversal, 0), platformFeeReversal: before.platformFee - after.platformFee };
}
