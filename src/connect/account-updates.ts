/**
 * Keeps a creator's Connect flags true to Stripe (from `account.updated`), and wakes the payouts that were waiting
 * for the account to be able to receive transfers.
 */
import type Stripe from 'stripe';
import { type Db } from '../../db/database';

/** Copies Stripe's view of the account onto its owner; returns the owner's id, if the account is known. */
export async function saveAccountFlags(db: Db, account: Stripe.Account): Promise<string | undefined> {
  const user = await db
    .updateTable('users')
    .set({
      charges_enabled: account.charges_enabled,
      payouts_enabled: account.payouts_enabled,
      details_submitted: account.details_submitted,
      updated_at: new Date(),
    })
    .where('stripe_account_id', '=', account.id)
    .returning('id')
    .executeTakeFirst();
  return user?.id;
}

/** Updates the owner's flags; returns the ids of the owner's funded campaigns still waiting to be paid out. */
export async function applyAccountUpdate(db: Db, account: Stripe.Account): Promise<string[]> {
  const userId = await saveAccountFlags(db, account);
  if (!userId || !account.payouts_enabled) return [];
  const waiting = await db
    .selectFrom('campaigns')
    .select('id')
    .where('creator_id', '=', userId)
    .where('status', '=', 'funded')
    .where('paid_out_at', 'is', null)
    .execute();
  return waiting.map((campaign) => campaign.id);
}
