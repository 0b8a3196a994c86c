import { crossedStretchGoals, decideOutcome, percentFunded, settlementAction } from '../../src/rules/outcome';
import { computePayout, reversalForRefund } from '../../src/rules/payout';

describe('decideOutcome', () => {
  it.each([
    ['aon', 100_000, 100_000, false, 'funded'],
    ['aon', 100_000, 99_999, false, 'failed'],
    ['hybrid', 100_000, 250_000, false, 'funded'],
    ['hybrid', 100_000, 0, false, 'failed'],
    ['kia', 100_000, 1, false, 'funded'],
    ['kia', 100_000, 0, false, 'funded'],
    ['aon', 100_000, 500_000, true, 'cancelled'],
    ['kia', 100_000, 500_000, true, 'cancelled'],
  ] as const)('%s goal %d total %d cancelled=%s -> %s', (model, goalAmount, totalPledged, cancelled, expected) => {
    expect(decideOutcome({ model, goalAmount, totalPledged, cancelled })).toBe(expected);
  });
});

describe('settlementAction', () => {
  it.each([
    ['funded', 'authorized', 'capture'],
    ['funded', 'captured', 'none'],
    ['funded', 'cancelled', 'none'],
    ['failed', 'authorized', 'release'],
    ['failed', 'captured', 'none'],
    ['cancelled', 'authorized', 'release'],
    ['cancelled', 'captured', 'refund'],
    ['cancelled', 'released', 'none'],
  ] as const)('%s + %s -> %s', (outcome, status, expected) => {
    expect(settlementAction(outcome, status)).toBe(expected);
  });
});

describe('crossedStretchGoals', () => {
  const goals = [
    { id: 'c', targetAmount: 300, unlockedAt: null },
    { id: 'a', targetAmount: 150, unlockedAt: null },
    { id: 'b', targetAmount: 200, unlockedAt: null },
    { id: 'done', targetAmount: 120, unlockedAt: new Date() },
  ];
  it('returns each locked goal crossed upward, in ascending order, once', () => {
    expect(crossedStretchGoals(goals, 100, 250).map((g) => g.id)).toEqual(['a', 'b']);
    expect(crossedStretchGoals(goals, 150, 200).map((g) => g.id)).toEqual(['b']);
    expect(crossedStretchGoals(goals, 250, 100)).toEqual([]);
    expect(crossedStretchGoals(goals, 300, 400)).toEqual([]);
  });
});

describe('percentFunded', () => {
  it('floors, so 100% means the goal is really met', () => {
    expect(percentFunded(99_999, 100_000)).toBe(99);
    expect(percentFunded(100_000, 100_000)).toBe(100);
    expect(percentFunded(250_000, 100_000)).toBe(250);
  });
});

describe('computePayout', () => {
  it('pays the creator the net after commission and processing fees', () => {
    expect(computePayout({ captured: 100_000, refunded: 10_000, processingFees: 3_200, platformFeeBps: 600 })).toEqual({
      netCollected: 90_000,
      platformFee: 5_400,
      processingFees: 3_200,
      transfer: 81_400,
      reserve: 0,
      platformAbsorbs: 0,
    });
  });

  it('keeps the invariant captured - refunded = transfer + commission + fees - what the platform absorbs', () => {
    for (const [captured, refunded, fees, bps] of [
      [1_999, 0, 88, 600],
      [123_457, 3_333, 4_000, 500],
      [7, 0, 30, 800],
    ] as const) {
      const payout = computePayout({ captured, refunded, processingFees: fees, platformFeeBps: bps });
      expect(payout.transfer + payout.platformFee + payout.processingFees - payout.platformAbsorbs).toBe(captured - refunded);
      expect(payout.transfer).toBeGreaterThanOrEqual(0);
      expect(payout.platformAbsorbs).toBeGreaterThanOrEqual(0);
    }
  });

  it('refuses refunds beyond captures', () => {
    expect(() => computePayout({ captured: 10, refunded: 11, processingFees: 0, platformFeeBps: 600 })).toThrow(RangeError);
  });
});

describe('reversalForRefund', () => {
  it('takes back the creator’s share and gives up the commission on the refunded part', () => {
    const base = { captured: 100_000, refunded: 0, processingFees: 3_200, platformFeeBps: 600 };
    const paid = computePayout(base);
    const reversal = reversalForRefund({ ...base, refundAmount: 10_000, transferredNet: paid.transfer });
    expect(reversal).toEqual({ platformFeeReversal: 600, transferReversal: 9_400 });
    const after = computePayout({ ...base, refunded: 10_000 });
    // The invariant after the refund, with reversals netted.
    expect(paid.transfer - reversal.transferReversal + paid.platformFee - reversal.platformFeeReversal + after.processingFees).toBe(
      base.captured - 10_000,
    );
  });
});
