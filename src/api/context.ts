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
import { type UpdateSendStarter } from '../updates/send-starter';
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
  /** Starts creator updates' sends (made on first use when absent; the server waits for its background starts on shutdown). */
  updateSends?: UpdateSendStarter;
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

/** The signed-in user, if any (with staff powers only past the second factor, as requireUser). */
export function optionalUser(res: Response): User | undefined {
  return (res.locals as Locals).session ? requireUser(res) : undefined;
}

export function requireSession(res: Response): Session {
  const session = (res.locals as Locals).session;
  if (!session) throw unauthenticated();
  return session;
}

/**
 * The signed-in user. A staff member whose session has not passed the second factor acts as a plain user here: the
 * staff powers of the shared routes (ops cancelling any campaign, reading any campaign's figures) need the second
 * factor just as the staff routes do.
 */
export function requireUser(res: Response): User {
  const { user, secondFactor } = requireSession(res);
  return user.role !== 'user' && !secondFactor ? { ...user, role: 'user' } : user;
}

/** The signed-in user, whose email address must be verified: for pledging, publishing and payouts. */
export function requireVerifiedUser(res: Response): User {
  const user = requireUser(res);
  if (user.email_verified_at === null) {
    throw new DomainError('forbidden', 'email_unverified', 'Confirm your email address first: open the link we mailed you (POST /api/me/verification-email sends a new one)');
  }
  return user;
}

/** requireVerifiedUser as a middleware, for a route whose next middleware (Idempotency-Key) must not run first. */
export const verifiedUserOnly: RequestHandler = (_req, res, next) => {
  requireVerifiedUser(res);
  next();
};

/** The signed-in user, who must hold one of `roles`; a staff role's session must have passed the second factor. */
export function requireRole(res: Response, ...roles: Role[]): User {
  const { user, secondFactor } = requireSession(res);
  if (!roles.includes(user.role)) throw forbidden();
  if (user.role !== 'user' && !secondFactor) {
    throw new DomainError('forbidden', 'second_factor_required', 'Staff endpoints need a sign-in with your authenticator code (or enrol one: POST /api/me/totp)');
  }
  return user;
}
