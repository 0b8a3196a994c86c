/** Stripe's error shape and statuses, so the official SDK raises the same error classes it raises against Stripe. */
export type StripeErrorType = 'invalid_request_error' | 'card_error' | 'api_error' | 'idempotency_error' | 'rate_limit_error';

export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: StripeErrorType,
    message: string,
    readonly extra: { code?: string; decline_code?: string; param?: string; payment_intent?: unknown; setup_intent?: unknown } = {},
  ) {
    super(message);
  }

  toJSON() {
    return { error: { type: this.type, message: this.message, ...this.extra } };
  }
}

export const invalidRequest = (message: string, param?: string, code?: string) =>
  new StripeApiError(400, 'invalid_request_error', message, { ...(param ? { param } : {}), ...(code ? { code } : {}) });

export const missing = (kind: string, id: string, param = 'id') =>
  new StripeApiError(404, 'invalid_request_error', `No such ${kind}: '${id}'`, { code: 'resource_missing', param });

export const unexpectedState = (message: string, extra: { payment_intent?: unknown } = {}) =>
  new StripeApiError(400, 'invalid_request_error', message, { code: 'payment_intent_unexpected_state', ...extra });
