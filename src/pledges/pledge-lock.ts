/**
 * The lock every pledge write takes before deciding anything: the campaign row FOR SHARE (closing pledging UPDATEs
 * that row and then tallies, so it waits for us and we see it once it committed), then the pledge row FOR UPDATE.
 * Placement takes the same campaign lock; the pledge row read under both is the one truth the tally and settlement
 * act on.
 */
import { type Tx } from '../../db/database';
import { type Campaign, type Pledge } from '../../db/schema';
import { conflict } from '../errors';

export interface LockedPledge {
  campaign: Campaign;
  pledge: Pledge;
  /** The campaign still takes pledge changes: active and before its deadline. */
  pledgingOpen: boolean;
}

/** SQLSTATE of a NOWAIT lock that another transaction holds. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Locks `pledge` under its campaign. With `noWait`, a pledge another request is changing right now (its Stripe
 * call in flight) is a conflict rather than a wait: of concurrent changes one wins and the others are told so.
 */
export async function lockPledge(trx: Tx, pledge: { id: string; campaign_id: string }, options: { noWait?: boolean } = {}): Promise<LockedPledge> {
  const campaign = await trx.selectFrom('campaigns').selectAll().where('id', '=', pledge.campaign_id).forShare().executeTakeFirstOrThrow();
  const query = trx.selectFrom('pledges').selectAll().where('id', '=', pledge.id).forUpdate();
  let locked: Pledge;
  try {
    locked = await (options.noWait ? query.noWait() : query).executeTakeFirstOrThrow();
  } catch (error) {
    if ((error as { code?: unknown }).code === LOCK_NOT_AVAILABLE) throw conflict('pledge_change_in_progress', 'This pledge is being changed by another request; load it and try again');
    throw error;
  }
  return { campaign, pledge: locked, pledgingOpen: campaign.status === 'active' && campaign.ends_at.getTime() > Date.now() };
}

export const pledgingClosed = (action: 'cancelled' | 'changed') => conflict('pledging_closed', `Pledges can only be ${action} while the campaign takes pledges`);
