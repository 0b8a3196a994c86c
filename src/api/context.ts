/**
 * What every route needs, passed explicitly to the router factories (no globals), and the per-request
 * session that the authenticate middleware attaches to `res.locals`.
 */
import { type RequestHandler, type Response } from 'express';
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type Role, type User } from '../../db/schema';
import { findSession, type Session } from '../auth/tokens';
import { type Config } from '../config';
import { type ProgressHub } from '../progress/progress-hub';
import { type ReconciliationJobs } from '../reconciliation/reconciliation-jobs';
import { type CampaignWorkflows } from '../temporal/campaign-workflows';
import { type Logger } from '../logger';
import { DomainError, forbidden, unauthenticated } from '../errors';

export interface ApiContext {
  config: Config;
  database: AppDatabase;
  logger: Logger;
  /** Absent when the API runs without Temporal (some tests): workflow endpoints then answer 503. */
  campaignWorkflows?: CampaignWorkflows;
  /** Absent when the API runs without Stripe (some tests): payment endpoints then answer 503. */
  stripe?: Stripe;
  /** Live progress fan-out (one LISTEN connection per process); the SSE endpoint answers 503 without it. */
  progress?: ProgressHub;
  /** Reconciliations run in the background (made on first use when absent; the server stops it on shutdown). */
  reconciliationJobs?: ReconciliationJobs;
}

export function requireStripe(context: ApiContext): Stripe {
  if (!context.stripe) throw new DomainError('unavailable', 'payments_unavailable', 'Payments are not configured on this server');
  return context.stripe;
}

export function requireWorkflows(context: ApiContext): CampaignWorkflows {
  if (!context.campaignWorkflows) throw new DomainError('unavailable', 'workflows_unavailable', 'Campaign workflows are not configured on this server');
  return context.campaignWorkflows;
}

interface Locals {
  session?: Session;
}

/** Reads `Authorization: Bearer <token>`; a present but invalid token is a 401, an absent one is anonymous. */
export function authenticate(context: ApiContext): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) return next();
    const match = /^Bearer ([A-Za-z0-9_-]{20,200})$/.exec(header);
    if (!match) throw unauthenticated('The Authorization header must be "Bearer <token>"');
    const session = await findSession(context.database.db, context.config.auth.secret, match[1] as string);
    if (!session) throw unauthenticated('The token is invalid, expired or revoked');
    (res.locals as Locals).session = session;
    next();
  };
}

export function optionalUser(res: Response): User | undefined {
  return (res.locals as Locals).session?.user;
}

export function requireSession(res: Response): Session {
  const session = (res.locals as Locals).session;
  if (!session) throw unauthenticated();
  return session;
}

export function requireUser(res: Response): User {
  return requireSession(res).user;
}

/** The signed-in user, who must hold one of `roles`. */
export function requireRole(res: Response, ...roles: Role[]): User {
  const user = requireUser(res);
  if (!roles.includes(user.role)) throw forbidden();
  return user;
}
