/** The reserve against chargebacks: its configuration and its arithmetic (src/rules/payout.ts, dispute-recovery.ts). */
import { ConfigError, loadConfig } from '../../src/config';
import { recoveryForLostDispute } from '../../src/rules/dispute-recovery';
import { computePayout, payoutReserve } from '../../src/rules/payout';
import { campaignSettings } from '../../src/temporal/campaign-settings';

const DAY = 86_400_000;

describe('PAYOUT_RESERVE_PERCENT and PAYOUT_RESERVE_DAYS', () => {
  it('default to no reserve, held 180 days if one is set', () => {
    const config = loadConfig({});
    expect(config.campaigns).toMatchObject({ payoutReserveBps: 0, payoutReservePeriodMs: 180 * DAY });
    expect(campaignSettings(config)).not.toHaveProperty('payoutReserve');
  });

  it.each([
    ['5', 500],
    ['7.5', 750],
    ['2.25', 225],
    ['50', 5_000],
    ['0', 0],
  ])('take %s percent as %i basis points', (percent, bps) => {
    expect(loadConfig({ PAYOUT_RESERVE_PERCENT: percent }).campaigns.payoutReserveBps).toBe(bps);
  });

  it.each(['51', '5.125', '-1', 'five', '5%'])('refuse %s', (percent) => {
    expect(() => loadConfig({ PAYOUT_RESERVE_PERCENT: percent })).toThrow(ConfigError);
  });

  it('count a bare number as days, and take a duration as one', () => {
    expect(loadConfig({ PAYOUT_RESERVE_DAYS: '180' }).campaigns.payoutReservePeriodMs).toBe(180 * DAY);
    expect(loadConfig({ PAYOUT_RESERVE_DAYS: '10m' }).campaigns.payoutReservePeriodMs).toBe(600_000);
    expect(() => loadConfig({ PAYOUT_RESERVE_DAYS: 'soon' })).toThrow(ConfigError);
  });

  it('are fixed in the campaign settings when a reserve is configured', () => {
    expect(campaignSettings(loadConfig({ PAYOUT_RESERVE_PERCENT: '5', PAYOUT_RESERVE_DAYS: '30' })).payoutReserve).toEqual({ bps: 500, periodMs: 30 * DAY });
  });
});

describe('the reserve in the payout', () => {
  const campaign = { captured: 30_000, refunded: 0, processingFees: 930, platformFeeBps: 600 };
  const owed = 30_000 - 1_800 - 930;

  it('is held back from the transfer, rounded down once, and the rest is what it was', () => {
    expect(computePayout({ ...campaign, reserveBps: 1_000 })).toEqual({ ...computePayout(campaign), transfer: owed - 2_727, reserve: 2_727 });
    expect(computePayout({ ...campaign, reserveBps: 0 })).toEqual(computePayout(campaign));
    expect(payoutReserve(1, 5_000)).toBe(0);
    expect(payoutReserve(2 ** 53 - 1, 5_000)).toBe(Math.floor((2 ** 53 - 1) / 2));
    expect(() => payoutReserve(100, 5_001)).toThrow(RangeError);
  });

  it('covers a dispute lost after the payout first; a reversal takes only the rest', () => {
    const lost = { lost: { amount: 10_000, fee: 1_500 }, transferredNet: owed - 2_727 };
    const share = 10_000 - 600 + 1_500;
    expect(recoveryForLostDispute({ ...campaign, ...lost, reserveHeld: 20_000 })).toEqual({ reserveDrawn: share, transferReversal: 0, platformFeeReversal: 600 });
    expect(recoveryForLostDispute({ ...campaign, ...lost, reserveHeld: 2_727 })).toEqual({ reserveDrawn: 2_727, transferReversal: share - 2_727, platformFeeReversal: 600 });
    // The share does not depend on the reserve percent the payout was made with.
    expect(recoveryForLostDispute({ ...campaign, reserveBps: 5_000, ...lost })).toEqual({ reserveDrawn: 0, transferReversal: share, platformFeeReversal: 600 });
  });
});
