/**
 * A creator's way into Stripe Connect: their Express account, created once (keyed by the user id), and a fresh
 * onboarding link each time they ask, since Stripe's links are single-use and short-lived.
 */
import type Stripe from 'stripe';
import { type AppDatabase } from '../../db/database';
import { type User } from '../../db/schema';
import { stripeKeys } from '../payments/idempotency-keys';

export async function startConnectOnboarding(
  deps: { database: AppDatabase; stripe: Stripe; publicUrl: string },
  user: User,
): Promise<{ accountId: string; onboardingUrl: string }> {
  const { stripe, publicUrl } = deps;
  let accountId = user.stripe_account_id;
  if (!accountId) {
    const account = await stripe.accounts.create(
      { type: 'express', email: user.email, capabilities: { transfers: { requested: true } }, metadata: { user_id: user.id } },
      { idempotencyKey: stripeKeys.connectAccount(user.id) },
    );
    // A concurrent request may have stored the same account first (same key, same account): keep it.
    await deps.database.db.updateTable('users').set({ stripe_account_id: account.id, updated_at: new Date() }).where('id', '=', user.id).where('stripe_account_id', 'is', null).execute();
    accountId = account.id;
  }
  const link = await stripe.accountLinks.create({
    account: accountId,
    type: 'account_onboarding',
    refresh_url: `${publicUrl}/me/connect/refresh`,
    return_url: `${publicUrl}/me/connect/done`,
  });
  return { accountId, onboardingUrl: link.url };
}
