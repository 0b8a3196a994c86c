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
  // A refund the bank returned after it was made (the card closed or expired): the money is back with the platform.
  refund_failed: (p) => ({
    subject: `Your refund for ${text(p.campaignTitle)} could not be completed`,
    text:
      `Your bank could not accept our refund of ${money(p)} for "${text(p.campaignTitle)}" (${text(p.reason)}), so the money ` +
      `came back to us. Our support team will contact you to return it another way.`,
  }),
  refund_failed_support: (p) => ({
    subject: `Refund failed: ${money(p)} for ${text(p.campaignTitle)}`,
    text:
      `Refund ${text(p.refundId)} of ${money(p)} for pledge ${text(p.pledgeId)} ("${text(p.campaignTitle)}") failed after it was made ` +
      `(${text(p.reason)}). The money is back with the platform and the backer was told; they need another way to be repaid.`,
  }),
  payout_sent: (p) => ({
    subject: `Payout for ${text(p.campaignTitle)} sent`,
    text: `${money(p)} was transferred to your account for "${text(p.campaignTitle)}".`,
  }),
  // To the campaign's creator and to each support staff member; `dueBy` is when Stripe needs the evidence.
  dispute_opened: (p) => ({
    subject: `A backer disputed a payment to ${text(p.campaignTitle)}`,
    text:
      `A payment of ${money(p)} to "${text(p.campaignTitle)}" was disputed with the card issuer (${text(p.reason)}). ` +
      `Stripe has withdrawn it until the dispute is decided. Evidence is due by ${text(p.dueBy)}.`,
  }),
  dispute_closed: (p) => ({
    subject: `The dispute of a payment to ${text(p.campaignTitle)} was ${text(p.status)}`,
    text: `The dispute of ${money(p)} to "${text(p.campaignTitle)}" is closed: ${text(p.status)}.`,
  }),
  // To each backer with a settled pledge for the survey's reward; `surveyUrl` opens their pledge's survey.
  survey_invitation: (p) => ({
    subject: `A survey from ${text(p.campaignTitle)}`,
    text:
      `"${text(p.campaignTitle)}" asks its backers${p.rewardTitle ? ` of "${text(p.rewardTitle)}"` : ''} a few questions ` +
      `(such as where to ship). Answer them here; you can change your answers until the creator locks the survey: ${text(p.surveyUrl)}`,
  }),
  survey_reminder: (p) => ({
    subject: `Reminder: ${text(p.campaignTitle)} is waiting for your survey answers`,
    text: `"${text(p.campaignTitle)}" still needs your answers to its survey to deliver what you backed: ${text(p.surveyUrl)}`,
  }),
  // A creator's update, to each backer: the markdown as the creator wrote it (text, never rendered), and the signed
  // link that stops this campaign's update mails.
  campaign_update: (p) => ({
    subject: `Update #${text(p.number)} from ${text(p.campaignTitle)}: ${text(p.title)}`,
    text:
      `Update #${text(p.number)} from "${text(p.campaignTitle)}"${p.audience === 'backers' ? ' (for backers only)' : ''}\n\n` +
      `${text(p.title)}\n\n${text(p.body)}\n\n--\nRead it online: ${text(p.updateUrl)}\n` +
      `You receive this because you backed "${text(p.campaignTitle)}". Stop mails about its updates: ${text(p.unsubscribeUrl)}`,
  }),
  // The link signs nobody in: the page asks the account's password first (src/auth/email-verification.ts).
  email_verification: (p) => ({
    subject: 'Confirm your email address',
    text:
      `Hello ${text(p.name)}, confirm this address for your Crowdfund account (you will be asked to sign in): ${text(p.verifyUrl)}\n` +
      `The link works once, until ${text(p.expiresAt)}. If you did not sign up, ignore this email: without it the account can do nothing.`,
  }),
  // A sign-up with the address of a verified account: only the owner learns of it, at most once a day.
  signup_existing_account: () => ({
    subject: 'Someone tried to sign up with your email address',
    text:
      'Someone, perhaps you, tried to create a Crowdfund account with this address, which already has one. ' +
      'If it was you, sign in instead; if you have forgotten your password, ask support to reset it. ' +
      'If it was not you, nothing was changed: no new account was made and your password still works.',
  }),
  connect_onboarding_reminder: (p) => ({
    subject: `Finish your payout setup for ${text(p.campaignTitle)}`,
    text: `Your campaign "${text(p.campaignTitle)}" has funds waiting. Finish setting up payouts: ${text(p.onboardingUrl)}`,
  }),
};

export function renderNotification(template: NotificationTemplate, payload: Payload): { subject: string; text: string } {
  return templates[template](payload);
}
