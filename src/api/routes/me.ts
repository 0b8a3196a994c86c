/**
 * The signed-in user's own resources: the Stripe Connect Express account that receives their payouts, and their
 * pledges.
 */
import { Router } from 'express';
import { startConnectOnboarding } from '../../connect/onboarding';
import { notFound } from '../../errors';
import { fromMinorUnits } from '../../money';
import { backerPledges } from '../../pledges/backer-pledges';
import { type ApiContext, requireStripe, requireUser } from '../context';

export function meRoutes(context: ApiContext): Router {
  const router = Router();

  /** Creates the Express account once (keyed by the user id), then a fresh onboarding link each time. */
  router.post('/connect', async (_req, res) => {
    const user = requireUser(res);
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

  return router;
}
