/**
 * Card testing bounded: placing a pledge and giving a pledge a new card are both a card put to Stripe, so both count
 * against one set of velocity limits per account, per client address and per card (src/abuse/velocity-limits.ts for
 * the numbers). The card is Stripe's fingerprint of its number, the same for every PaymentMethod made from it, so a
 * tester making a fresh PaymentMethod per guess is still one card; when Stripe gives no fingerprint, the
 * PaymentMethod id stands in.
 */
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type User, type VelocityOutcome } from '../../db/schema';
import { claimAttempt, recordOutcome, type VelocityRules, waitBeforeAttempt } from '../abuse/velocity';
import { CARD_ATTEMPT_WINDOW_MS, DECLINE_BLOCK_PERIOD_MS, DECLINES_BEFORE_BLOCK } from '../abuse/velocity-limits';
import { type Config } from '../config';
import { DomainError } from '../errors';

export type CardAction = 'pledge' | 'payment_method';

export interface CardAttempt {
  action: CardAction;
  backer: User;
  /** The client's address, when the request came through the API. */
  ip?: string | undefined;
  paymentMethodId: string;
}

/**
 * Claims a card attempt before Stripe is asked to charge, hold or save the card; throws `rate_limited` (429 with
 * Retry-After) when a limit is reached. The returned id is handed to `recordCardOutcome` once Stripe has answered.
 */
export async function claimCardAttempt(deps: { database: AppDatabase; stripe: Stripe; config: Config }, attempt: CardAttempt): Promise<number> {
  const rules = cardRules(deps.config);
  const ip = attempt.ip ?? null;
  // Account and address first, without asking Stripe: a blocked tester does not spend the platform's Stripe rate.
  const early = await waitBeforeAttempt(deps.database.db, { action: attempt.action, userId: attempt.backer.id, ip, card: null }, rules);
  if (early) throw tooManyAttempts(early.retryAfterSeconds, early.limit);
  const card = await cardKey(deps.stripe, attempt.paymentMethodId);
  const claim = await claimAttempt(deps.database, { action: attempt.action, userId: attempt.backer.id, ip, card }, rules);
  if ('retryAfterSeconds' in claim) throw tooManyAttempts(claim.retryAfterSeconds, claim.limit);
  return claim.attemptId;
}

export const recordCardOutcome = (database: AppDatabase, attemptId: number, outcome: Exclude<VelocityOutcome, 'pending'>) => recordOutcome(database, attemptId, outcome);

function cardRules(config: Config): VelocityRules {
  const limits = config.abuse;
  return {
    actions: ['pledge', 'payment_method'],
    windowMs: CARD_ATTEMPT_WINDOW_MS,
    perUser: limits.cardAttemptsPerUser,
    perIp: limits.cardAttemptsPerIp,
    perCard: limits.cardAttemptsPerCard,
    declineBlock: { declines: DECLINES_BEFORE_BLOCK, periodMs: DECLINE_BLOCK_PERIOD_MS },
  };
}

/** `fp:<fingerprint>`, or `pm:<id>` when Stripe has no card fingerprint for it or cannot be asked now. */
async function cardKey(stripe: Stripe, paymentMethodId: string): Promise<string> {
  try {
    const method = await stripe.paymentMethods.retrieve(paymentMethodId);
    if (method.card?.fingerprint) return `fp:${method.card.fingerprint}`;
  } catch {
    // An unknown id or Stripe unreachable: placement asks Stripe next and reports that properly.
  }
  return `pm:${paymentMethodId}`;
}

function tooManyAttempts(retryAfterSeconds: number, limit: string): DomainError {
  const message =
    limit === 'declines'
      ? 'Too many declined cards on this account; try again later or contact your bank'
      : 'Too many payment attempts; try again later';
  return new DomainError('rate_limited', limit === 'declines' ? 'too_many_declines' : 'too_many_payment_attempts', message, { retryAfterSeconds });
}
