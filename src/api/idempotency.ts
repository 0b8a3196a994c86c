/**
 * `Idempotency-Key` for the API's money endpoints, as Stripe does it: the first request with a key runs, and its
 * response is stored; the same key with the same body replays that response; with another body it is a 422; while
 * the first is still running, a 409. Responses of 5xx and 429 are not stored, so the client may retry with the same key.
 *
 * A key must not say "still running" forever: an answer that could not be recorded (Postgres down) is still sent
 * and recorded once the database is back, and a key whose request died with its process (or whose claim's commit
 * went unanswered) is taken over by a retry once it is older than any request can run. Taking over is safe because
 * the handlers behind it are themselves idempotent (placement resumes a pending pledge with the same Stripe key).
 */
import { createHash } from 'node:crypto';
import { type RequestHandler } from 'express';
import { sql } from 'kysely';
import { isDatabaseUnavailable } from '../../db/database';
import { type Logger } from '../logger';
import { type ApiContext, requireUser } from './context';
import { DomainError, unprocessable } from '../errors';

/** Longer than a request can run: two Stripe calls of up to three 20 s attempts each, and the database work. */
export const IN_PROGRESS_LEASE_MS = 5 * 60_000;
/** How long an answer waits to be recorded while the database is down before it is left to the lease. */
const RECORD_RETRY_DELAYS_MS = [100, 200, 400, 800, ...Array<number>(60).fill(2_000)];

export function idempotent(context: ApiContext): RequestHandler {
  const db = context.database.db;
  return async (req, res, next) => {
    const user = requireUser(res);
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0 || key.length > 255) {
      throw new DomainError('invalid', 'idempotency_key_required', 'Send an Idempotency-Key header (1-255 characters) with this request', {
        fields: [{ path: 'Idempotency-Key', message: 'is required' }],
      });
    }
    const hash = createHash('sha256').update(`${req.method} ${req.originalUrl} ${JSON.stringify(req.body ?? null)}`).digest('hex');
    const claim = () =>
      db
        .insertInto('idempotency_keys')
        .values({ user_id: user.id, key, method: req.method, path: req.originalUrl, request_hash: hash })
        .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
        .returning('key')
        .executeTakeFirst();
    const inProgress = () => new DomainError('conflict', 'request_in_progress', 'A request with this Idempotency-Key is still running; try again shortly', { retryAfterSeconds: 1 });
    /** The key is taken: replays its answer (false), or claims it anew once its request gave it back or died (true). */
    const reclaim = async (): Promise<boolean> => {
      const earlier = await db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', user.id).where('key', '=', key).executeTakeFirst();
      if (!earlier) {
        // Gone since our claim: its request ended in a 5xx and gave the key back.
        if (await claim()) return true;
        throw inProgress();
      }
      if (earlier.request_hash !== hash) throw unprocessable('idempotency_key_reused', 'This Idempotency-Key was used with a different request');
      if (earlier.response_status !== null) {
        res.setHeader('Idempotent-Replayed', 'true');
        res.status(earlier.response_status).json(earlier.response_body);
        return false;
      }
      // A claim older than any request can run belongs to a request that died: expire it and claim the key afresh.
      const expired = await db
        .deleteFrom('idempotency_keys')
        .where('user_id', '=', user.id)
        .where('key', '=', key)
        .where('response_status', 'is', null)
        .where('created_at', '<', sql<Date>`now() - ${IN_PROGRESS_LEASE_MS} * interval '1 millisecond'`)
        .executeTakeFirst();
      if (expired.numDeletedRows === 0n || !(await claim())) throw inProgress();
      return true;
    };
    if (!(await claim()) && !(await reclaim())) return;

    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      const record = () =>
        // A 429 is given back like a 5xx: the request was not carried out, and a retry after Retry-After may be.
        (status < 500 && status !== 429
          ? db.updateTable('idempotency_keys').set({ response_status: status, response_body: JSON.stringify(body), completed_at: new Date() }).where('user_id', '=', user.id).where('key', '=', key)
          : db.deleteFrom('idempotency_keys').where('user_id', '=', user.id).where('key', '=', key).where('response_status', 'is', null)
        ).execute();
      record().then(
        () => json(body),
        (error: unknown) => {
          // The outcome happened whether or not the key learnt it: a 201 withheld would be a pledge the backer
          // never hears of. (Handing the error on would also reach this override again from the error handler.)
          recordLater(record, error, context.logger);
          json(body);
        },
      );
      return res;
    };
    next();
  };
}

function recordLater(record: () => Promise<unknown>, error: unknown, logger: Logger, attempt = 0): void {
  const delayMs = RECORD_RETRY_DELAYS_MS[attempt];
  if (!isDatabaseUnavailable(error) || delayMs === undefined) {
    logger.error({ err: error }, 'could not record the outcome of an Idempotency-Key; a retry takes the key over after the lease');
    return;
  }
  setTimeout(() => void record().catch((again: unknown) => recordLater(record, again, logger, attempt + 1)), delayMs).unref();
}
