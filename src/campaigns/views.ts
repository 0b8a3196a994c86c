/** How campaigns, rewards and stretch goals are shown: camelCase, money as decimal strings with the currency. */
import { type Campaign, type Reward, type StretchGoal } from '../../db/schema';
import { fromMinorUnits } from '../money';
import { percentFunded } from '../rules/outcome';
import { type Tally } from './tally';

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());

export function campaignView(campaign: Campaign) {
  return {
    id: campaign.id,
    slug: campaign.slug,
    title: campaign.title,
    description: campaign.description,
    status: campaign.status,
    model: campaign.model,
    currency: campaign.currency,
    goalAmount: fromMinorUnits(campaign.goal_amount, campaign.currency),
    platformFeeBps: campaign.platform_fee_bps,
    refundTerms: campaign.refund_terms,
    startsAt: iso(campaign.starts_at),
    endsAt: iso(campaign.ends_at),
    creatorId: campaign.creator_id,
    createdAt: iso(campaign.created_at),
    publishedAt: iso(campaign.published_at),
  };
}

export function rewardView(reward: Reward, currency: string) {
  return {
    id: reward.id,
    title: reward.title,
    description: reward.description,
    minPledge: fromMinorUnits(reward.min_pledge, currency),
    limitQty: reward.limit_qty,
    claimedQty: reward.claimed_qty,
    remainingQty: reward.limit_qty === null ? null : reward.limit_qty - reward.claimed_qty,
    shipsAt: reward.ships_at,
  };
}

export function stretchGoalView(goal: StretchGoal, currency: string) {
  return { id: goal.id, title: goal.title, targetAmount: fromMinorUnits(goal.target_amount, currency), unlockedAt: iso(goal.unlocked_at) };
}

export function campaignDetailView(campaign: Campaign, tally: Tally, rewards: Reward[], stretchGoals: StretchGoal[]) {
  return {
    ...campaignView(campaign),
    raised: fromMinorUnits(tally.totalPledged, campaign.currency),
    backers: tally.backers,
    percentFunded: percentFunded(tally.totalPledged, campaign.goal_amount),
    rewards: rewards.map((reward) => rewardView(reward, campaign.currency)),
    stretchGoals: stretchGoals.map((goal) => stretchGoalView(goal, campaign.currency)),
  };
}
