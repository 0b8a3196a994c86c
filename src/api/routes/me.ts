/**
 * The signed-in user's own resources: the Stripe Connect Express account that receives their payouts.
 */
import { Router } from 'express';
import { fromMinorUnits } from '../../money';
import { stripeKeys } from '../../payments/idempotency-keys';
import { type ApiContext, requireStripe, requireUser } from '../context';
import { notFound } from '../errors';

export function meRoutes(context: ApiContext): Router {
  const db = context.database.db;
  const router = Router();

  /** Creates the Express account once (keyed by the user id), then a fresh onboarding link each time. */
  router.post('/connect', async (_req, res) => {
    const user = requireUser(res);
    const stripe = requireStripe(context);
    let accountId = user.stripe_account_id;
    if (!accountId) {
      const account = await stripe.accounts.create(
        { type: 'express', email: user.email, capabilities: { transfers: { requested: true } }, metadata: { user_id: user.id } },
        { idempotencyKey: stripeKeys.connectAccount(user.id) },
      );
      // A concurrent request may have stored the same account first (same key, same account): keep it.
      await db.updateTable('users').set({ stripe_account_id: account.id, updated_at: new Date() }).where('id', '=', user.id).where('stripe_account_id', 'is', null).execute();
      accountId = account.id;
    }
    const publicUrl = context.config.http.publicUrl;
    const link = await stripe.accountLinks.create({
      account: accountId,
      type: 'account_onboarding',
      refresh_url: `${publicUrl}/me/connect/refresh`,
      return_url: `${publicUrl}/me/connect/done`,
    });
    res.status(201).json({ accountId, onboardingUrl: link.url });
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
    const rows = await db
      .selectFrom('pledges')
      .innerJoin('campaigns', 'campaigns.id', 'pledges.campaign_id')
      .select([
        'pledges.id',
        'pledges.status',
        'pledges.amount',
        'pledges.amount_refunded',
        'pledges.currency',
        'pledges.reward_id',
        'pledges.failure_code',
        'pledges.grace_ends_at',
        'pledges.created_at',
        'campaigns.id as campaign_id',
        'campaigns.title as campaign_title',
        'campaigns.slug as campaign_slug',
      ])
      .where('pledges.backer_id', '=', user.id)
      .orderBy('pledges.created_at', 'desc')
      .limit(500)
      .execute();
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
