/**
 * The platform's commission on a campaign: PLATFORM_FEE_BPS when it is created, changed afterwards by ops only, and
 * only until settlement starts (the payout reads it then). The change and its audit entry, with the old and new
 * rates, commit together.
 */
import { type AppDatabase } from '../../db/database';
import { type CampaignStatus } from '../../db/schema';
import { type AuditContext, recordStaffAction } from '../audit/staff-audit';
import { conflict, notFound } from '../errors';

/** Before settlement: the deadline not yet passed and the workflow not yet settling. */
const OVERRIDABLE: CampaignStatus[] = ['draft', 'scheduled', 'active'];

export async function overrideCommission(
  database: AppDatabase,
  input: { campaignId: string; platformFeeBps: number; audit: AuditContext },
): Promise<{ from: number; to: number }> {
  return database.transaction(async (trx) => {
    // Locked: the workflow's move to `settling` waits for this change, or this change sees it.
    const campaign = await trx.selectFrom('campaigns').select(['id', 'status', 'ends_at', 'platform_fee_bps']).where('id', '=', input.campaignId).forUpdate().executeTakeFirst();
    if (!campaign) throw notFound('Campaign');
    if (!OVERRIDABLE.includes(campaign.status) || campaign.ends_at.getTime() <= Date.now()) {
      throw conflict('commission_locked', `The commission can no longer change: the campaign is ${campaign.status === 'active' ? 'past its deadline' : campaign.status}`);
    }
    const from = campaign.platform_fee_bps;
    if (from === input.platformFeeBps) return { from, to: from };
    await trx.updateTable('campaigns').set({ platform_fee_bps: input.platformFeeBps, updated_at: new Date() }).where('id', '=', campaign.id).execute();
    await recordStaffAction(trx, input.audit, {
      action: 'commission.overridden',
      objectType: 'campaign',
      objectId: campaign.id,
      details: { from, to: input.platformFeeBps, status: campaign.status },
    });
    return { from, to: input.platformFeeBps };
  });
}
