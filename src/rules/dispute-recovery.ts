/**
 * What a lost dispute costs the creator, when the creator bears it (DISPUTE_RECOVERY=creator): the same as if the
 * disputed amount had been refunded (the platform gives up its commission on it) plus Stripe's dispute fee. Before the
 * payout that is simply taken off it (`disputesLost`, `disputeFees` in the payout arithmetic); after it, the creator's
 * share is taken back by a transfer reversal of this size. Settlement-currency minor units throughout.
 */
import { computePayout, type PayoutInput } from './payout';

export interface DisputeAfterPayoutInput extends PayoutInput {
  /** The dispute lost now: what Stripe withdrew and its fee. */
  lost: { amount: number; fee: number };
  /** What the creator has received so far, net of every reversal decided. */
  transferredNet: number;
}

export interface DisputeRecovery {
  /** Taken back from the creator's Connect account. */
  transferReversal: number;
  /** Commission the platform gives up because the money collected shrank. */
  platformFeeReversal: number;
}

/** Never takes back more than the creator still holds from this campaign; the platform bears the rest. */
export function recoveryForLostDispute(input: DisputeAfterPayoutInput): DisputeRecovery {
  const before = computePayout(input);
  const after = computePayout({
    ...input,
    disputesLost: (input.disputesLost ?? 0) + input.lost.amount,
    disputeFees: (input.disputeFees ?? 0) + input.lost.fee,
  });
  const transferReversal = Math.min(before.transfer - after.transfer, input.transferredNet);
  return { transferReversal: Math.max(transferReversal, 0), platformFeeReversal: before.platformFee - after.platformFee };
}
