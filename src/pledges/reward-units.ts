/**
 * A limited reward's units: claimed by a pledge (or a change waiting for 3-D Secure) and freed when it stops being
 * live, always inside the transaction that changes the pledge, so a rolled-back change gives its unit back.
 */
import { sql } from 'kysely';
import { type Tx } from '../../db/database';
import { conflict } from '../errors';

/** Claims one unit, or refuses (a conflict, `reward_sold_out`); one guarded UPDATE, so concurrent claims never oversell. */
export async function claimRewardUnit(trx: Tx, rewardId: string): Promise<void> {
  const claimed = await trx
    .updateTable('rewards')
    .set({ claimed_qty: sql`claimed_qty + 1` })
    .where('id', '=', rewardId)
    .where((eb) => eb.or([eb('limit_qty', 'is', null), eb('claimed_qty', '<', eb.ref('limit_qty'))]))
    .executeTakeFirst();
  if (claimed.numUpdatedRows === 0n) throw conflict('reward_sold_out', 'This reward is sold out');
}

export async function releaseRewardUnit(trx: Tx, rewardId: string): Promise<void> {
  await trx.updateTable('rewards').set({ claimed_qty: sql`claimed_qty - 1` }).where('id', '=', rewardId).execute();
}
