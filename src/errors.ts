/**
 * The one error the domain throws when a request cannot be carried out: what kind of refusal it is, a stable
 * machine-readable code, and the fields at fault. It knows nothing of HTTP: only src/api/errors.ts maps kinds to
 * statuses and headers, so the worker and the CLIs never load the HTTP layer.
 */
export type DomainErrorKind =
  | 'invalid' // the input is malformed or breaks a rule (a field names it)
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict' // the state of things forbids it now (closed, sold out, already done, in progress)
  | 'unprocessable' // well-formed, but not acceptable (below a minimum, above what is left)
  | 'payment_declined' // the card network said no
  | 'rate_limited' // too many attempts (sign-in): try again after the retry hint
  | 'unavailable' // this server cannot do it now (a part not configured or running, or not ready yet)
  | 'provider_unavailable'; // a dependency (Stripe) did not answer: try again later

export interface FieldError {
  path: string;
  message: string;
}

export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    message: string,
    readonly options: { fields?: FieldError[]; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  get fields(): FieldError[] | undefined {
    return this.options.fields;
  }
}

export const notFound = (what: string) => new DomainError('not_found', 'not_found', `${what} not found`);
export const unauthenticated = (message = 'Sign in to continue') => new DomainError('unauthenticated', 'unauthorized', message);
export const forbidden = (message = 'You are not allowed to do this') => new DomainError('forbidden', 'forbidden', message);
export const conflict = (code: string, message: string) => new DomainError('conflict', code, message);
export const unprocessable = (code: string, message: string, fields?: FieldError[]) => new DomainError('unprocessable', code, message, fields ? { fields } : {});

/** A field-level validation failure found after parsing (e.g. a rule that needs the database). */
export function invalidField(path: string, message: string): DomainError {
  return new DomainError('invalid', 'validation_failed', `${path}: ${message}`, { fields: [{ path, message }] });
}
