/**
 * Signals, queries and the shapes they carry: one definition that the workflows register and the API sends, so a
 * renamed signal cannot silently stop reaching its workflow.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { type Outcome } from '../src/rules/outcome';

export type CampaignPhase = 'scheduled' | 'active' | 'settling' | 'paying_out' | 'refund_window' | 'done';

/** Support asks for a refund; the API has already written the refund row (amount checked against what is left). */
export const refundPledgeSignal = defineSignal<[{ refundId: string }]>('refundPledge');
/** Creator or ops cancel a campaign before its deadline. */
export const cancelCampaignSignal = defineSignal<[{ reason: string; requestedBy: string }]>('cancelCampaign');
/** Ops: retry every errored or stuck pledge settlement, a stuck payout and stuck refunds now, without waiting. */
export const retrySettlementSignal = defineSignal('retrySettlement');
/** The creator's Connect account changed (webhook `account.updated`): a waiting payout checks again. */
export const connectAccountUpdatedSignal = defineSignal('connectAccountUpdated');

/** The backer saved a new card for an errored pledge: sent by the API to the pledge's settlement workflow. */
export const paymentMethodUpdatedSignal = defineSignal('paymentMethodUpdated');
/** Sent by the campaign workflow to a waiting settlement when ops ask for a retry. */
export const retryPledgeSettlementSignal = defineSignal('retryPledgeSettlement');

export type PledgeReportKind = 'captured' | 'released' | 'refunded' | 'dropped' | 'errored' | 'stuck';
/** A settlement child tells its campaign what happened to its pledge; final kinds end its part in settlement. */
export interface PledgeReport {
  pledgeId: string;
  kind: PledgeReportKind;
  /** Minor units collected (captured) or returned (refunded). */
  amount?: number;
}
export const pledgeSettledSignal = defineSignal<[PledgeReport]>('pledgeSettled');

export interface SettlementCounts {
  captured: number;
  released: number;
  refunded: number;
  dropped: number;
  /** Waiting for the backer to fix their card, within the grace window. */
  errored: number;
  /** Failed for a reason that is not the backer's (e.g. Stripe unreachable for an hour): waiting for ops. */
  stuck: number;
  inFlight: number;
}

/** How far settlement has got: pledges with a final outcome of those it settles, its recent pace and the time left. */
export interface SettlementProgress {
  /** Pledges settled for good (captured, released, refunded or dropped). */
  done: number;
  /** Pledges the outcome settles, counted when settlement started. */
  total: number;
  /** Pledges waiting for their backer's new card (errored) or for an outage to pass (stuck): not in the estimate. */
  waiting: number;
  /** Pledges settled per second over the last minute or so; null until there is a pace to tell. */
  ratePerSecond: number | null;
  /** Seconds until the pledges neither done nor waiting are settled, at that pace; 0 once none is left. */
  etaSeconds: number | null;
}

export interface PayoutState {
  /** `stuck`: Stripe (or a bug) made the payout give up; it tries again by itself, or at once on `retrySettlement`. */
  state: 'waiting' | 'account_not_ready' | 'funds_pending' | 'stuck' | 'paid' | 'nothing_to_pay';
  /** Minor units of the platform's settlement currency (the transfer's), not the campaign's. */
  amount: number | null;
  transferId: string | null;
  /** Why the payout is stuck. */
  reason?: string;
  /** Held back from the transfer against chargebacks (settlement minor units); absent or 0: none. */
  reserve?: number;
}

/** The payout's reserve, from the payout until a second transfer released what disputes left of it. */
export interface ReserveState {
  /** `stuck`: the release gave up (Stripe down); it tries again by itself, or at once on `retrySettlement`. */
  state: 'held' | 'stuck' | 'released';
  /** Workflow time at which the reserve period ends. */
  releaseAt: number;
  /** When a stuck release tries again (workflow time). */
  nextCheckAt: number | null;
  /** What the release paid (settlement minor units), once released. */
  released: number | null;
  transferId: string | null;
  reason?: string;
}

export interface CampaignState {
  campaignId: string;
  phase: CampaignPhase;
  outcome: Outcome | null;
  cancelReason: string | null;
  totals: { pledged: number; backers: number; captured: number; refunded: number };
  pledges: SettlementCounts;
  payout: PayoutState | null;
  /** Support's refunds waiting to be carried out, and those stuck (refund id -> why), retried until done. */
  refunds: { queued: number; stuck: Record<string, string> };
  failedRefunds: string[];
  /** The payout's reserve, when one was held back. */
  reserve?: ReserveState;
  /** Settlement's progress, from when it starts (campaigns that began settling before it existed have none). */
  settlement?: SettlementProgress;
}
export const campaignStateQuery = defineQuery<CampaignState>('campaignState');

export interface PledgeSettlementState {
  pledgeId: string;
  action: 'capture' | 'release' | 'refund';
  status: 'settling' | 'errored' | 'stuck' | PledgeReportKind;
  attempt: number;
  graceEndsAt: string | null;
  lastError: string | null;
}
export const pledgeSettlementStateQuery = defineQuery<PledgeSettlementState>('pledgeSettlementState');

/** Settings fixed when the campaign is published, so a later configuration change does not alter its rules. */
export interface CampaignSettings {
  graceWindowMs: number;
  payoutDelayMs: number;
  refundWindowMs: number;
  settlementWindowSize: number;
  settlementPageSize: number;
  stripeTaskQueue: string;
  /** How often a creator whose account cannot receive the payout is reminded. */
  onboardingReminderIntervalMs: number;
  /** How long to wait before asking Stripe again when funds are not yet available. */
  fundsRetryIntervalMs: number;
  /**
   * How long a step stuck on an outage (the payout, a pledge's settlement) waits before trying again by itself.
   * Absent in campaigns published before it existed: they use the default.
   */
  stuckRetryIntervalMs?: number;
  /**
   * A reserve against chargebacks (PAYOUT_RESERVE_PERCENT, PAYOUT_RESERVE_DAYS): `bps` of the creator's payout held
   * back, released by a second transfer `periodMs` after the payout. Absent: no reserve (and campaigns published
   * before it existed).
   */
  payoutReserve?: { bps: number; periodMs: number };
}

export function campaignWorkflowId(campaignId: string): string {
  return `campaign-${campaignId}`;
}

export function pledgeSettlementWorkflowId(campaignId: string, pledgeId: string): string {
  return `${campaignWorkflowId(campaignId)}/pledge-${pledgeId}`;
}
