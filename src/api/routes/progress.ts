/**
 * `GET /api/campaigns/:id/progress`: Server-Sent Events. One `progress` event on connect, one after every change
 * (fed by the process's ProgressHub), a heartbeat comment every 15 s; streams end when the server shuts down.
 */
import { Router } from 'express';
import { z } from 'zod';
import { progressSnapshot } from '../../progress/progress-hub';
import { type ApiContext } from '../context';
import { DomainError, notFound } from '../../errors';

const params = z.object({ id: z.uuid() });
export const HEARTBEAT_MS = 15_000;

export function progressRoutes(context: ApiContext): Router {
  const router = Router();
  router.get('/:id/progress', async (req, res) => {
    const { id } = params.parse(req.params);
    const hub = context.progress;
    if (!hub) throw new DomainError('unavailable', 'progress_unavailable', 'Live progress is not running on this server');
    const first = await progressSnapshot(context.database.db, id);
    if (!first || first.status === 'draft') throw notFound('Campaign');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (snapshot: unknown) => res.write(`event: progress\ndata: ${JSON.stringify(snapshot)}\n\n`);
    send(first);
    const unsubscribe = hub.subscribe(id, send, () => res.end());
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    req.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });
  return router;
}
