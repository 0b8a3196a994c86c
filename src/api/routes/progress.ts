/**
 * `GET /api/campaigns/:id/progress`: Server-Sent Events. One `progress` event on connect, one after every change
 * (fed by the process's ProgressHub), a heartbeat comment every 15 s; streams end when the server shuts down.
 * Streams are capped per client address and in total (SSE_MAX_CONNECTIONS*): beyond, 503 with Retry-After.
 */
import { Router } from 'express';
import { z } from 'zod';
import { progressSnapshot } from '../../progress/progress-hub';
import { ConnectionCaps } from '../connection-caps';
import { type ApiContext } from '../context';
import { DomainError, notFound } from '../../errors';

const params = z.object({ id: z.uuid() });
export const HEARTBEAT_MS = 15_000;
/** Streams are long: a refused client should not come straight back, but a slot may well be free within a minute. */
export const STREAMS_RETRY_AFTER_SECONDS = 30;

export function progressRoutes(context: ApiContext): Router {
  const router = Router();
  const caps = new ConnectionCaps({ total: context.config.http.sse.maxConnections, perAddress: context.config.http.sse.maxConnectionsPerIp });
  router.get('/:id/progress', async (req, res) => {
    const { id } = params.parse(req.params);
    const hub = context.progress;
    if (!hub) throw new DomainError('unavailable', 'progress_unavailable', 'Live progress is not running on this server');
    // Before any work, so that refusing costs nothing; the slot is given back however the response ends.
    const slot = caps.acquire(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    if ('refused' in slot) {
      const message =
        slot.refused === 'address' ? 'Too many live progress streams from your address; close one or try again later' : 'This server has no room for another live progress stream; try again later';
      throw new DomainError('unavailable', 'too_many_streams', message, { retryAfterSeconds: STREAMS_RETRY_AFTER_SECONDS });
    }
    let closed = false;
    res.on('close', () => {
      closed = true;
      slot.release();
    });
    const first = await progressSnapshot(context.database.db, id);
    if (!first || first.status === 'draft') throw notFound('Campaign');
    // The client left while the snapshot was read: nothing to subscribe for (its close has come and gone).
    if (closed) return;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (snapshot: unknown) => res.write(`event: progress\ndata: ${JSON.stringify(snapshot)}\n\n`);
    send(first);
    const unsubscribe = hub.subscribe(id, send, () => res.end());
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    res.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });
  return router;
}
