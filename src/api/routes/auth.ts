import { Router } from 'express';
import { sql } from 'kysely';
import { z } from 'zod';
import { verifyEmail } from '../../auth/email-verification';
import { decoyPasswordHash, verifyPassword } from '../../auth/passwords';
import { claimLoginAttempt, markLoginSucceeded } from '../../auth/login-throttle';
import { signUp } from '../../auth/signup';
import { claimSignup } from '../../auth/signup-throttle';
import { issueToken, revokeToken } from '../../auth/tokens';
import { hasTotpFactor, useTotpCode } from '../../auth/totp';
import { text } from '../../campaigns/schemas';
import { type ApiContext, requireSession } from '../context';
import { DomainError } from '../../errors';
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

/** A code from an authenticator app (RFC 6238: six digits). */
export const totpCode = z.string().regex(/^[0-9]{6}$/, 'must be the 6-digit code of your authenticator app');

export const loginBody = z.strictObject({
  email,
  password: z.string().min(1).max(200),
  /** Required once the account has enrolled a second factor (staff). */
  totp: totpCode.optional(),
});

export const verifyEmailBody = z.strictObject({
  token: z.string().regex(/^[A-Za-z0-9_-]{20,200}$/, 'must be the token of the link we mailed you'),
});

const INVALID_LOGIN = 'Email or password is incorrect';
/** What every accepted sign-up is told, whatever happened to the address. */
const SIGNUP_ANSWER = { status: 'verification_sent', message: 'If this address can be used, an email is on its way to it: follow it to continue' } as const;

export function authRoutes(context: ApiContext): Router {
  const { database, config } = context;
  const db = database.db;
  const linkSettings = { secret: config.auth.secret, publicUrl: config.http.publicUrl };
  const router = Router();

  /**
   * The same answer, after the same work, whether or not the address has an account (src/auth/signup.ts): what
   * differs is mailed to the address. No token: the new account signs in (and confirms its address) as any other.
   */
  router.post('/signup', async (req, res) => {
    const body = signupBody.parse(req.body);
    await claimSignup(database, config, req.ip);
    await signUp(database, linkSettings, body);
    res.status(202).json(SIGNUP_ANSWER);
  });

  /** Uses a link mailed to the signed-in account (the session proves the password, the link the mailbox). */
  router.post('/verify-email', async (req, res) => {
    const session = requireSession(res);
    const { token } = verifyEmailBody.parse(req.body);
    const { verifiedAt } = await verifyEmail(database, config.auth.secret, session.user.id, token);
    res.json({ emailVerified: true, verifiedAt: verifiedAt.toISOString() });
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
    // With a second factor enrolled the password alone is not a sign-in: the attempt stays counted as failed
    // (so codes cannot be guessed past the sign-in limits) unless a current, unused code comes with it.
    const secondFactor = await hasTotpFactor(db, user.id);
    if (secondFactor) {
      if (body.totp === undefined) throw new DomainError('unauthenticated', 'totp_required', 'This account needs the code of its authenticator app: send it as totp');
      if (!(await useTotpCode(db, config.auth.secret, user.id, body.totp))) throw new DomainError('unauthenticated', 'invalid_totp', 'The authenticator code is wrong, or was already used');
    }
    await markLoginSucceeded(database, claim.attemptId);
    const token = await issueToken(db, config.auth.secret, user.id, config.auth.tokenTtlMs, { secondFactor });
    res.json({ user: { ...userView(user), emailVerified: user.email_verified_at !== null }, token, secondFactor });
  });

  router.post('/logout', async (_req, res) => {
    const session = requireSession(res);
    await revokeToken(db, session.tokenId);
    res.status(204).end();
  });

  return router;
}
