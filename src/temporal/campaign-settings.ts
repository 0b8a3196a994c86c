import { type CampaignSettings } from '../../workflows/messages';
import { type Config } from '../config';

/** The rules a campaign is published under, taken from configuration once and kept by its workflow. */
export function campaignSettings(config: Config): CampaignSettings {
  return {
    graceWindowMs: config.campaigns.graceWindowMs,
    payoutDelayMs: config.campaigns.payoutDelayMs,
    refundWindowMs: config.campaigns.refundWindowMs,
    settlementWindowSize: config.temporal.settlementWindowSize,
    settlementPageSize: config.temporal.settlementPageSize,
    stripeTaskQueue: config.temporal.stripeTaskQueue,
    onboardingReminderIntervalMs: config.campaigns.onboardingReminderIntervalMs,
    fundsRetryIntervalMs: config.campaigns.fundsRetryIntervalMs,
    stuckRetryIntervalMs: config.campaigns.stuckRetryIntervalMs,
    // No reserve configured: the field stays absent, as in campaigns published before it existed.
    ...(config.campaigns.payoutReserveBps > 0
      ? { payoutReserve: { bps: config.campaigns.payoutReserveBps, periodMs: config.campaigns.payoutReservePeriodMs } }
      : {}),
  };
}
