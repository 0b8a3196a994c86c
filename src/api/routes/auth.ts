import { Router } from 'express';
import { sql } from 'kysely';
import { z } from 'zod';
import { decoyPasswordHash, hashPassword, verifyPassword } from '../../auth/passwords';
import { claimLoginAttempt, markLoginSucceeded } from '../../auth/login-throttle';
import { claimSignup } from '../../auth/signup-throttle';
import { issueToken, revokeToken } from '../../auth/tokens';
import { text } from '../../campaigns/schemas';
import { type ApiContext, requireSession } from '../context';
import { conflict, DomainError } from '../../errors';
import { userView } from '../views';

export const email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email())
  .transform((value) => value.toLowerCase());

export const signupBody = z.strictObject({
  email,
  password: z.string().min(10, 'must be at least 10 characters').max(200),
  name: text().trim().min(1).max(200),
});

export const loginBody = z.strictObject({
  email,
  password: z.string().min(1).max(200),
});

const INVALID_LOGIN = 'Email or password is incorrect';

export function authRoutes(context: ApiContext): Router {
  const { database, config } = context;
  const db = database.db;
  const router = Router();

  router.post('/signup', async (req, res) => {
    const body = signupBody.parse(req.body);
    await claimSignup(database, config, req.ip);
    const passwordHash = await hashPassword(body.password);
    const user = await db
      .insertInto('users')
      .values({ email: body.email, name: body.name, password_hash: passwordHash })
      .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!user) throw conflict('email_taken', 'An account with this email already exists');
    const token = await issueToken(db, config.auth.secret, user.id, config.auth.tokenTtlMs);
    res.status(201).json({ user: userView(user), token });
  });

  router.post('/login', async (req, res) => {
    const body = loginBody.parse(req.body);
    const ip = req.ip ?? 'unknown';
    const claim = await claimLoginAttempt(database, body.email, ip);
    if ('retryAfterSeconds' in claim) {
      throw new DomainError('rate_limited', 'too_many_attempts', 'Too many failed sign-in attempts; try again later', { retryAfterSeconds: claim.retryAfterSeconds });
    }
    const user = await db.selectFrom('users').selectAll().where(sql<string>`lower(email)`, '=', body.email).executeTakeFirst();
    // Unknown email and wrong password take the same time and give the same answer.
    const valid = await verifyPassword(body.password, user?.password_hash ?? (await decoyPasswordHash()));
    if (!user || !valid) throw new DomainError('unauthenticated', 'invalid_credentials', INVALID_LOGIN);
    await markLoginSucceeded(database, claim.attemptId);
    const token = await issueToken(db, config.auth.secret, user.id, config.auth.tokenTtlMs);
    res.json({ user: userView(user), token });
  });

  router.post('/logout', async (_req, res) => {
    const session = requireSession(res);
    await revokeToken(db, session.tokenId);
    res.status(204).end();
  });

  return router;
}
