/**
 * Database activities of the campaign workflow. Each is idempotent: a transition is a conditional update from the
 * state it leaves, and notifications carry dedupe keys, so a retried activity changes nothing twice.
 */
import { COUNTED_PLEDGE_STATUSES, type CampaignStatus, type FinancingModel } from '../db/schema';
import { type Tally, tallyPledges } from '../src/campaigns/tally';
import { fromMinorUnits } from '../src/money';
import { enqueueNotifications, type NotificationTemplate } from '../src/notifications/outbox';
import { type Outcome, settlementAction, type SettlementAction } from '../src/rules/outcome';
import { type ActivityDeps } from './deps';

export interface CampaignSnapshot {
  id: string;
  title: string;
  creatorId: string;
  model: FinancingModel;
  status: CampaignStatus;
  goalAmount: number;
  currency: string;
  platformFeeBps: number;
  startsAt: string;
  endsAt: string;
}

export interface PledgeToSettle {
  pledgeId: string;
  action: Exclude<SettlementAction, 'none'>;
}

const OUTCOME_TEMPLATES: Record<Outcome, NotificationTemplate> = {
  funded: 'campaign_funded',
  failed: 'campaign_failed',
  cancelled: 'campaign_cancelled',
};

export function createCampaignActivities({ database }: ActivityDeps) {
  const db = database.db;

  return {
    async loadCampaign(campaignId: string): Promise<CampaignSnapshot> {
      const campaign = await db.selectFrom('campaigns').selectAll().where('id', '=', campaignId).executeTakeFirstOrThrow();
      return {
        id: campaign.id,
        title: campaign.title,
        creatorId: campaign.creator_id,
        model: campaign.model,
        status: campaign.status,
        goalAmount: campaign.goal_amount,
        currency: campaign.currency,
        platformFeeBps: campaign.platform_fee_bps,
        startsAt: campaign.starts_at.toISOString(),
        endsAt: campaign.ends_at.toISOString(),
      };
    },

    async markCampaignActive(campaignId: string): Promise<void> {
      await db
        .updateTable('campaigns')
        .set({ status: 'active', activated_at: new Date(), updated_at: new Date() })
        .where('id', '=', campaignId)
        .where('status', '=', 'scheduled')
        .execute();
    },

    /** Stops new pledges (the API accepts pledges only while `active`) and counts what is pledged. */
    async closePledging(campaignId: string): Promise<Tally> {
      return database.transaction(async (trx) => {
        await trx
          .updateTable('campaigns')
          .set({ status: 'settling', settling_at: new Date(), updated_at: new Date() })
          .where('id', '=', campaignId)
          .where('status', 'in', ['scheduled', 'active'])
          .execute();
        // Pledge writes lock the campaign row (FOR SHARE) before checking it is active, so once this update
        // commits no pledge can still be on its way in.
        return tallyPledges(trx, campaignId);
      });
    },

    async recordOutcome(input: { campaignId: string; outcome: Outcome; raised: number; reason?: string }): Promise<void> {
      const { campaignId, outcome } = input;
      await database.transaction(async (trx) => {
        const stamp = outcome === 'funded' ? 'funded_at' : outcome === 'failed' ? 'failed_at' : 'cancelled_at';
        const campaign = await trx
          .updateTable('campaigns')
          .set({ status: outcome, [stamp]: new Date(), updated_at: new Date(), ...(input.reason ? { cancel_reason: input.reason } : {}) })
          .where('id', '=', campaignId)
          .where('status', '=', 'settling')
          .returningAll()
          .executeTakeFirst();
        if (!campaign) return; // already recorded by an earlier attempt
        const backers = await trx
          .selectFrom('pledges')
          .select('backer_id')
          .distinct()
          .where('campaign_id', '=', campaignId)
          .where('status', 'in', ['authorized', 'captured', 'requires_action'])
          .execute();
        const payload = {
          campaignId,
          campaignTitle: campaign.title,
          raised: fromMinorUnits(input.raised, campaign.currency),
          currency: campaign.currency,
          ...(input.reason ? { reason: input.reason } : {}),
        };
        const recipients = [campaign.creator_id, ...backers.map((row) => row.backer_id)];
        await enqueueNotifications(
          trx,
          [...new Set(recipients)].map((recipientId) => ({
            recipientId,
            template: OUTCOME_TEMPLATES[outcome],
            payload,
            dedupeKey: `campaign-${campaignId}-${outcome}-${recipientId}`,
          })),
        );
      });
    },

    /** One page of pledges that settlement must act on, in id order (keyset pagination). */
    async listPledgesToSettle(input: {
      campaignId: string;
      outcome: Outcome;
      afterPledgeId: string | null;
      limit: number;
    }): Promise<{ pledges: PledgeToSettle[]; nextCursor: string | null }> {
      let query = db
        .selectFrom('pledges')
        .select(['id', 'status'])
        .where('campaign_id', '=', input.campaignId)
        .where('status', 'in', COUNTED_PLEDGE_STATUSES)
        .orderBy('id')
        .limit(input.limit);
      if (input.afterPledgeId) query = query.where('id', '>', input.afterPledgeId);
      const rows = await query.execute();
      const pledges: PledgeToSettle[] = [];
      for (const row of rows) {
        const action = settlementAction(input.outcome, row.status);
        if (action !== 'none') pledges.push({ pledgeId: row.id, action });
      }
      const last = rows[rows.length - 1];
      return { pledges, nextCursor: rows.length === input.limit && last ? last.id : null };
    },

    async closeCampaign(campaignId: string): Promise<void> {
      await db
        .updateTable('campaigns')
        .set({ closed_at: new Date(), updated_at: new Date() })
        .where('id', '=', campaignId)
        .where('closed_at', 'is', null)
        .execute();
    },
  };
}
