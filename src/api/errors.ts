/**
 * The API's one error shape: `{ "error": { "code", "message", "fields"? } }`, and the only place that knows HTTP:
 * the domain throws a status-free DomainError (src/errors.ts) and this maps its kind to a status and its retry hint
 * to Retry-After. Bad input is a 4xx naming the field; anything unexpected is a 500 that says nothing about the
 * internals (the log has the details).
 */
import { type ErrorRequestHandler } from 'express';
import { ZodError } from 'zod';
import { isDatabaseUnavailable } from '../../db/database';
import { DomainError, type DomainErrorKind, type FieldError } from '../errors';
import { type Logger } from '../logger';

/** A database restart or failover is over in seconds; clients should come back soon, not hammer it. */
const DATABASE_RETRY_AFTER_SECONDS = 1;
const PAYMENT_PROVIDER_RETRY_AFTER_SECONDS = 1;

/** Each kind of refusal the domain throws, as the HTTP status the API answers it with. */
export const STATUS_OF_KIND: Readonly<Record<DomainErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  payment_declined: 402,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
  provider_unavailable: 503,
};

/**
 * Stripe could not be reached, failed on its side, or limited our rate (after the SDK's own retries): the request
 * may succeed later, so 503 rather than a 500 that blames us. By the SDK's `type`, which survives bundling.
 */
function isPaymentProviderUnavailable(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return type === 'StripeConnectionError' || type === 'StripeAPIError' || type === 'StripeRateLimitError';
}

export function zodFields(error: ZodError, prefix?: string): FieldError[] {
  const pathOf = (parts: PropertyKey[]) => [prefix, ...parts.map(String)].filter((part) => part !== undefined && part !== '').join('.') || '(body)';
  // A field the request may not carry is named itself, as Stripe names an unknown parameter.
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: pathOf([...issue.path, key]), message: 'is not a known field of this request' }))
      : [{ path: pathOf(issue.path), message: issue.message }],
  );
}

interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const send = (status: number, code: string, message: string, fields?: FieldError[]) =>
      res.status(status).json({ error: { code, message, ...(fields ? { fields } : {}) } });

    if (error instanceof DomainError) {
      const { retryAfterSeconds } = error.options;
      if (retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(retryAfterSeconds));
      send(STATUS_OF_KIND[error.kind], error.code, error.message, error.fields);
      return;
    }
    if (error instanceof ZodError) {
      const fields = zodFields(error);
      send(400, 'validation_failed', fields.map((field) => `${field.path}: ${field.message}`).join('; '), fields);
      return;
    }
    const parserError = error as BodyParserError;
    if (parserError?.type === 'entity.parse.failed') {
      send(400, 'invalid_json', 'The request body is not valid JSON');
      return;
    }
    if (parserError?.type === 'entity.too.large') {
      send(413, 'payload_too_large', 'The request body is too large');
      return;
    }
    if (typeof parserError?.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      send(parserError.status, 'bad_request', 'The request could not be read');
      return;
    }
    // A Stripe key reused with other parameters, or still in flight: the request clashes with an earlier one.
    if ((error as { type?: unknown } | null)?.type === 'StripeIdempotencyError') {
      logger.warn({ err: error, method: req.method, path: req.path }, 'Stripe idempotency conflict');
      send(409, 'payment_request_conflict', 'This payment request clashes with an earlier one still being processed or made differently; load the pledge and try again');
      return;
    }
    if (isPaymentProviderUnavailable(error)) {
      logger.warn({ err: error, method: req.method, path: req.path }, 'Stripe unavailable');
      res.setHeader('Retry-After', String(PAYMENT_PROVIDER_RETRY_AFTER_SECONDS));
      send(503, 'payment_provider_unavailable', 'The card network did not answer; try again shortly (with the same Idempotency-Key, if the request had one)');
      return;
    }
    if (isDatabaseUnavailable(error)) {
      logger.warn({ err: error, method: req.method, path: req.path }, 'database unavailable');
      res.setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
      send(503, 'database_unavailable', 'The service is briefly unavailable; try again shortly (with the same Idempotency-Key, if the request had one)');
      return;
    }
    // A MoneyError lands here too, on purpose: amounts from a request are parsed where their field is known (a 400
    // naming it), so one that reaches this handler came from our own numbers, and that is our fault, not the client's.
    logger.error({ err: error, method: req.method, path: req.path, requestId: res.getHeader('X-Request-Id') }, 'unhandled error');
    send(500, 'internal_error', 'Something went wrong on our side; it has been logged');
  };
}
