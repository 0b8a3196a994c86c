/** The domain's errors carry no status: src/api/errors.ts alone turns each kind into an HTTP answer. */
import express from 'express';
import request from 'supertest';
import { errorHandler } from '../../src/api/errors';
import { DomainError, type DomainErrorKind } from '../../src/errors';
import { createLogger } from '../../src/logger';
import { MoneyError, toMinorUnits } from '../../src/money';

/** An app whose one route throws `error`, answered by the API's error handler. */
function throwing(error: unknown) {
  const app = express();
  app.get('/', () => {
    throw error;
  });
  app.use(errorHandler(createLogger('silent')));
  return app;
}

const statuses: [DomainErrorKind, number][] = [
  ['invalid', 400],
  ['unauthenticated', 401],
  ['payment_declined', 402],
  ['forbidden', 403],
  ['not_found', 404],
  ['conflict', 409],
  ['unprocessable', 422],
  ['rate_limited', 429],
  ['unavailable', 503],
  ['provider_unavailable', 503],
];

describe('DomainError to HTTP', () => {
  it.each(statuses)('answers kind %s with %i, its code, message and fields', async (kind, status) => {
    const fields = [{ path: 'amount', message: 'must be at least 1.00 USD' }];
    const response = await request(throwing(new DomainError(kind, `code_of_${kind}`, 'what went wrong', { fields }))).get('/');
    expect(response.status).toBe(status);
    expect(response.body).toEqual({ error: { code: `code_of_${kind}`, message: 'what went wrong', fields } });
    expect(response.headers['retry-after']).toBeUndefined();
  });

  it('sends the retry hint as Retry-After, and no fields when there are none', async () => {
    const response = await request(throwing(new DomainError('provider_unavailable', 'payment_provider_unavailable', 'try again', { retryAfterSeconds: 7 }))).get('/');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('7');
    expect(response.body).toEqual({ error: { code: 'payment_provider_unavailable', message: 'try again' } });
  });

  it('answers a MoneyError that reached it with a 500: request amounts are turned into a field error where parsed', async () => {
    const error = (() => {
      try {
        return toMinorUnits('1.999', 'USD');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(MoneyError);
    const response = await request(throwing(error)).get('/');
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ error: { code: 'internal_error', message: 'Something went wrong on our side; it has been logged' } });
  });
});
