/** Activity failure types the workflows branch on (a plain module, so workflow code may import it). */
export const CARD_ERROR = 'CardError';
export const STRIPE_INVALID_REQUEST = 'StripeInvalidRequest';
/** Stripe refused a transfer for a reason that time or onboarding fixes; the payout waits and tries again. */
export const PAYOUT_NOT_READY = 'PayoutNotReady';
/** The pledge can no longer be captured (cancelled by its backer): settlement ends, collecting nothing. */
export const PLEDGE_NOT_CAPTURABLE = 'PledgeNotCapturable';
