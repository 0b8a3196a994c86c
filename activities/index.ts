/**
 * All activities, built from their dependencies. Workflows see them only as types:
 * `proxyActivities<CampaignActivities>()`. Database activities run on the campaigns task queue; Stripe activities
 * (every activity that calls Stripe) on the rate-limited Stripe task queue.
 */
import { createCampaignActivities } from './campaigns';
import { createCampaignUpdateActivities } from './campaign-updates';
import { type ActivityDeps } from './deps';
import { createNotificationActivities } from './notifications';
import { createPayoutActivities } from './payouts';
import { createPledgeSettlementActivities } from './pledge-settlement';
import { createRefundActivities } from './refunds';
import { createRetentionActivities } from './retention';
import { createSurveyActivities } from './surveys';
import { resolvePendingPledges } from '../src/pledges/resolve-pending-pledges';

export function createDatabaseActivities(deps: ActivityDeps) {
  const settlement = createPledgeSettlementActivities(deps);
  return {
    ...createCampaignActivities(deps),
    ...createNotificationActivities(deps),
    markPledgeErrored: settlement.markPledgeErrored,
    dropPledge: settlement.dropPledge,
    countPledgesToSettle: settlement.countPledgesToSettle,
    remindCreatorToOnboard: createPayoutActivities(deps).remindCreatorToOnboard,
    ...createRetentionActivities(deps),
    ...createCampaignUpdateActivities(deps),
    ...createSurveyActivities(deps),
  };
}

export function createStripeActivities(deps: ActivityDeps) {
  const settlement = createPledgeSettlementActivities(deps);
  const payouts = createPayoutActivities(deps);
  return {
    capturePledge: settlement.capturePledge,
    releasePledge: settlement.releasePledge,
    settlePledges: settlement.settlePledges,
    ...createRefundActivities(deps),
    payoutReadiness: payouts.payoutReadiness,
    sendPayout: payouts.sendPayout,
    releaseReserve: payouts.releaseReserve,
    resolvePendingPledges: (input: { olderThanMs: number }) => resolvePendingPledges(deps, input),
  };
}

export type DatabaseActivities = ReturnType<typeof createDatabaseActivities>;
export type StripeActivities = ReturnType<typeof createStripeActivities>;
export type { ActivityDeps } from './deps';
