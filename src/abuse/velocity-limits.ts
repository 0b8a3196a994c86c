/**
 * The numbers behind the velocity limits (src/abuse/velocity.ts), each with its reason. The per-hour ceilings are
 * weights, not counts: a decline (or an attempt Stripe has not answered yet) weighs 3, a success 1, so a card tester
 * (mostly declines) meets a ceiling three times sooner than the same number of real pledges would. Each ceiling can
 * be raised through the environment (src/config.ts) for a deployment whose backers share addresses heavily.
 */

/** Pledge placements and card changes are counted over the last hour: a card-testing run lasts minutes, a backer's session less. */
export const CARD_ATTEMPT_WINDOW_MS = 60 * 60 * 1000;

export const DECLINE_WEIGHT = 3;
export const SUCCESS_WEIGHT = 1;

/**
 * One account: 30 = ten declines, or thirty pledges, an hour. A backer backs a handful of campaigns in a sitting and
 * a card is declined for them once or twice; thirty pledges an hour from one account is a script.
 */
export const DEFAULT_CARD_ATTEMPTS_PER_USER = 30;

/**
 * One client address: 60 = twenty declines, or sixty pledges, an hour. Higher than one account's, because offices,
 * campuses and carrier NAT put many backers behind one address; low enough that rotating fresh accounts from one
 * address reaches Stripe at most twenty times an hour with declined cards.
 */
export const DEFAULT_CARD_ATTEMPTS_PER_IP = 60;

/**
 * One card (Stripe's fingerprint, whoever uses it): 30 = ten declines, or thirty pledges, an hour. Guessing a stolen
 * card's expiry or CVC is many declines of one card, from many accounts and addresses; its owner pledges a few times.
 */
export const DEFAULT_CARD_ATTEMPTS_PER_CARD = 30;

/**
 * An account whose cards were declined 5 times within a day may not place pledges or change cards until the oldest
 * of those declines is a day old. A real backer gives up or calls their bank after two or three; five is a pattern.
 */
export const DECLINES_BEFORE_BLOCK = 5;
export const DECLINE_BLOCK_PERIOD_MS = 24 * 60 * 60 * 1000;

/** Sign-ups are counted per client address over the last hour. */
export const SIGNUP_WINDOW_MS = 60 * 60 * 1000;

/**
 * 10 sign-ups an hour from one address: a household or a small office signs up a few people; more is account
 * farming (fresh accounts to rotate through the per-account limits), and each sign-up costs a 32 MiB scrypt hash.
 */
export const DEFAULT_SIGNUPS_PER_IP = 10;
