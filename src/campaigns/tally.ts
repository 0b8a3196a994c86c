/**
 * What a campaign has raised: the pledges that count (authorized or captured), read through the partial index
 * `pledges_live_idx`. The deadline tally of the workflow and the campaign pages use this one query.
 */
import { sql } from 'kysely';
import { type Db, type Tx } from '../../db/database';
import { COUNTED_PLEDGE_STATUSES } from '../../db/schema';

export interface Tally {
  totalPledged: number;
  backers: number;
}

export async function tallyPledges(db: Db | Tx, campaignId: string): Promise<Tally> {
  const row = await db
    .selectFrom('pledges')
    .select((eb) => [eb.fn.coalesce(eb.fn.sum<number>('amount'), sql<number>`0`).as('total'), eb.fn.countAll<number>().as('backers')])
    .where('campaign_id', '=', campaignId)
    .where('status', 'in', COUNTED_PLEDGE_STATUSES)
    .executeTakeFirstOrThrow();
  return { totalPledged: Number(row.total), backers: Number(row.backers) };
}
