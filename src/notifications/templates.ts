/** The words of each notification. Payloads carry ids, amounts (decimal strings) and links; never card data. */
import { type NotificationTemplate } from './outbox';

type Payload = Record<string, unknown>;

const text = (value: unknown) => (value === undefined || value === null ? '' : String(value));
const money = (payload: Payload, field = 'amount') => `${text(payload[field])} ${text(payload.currency)}`.trim();

const templates: Record<NotificationTemplate, (p: Payload) => { subject: string; text: string }> = {
  pledge_receipt: (p) => ({
    subject: `Your pledge to ${text(p.campaignTitle)}`,
    text: `Thank you for pledging ${money(p)} to "${text(p.campaignTitle)}".`,
  }),
  pledge_changed: (p) => ({
    subject: `Your pledge to ${text(p.campaignTitle)} changed`,
    text: `Your pledge to "${text(p.campaignTitle)}" is now ${money(p)}.`,
  }),
  pledge_cancelled: (p) => ({
    subject: `Your pledge to ${text(p.campaignTitle)} was cancelled`,
    text: `Your pledge of ${money(p)} to "${text(p.campaignTitle)}" was cancelled.`,
  }),
  campaign_funded: (p) => ({
    subject: `${text(p.campaignTitle)} is funded`,
    text: `"${text(p.campaignTitle)}" reached its goal with ${money(p, 'raised')}. Pledges are being collected now.`,
  }),
  campaign_failed: (p) => ({
    subject: `${text(p.campaignTitle)} did not reach its goal`,
    text: `"${text(p.campaignTitle)}" did not reach its goal. Nobody is charged; card holds are released.`,
  }),
  campaign_cancelled: (p) => ({
    subject: `${text(p.campaignTitle)} was cancelled`,
    text: `"${text(p.campaignTitle)}" was cancelled (${text(p.reason)}). Holds are released and any payment is refunded.`,
  }),
  stretch_goal_unlocked: (p) => ({
    subject: `${text(p.campaignTitle)} unlocked "${text(p.stretchGoalTitle)}"`,
    text: `"${text(p.campaignTitle)}" passed ${money(p, 'targetAmount')} and unlocked "${text(p.stretchGoalTitle)}".`,
  }),
  payment_failed: (p) => ({
    subject: `Action needed: your payment for ${text(p.campaignTitle)} failed`,
    text:
      `We could not charge your card for ${money(p)} (${text(p.reason)}). ` +
      `Update your payment method by ${text(p.graceEndsAt)} to keep your pledge: ${text(p.fixUrl)}`,
  }),
  pledge_dropped: (p) => ({
    subject: `Your pledge to ${text(p.campaignTitle)} was dropped`,
    text: `We could not collect your pledge of ${money(p)} in time, so it was dropped. You have not been charged.`,
  }),
  refund_issued: (p) => ({
    subject: `Refund for your pledge to ${text(p.campaignTitle)}`,
    text: `We refunded ${money(p)} to your card. It can take 5-10 days to appear.`,
  }),
  payout_sent: (p) => ({
    subject: `Payout for ${text(p.campaignTitle)} sent`,
    text: `${money(p)} was transferred to your account for "${text(p.campaignTitle)}".`,
  }),
  connect_onboarding_reminder: (p) => ({
    subject: `Finish your payout setup for ${text(p.campaignTitle)}`,
    text: `Your campaign "${text(p.campaignTitle)}" has funds waiting. Finish setting up payouts: ${text(p.onboardingUrl)}`,
  }),
};

export function renderNotification(template: NotificationTemplate, payload: Payload): { subject: string; text: string } {
  return templates[template](payload);
}
