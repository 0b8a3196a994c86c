/** What a lost dispute costs the creator: the payout arithmetic with the dispute in it (src/rules/dispute-recovery.ts). */
import { recoveryForLostDispute } from '../../src/rules/dispute-recovery';
import { computePayout } from '../../src/rules/payout';

const campaign = { captured: 30_000, refunded: 0, processingFees: 930, platformFeeBps: 600 };

test('a lost dispute counts as money not collected, and its fee as a fee', () => {
  expect(computePayout({ ...campaign, disputesLost: 10_000, disputeFees: 1_500 })).toEqual({
    netCollected: 20_000,
    platformFee: 1_200,
    processingFees: 930,
    transfer: 20_000 - 1_200 - 930 - 1_500,
    reserve: 0,
    platformAbsorbs: 0,
  });
});

test('after the payout the creator gives back what the payout would have been smaller by; the platform its commission', () => {
  const paid = computePayout(campaign).transfer;
  expect(recoveryForLostDispute({ ...campaign, lost: { amount: 10_000, fee: 1_500 }, transferredNet: paid })).toEqual({
    reserveDrawn: 0,
    transferReversal: 10_000 - 600 + 1_500,
    platformFeeReversal: 600,
  });
});

test('a second dispute is reckoned after the first, and never takes more than the creator still holds', () => {
  const first = { disputesLost: 10_000, disputeFees: 1_500 };
  expect(recoveryForLostDispute({ ...campaign, ...first, lost: { amount: 10_000, fee: 1_500 }, transferredNet: 50_000 })).toEqual({
    reserveDrawn: 0,
    transferReversal: 10_900,
    platformFeeReversal: 600,
  });
  expect(recoveryForLostDispute({ ...campaign, ...first, lost: { amount: 10_000, fee: 1_500 }, transferredNet: 4_000 }).transferReversal).toBe(4_000);
  // Everything disputed: what is left does not cover the fees, and the platform absorbs the difference.
  const all = recoveryForLostDispute({ ...campaign, disputesLost: 20_000, disputeFees: 3_000, lost: { amount: 10_000, fee: 1_500 }, transferredNet: 50_000 });
  expect(all.transferReversal).toBe(computePayout({ ...campaign, disputesLost: 20_000, disputeFees: 3_000 }).transfer);
});
