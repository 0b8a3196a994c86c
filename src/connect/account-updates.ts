/**
 * Keeps a creator's Connect flags true to Stripe (from `account.updated`), and wakes the payouts that were waiting
 * for the account to be able to receive transfers.
 *
 * `account.updated` is a prompt to look, not the state to copy. Stripe delivers events late, twice and in any order,
 * and each carries the account as it was when the event was created, so copying it lets an older event (payouts not
 * yet enabled) undo a newer one, or re-enable payouts Stripe has since paused. The flags are read from Stripe
 * instead, under a lock on the owner's row, so whichever delivery writes last also read last. Comparing the event's
 * `created` with a stored timestamp was the alternative: it has one-second resolution, so two changes within a
 * second could not be ordered, and the payout activity's own reads of the account carry no event time at all.
 */
import type Stripe from 'stripe';
import { type AppDatabase, type Db, type Tx } from '../../db/database';

/** Copies Stripe's view of the account onto its owner; returns the owner's id, if the account is known. */
export async function saveAccountFlags(db: Db | Tx, account: Stripe.Account): Promise<string | undefined> {
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

/** Refreshes the owner's flags from Stripe; returns the ids of the owner's funded campaigns still waiting to be paid out. */
export async function applyAccountUpdate(deps: { database: AppDatabase; stripe: Stripe }, accountId: string): Promise<string[]> {
  const owner = await deps.database.transaction(async (trx) => {
    const user = await trx.selectFrom('users').select('id').where('stripe_account_id', '=', accountId).forUpdate().executeTakeFirst();
    // Not one of our creators' accounts: nothing to keep true, and no reason to ask Stripe.
    if (!user) return undefined;
    const account = await deps.stripe.accounts.retrieve(accountId);
    await saveAccountFlags(trx, account);
    return { id: user.id, payoutsEnabled: account.payouts_enabled };
  });
  if (!owner?.payoutsEnabled) return [];
  const waiting = await deps.database.db
    .selectFrom('campaigns')
    .select('id')
    .where('creator_id', '=', owner.id)
    .where('status', '=', 'funded')
    .where('paid_out_at', 'is', null)
    .execute();
  return waiting.map((campaign) => campaign.id);
}
