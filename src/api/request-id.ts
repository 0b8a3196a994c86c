/**
 * Every request gets an id, echoed as `X-Request-Id` on its answer and written with each staff action it causes
 * (src/audit/staff-audit.ts), so an audit entry leads to the proxy's and the app's logs of the same request. A
 * caller's (or proxy's) own id is kept when it is a sane token; anything else is replaced, never stored as sent.
 */
import { randomUUID } from 'node:crypto';
import { type RequestHandler, type Response } from 'express';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:@+=/-]{1,128}$/;

interface Locals {
  requestId?: string;
}

export function assignRequestId(): RequestHandler {
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    (res.locals as Locals).requestId = id;
    res.setHeader('X-Request-Id', id);
    next();
  };
}

/** This request's id (null only when the middleware was not mounted, as in a router tested alone). */
export function requestIdOf(res: Response): string | null {
  return (res.locals as Locals).requestId ?? null;
}
