/**
 * How Stripe errors become activity outcomes. Card problems are the backer's to fix: non-retryable, with a type
 * the workflow branches on. Rate limits, 5xx and network errors are transient: rethrown so Temporal retries them
 * with back-off (the same idempotency key makes the retry safe). Invalid requests are bugs or impossible states:
 * non-retryable, so they surface to ops instead of looping.
 */
import { ApplicationFailure } from '@temporalio/common';
import Stripe from 'stripe';
import { CARD_ERROR, STRIPE_INVALID_REQUEST } from '../src/payments/failure-types';


export interface CardFailureDetails {
  code: string;
  declineCode?: string;
  message: string;
  paymentIntentId?: string;
}

export function cardFailure(details: CardFailureDetails): ApplicationFailure {
  return ApplicationFailure.create({ type: CARD_ERROR, message: details.message, nonRetryable: true, details: [details] });
}

export function toActivityFailure(error: unknown): unknown {
  if (error instanceof Stripe.errors.StripeCardError) {
    return cardFailure({
      code: error.code ?? 'card_declined',
      ...(error.decline_code ? { declineCode: error.decline_code } : {}),
      message: error.message,
      ...(error.payment_intent?.id ? { paymentIntentId: error.payment_intent.id } : {}),
    });
  }
  if (error instanceof Stripe.errors.StripeInvalidRequestError) {
    return ApplicationFailure.create({
      type: STRIPE_INVALID_REQUEST,
      message: `${error.code ?? 'invalid_request'}: ${error.message}`,
      nonRetryable: true,
      cause: error,
    });
  }
  return error;
}

/** Runs a Stripe call, translating its errors as above. */
export async function callStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toActivityFailure(error);
  }
}
