/**
 * The signed-in user's own resources: the Stripe Connect Express account that receives their payouts, their
 * pledges, the link that confirms their email address, and (staff) their TOTP second factor.
 */
import { type Response, Router } from 'express';
import { z } from 'zod';
import { staffActor } from '../../audit/staff-audit';
import { requestVerificationEmail } from '../../auth/email-verification';
import { confirmTotpEnrolment, startTotpEnrolment, TOTP_ALGORITHM, TOTP_DIGITS, TOTP_PERIOD_SECONDS } from '../../auth/totp';
import { startConnectOnboarding } from '../../connect/onboarding';
import { forbidden, notFound } from '../../errors';
import { fromMinorUnits } from '../../money';
import { backerPledges } from '../../pledges/backer-pledges';
import { type ApiContext, requireSession, requireStripe, requireUser, requireVerifiedUser } from '../context';
import { requestIdOf } from '../request-id';
import { totpCode } from './auth';

export const totpConfirmBody = z.strictObject({ code: totpCode });

/** A staff member's own session, second factor passed or not: enrolment is how a staff session gets one. */
function requireStaffSession(res: Response) {
  const session = requireSession(res);
  if (session.user.role === 'user') throw forbidden('Second factors are for staff accounts (support, ops)');
  return session;
}

export function meRoutes(context: ApiContext): Router {
  const router = Router();
  const { database, config } = context;

  /**
   * Creates the Express account once (keyed by the user id), then a fresh onboarding link each time. Verified
   * accounts only: an account squatted on someone else's address must not get a payout account of the squatter's.
   */
  router.post('/connect', async (_req, res) => {
    const user = requireVerifiedUser(res);
    const onboarding = await startConnectOnboarding({ database: context.database, stripe: requireStripe(context), publicUrl: context.config.http.publicUrl }, user);
    res.status(201).json({ accountId: onboarding.accountId, onboardingUrl: onboarding.onboardingUrl });
  });

  router.get('/connect', async (_req, res) => {
    const user = requireUser(res);
    if (!user.stripe_account_id) throw notFound('Connect account');
    res.json({
      accountId: user.stripe_account_id,
      chargesEnabled: user.charges_enabled,
      payoutsEnabled: user.payouts_enabled,
      detailsSubmitted: user.details_submitted,
    });
  });

  /** The caller's pledges, newest first, with their campaign. */
  router.get('/pledges', async (_req, res) => {
    const user = requireUser(res);
    const rows = await backerPledges(context.database.db, user.id);
    res.json({
      data: rows.map((row) => ({
        id: row.id,
        status: row.status,
        amount: fromMinorUnits(row.amount, row.currency),
        refunded: fromMinorUnits(row.amount_refunded, row.currency),
        currency: row.currency,
        reward: row.reward_id,
        failureCode: row.failure_code,
        graceEndsAt: row.grace_ends_at?.toISOString() ?? null,
        createdAt: row.created_at.toISOString(),
        campaign: { id: row.campaign_id, title: row.campaign_title, slug: row.campaign_slug },
      })),
    });
  });

  /** Another link to confirm the address (earlier ones stop working), a few an hour at most. */
  router.post('/verification-email', async (_req, res) => {
    const user = requireUser(res);
    await requestVerificationEmail(database, { secret: config.auth.secret, publicUrl: config.http.publicUrl }, user.id);
    res.status(202).json({ status: 'verification_sent' });
  });

  /** Starts TOTP enrolment: the secret and its otpauth:// URI, shown this once (staff only; not once enrolled). */
  router.post('/totp', async (_req, res) => {
    const { user } = requireStaffSession(res);
    const enrolment = await startTotpEnrolment(database, config.auth.secret, user);
    res.status(201).json({ ...enrolment, algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
  });

  /** Confirms enrolment with the app's first code; this session then counts as having passed the second factor. */
  router.post('/totp/confirm', async (req, res) => {
    const session = requireStaffSession(res);
    const { code } = totpConfirmBody.parse(req.body);
    await confirmTotpEnrolment(database, config.auth.secret, { userId: session.user.id, tokenId: session.tokenId }, code, {
      actor: staffActor(session.user),
      requestId: requestIdOf(res),
    });
    res.json({ enrolled: true, secondFactor: true });
  });

  return router;
}
