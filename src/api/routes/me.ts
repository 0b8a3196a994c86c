/**
 * The signed-in user's own resources: the Stripe Connect Express account that receives their payouts.
 */
import { Router } from 'express';
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

  return router;
}
