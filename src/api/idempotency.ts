/**
 * `Idempotency-Key` for the API's money endpoints, as Stripe does it: the first request with a key runs, and its
 * response is stored; the same key with the same body replays that response; with another body it is a 422; while
 * the first is still running, a 409. Responses of 5xx are not stored, so the client may retry with the same key.
 */
import { createHash } from 'node:crypto';
import { type RequestHandler } from 'express';
import { type ApiContext, requireUser } from './context';
import { badRequest, conflict, unprocessable } from './errors';

export function idempotent(context: ApiContext): RequestHandler {
  const db = context.database.db;
  return async (req, res, next) => {
    const user = requireUser(res);
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0 || key.length > 255) {
      throw badRequest('idempotency_key_required', 'Send an Idempotency-Key header (1-255 characters) with this request', [
        { path: 'Idempotency-Key', message: 'is required' },
      ]);
    }
    const hash = createHash('sha256').update(`${req.method} ${req.originalUrl} ${JSON.stringify(req.body ?? null)}`).digest('hex');
    const claimed = await db
      .insertInto('idempotency_keys')
      .values({ user_id: user.id, key, method: req.method, path: req.originalUrl, request_hash: hash })
      .onConflict((oc) => oc.columns(['user_id', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst();
    if (!claimed) {
      const earlier = await db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', user.id).where('key', '=', key).executeTakeFirstOrThrow();
      if (earlier.request_hash !== hash) throw unprocessable('idempotency_key_reused', 'This Idempotency-Key was used with a different request');
      if (earlier.response_status === null) throw conflict('request_in_progress', 'A request with this Idempotency-Key is still running');
      res.setHeader('Idempotent-Replayed', 'true');
      res.status(earlier.response_status).json(earlier.response_body);
      return;
    }
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      const status = res.statusCode;
      const store =
        status < 500
          ? db.updateTable('idempotency_keys').set({ response_status: status, response_body: JSON.stringify(body), completed_at: new Date() }).where('user_id', '=', user.id).where('key', '=', key)
          : db.deleteFrom('idempotency_keys').where('user_id', '=', user.id).where('key', '=', key);
      store.execute().then(
        () => json(body),
        (error: unknown) => next(error),
      );
      return res;
    };
    next();
  };
}
