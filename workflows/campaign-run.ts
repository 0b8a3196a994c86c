/**
 * What one run of the campaign workflow hands to the next (continue-as-new), and what its phases (settlement
 * window, payout, refund queue) share while it runs.
 */
import { type Outcome } from '../src/rules/outcome';
import { type stripeActivities } from './activity-proxies';
import { type CampaignPhase, type CampaignSettings, type CampaignState, type PayoutState, type ReserveState } from './messages';
import { type SettlementProgressState } from './settlement-progress';

/** Everything a run must hand to the next one. Fields added later are optional: older runs resume without them. */
export interface CampaignRunState {
  phase: CampaignPhase;
  outcome: Outcome | null;
  cancelReason: string | null;
  totals: CampaignState['totals'];
  settlement: {
    /** Last pledge id handed to a child; the next page starts after it. */
    cursor: string | null;
    allStarted: boolean;
    inFlight: string[];
    /** Pledges whose child waits: for the backer's new card (errored) or for an outage to pass (stuck). */
    waiting: Record<string, 'errored' | 'stuck'>;
    counts: { captured: number; released: number; refunded: number; dropped: number };
    /** Pledges per settlement batch, fixed when settlement started (runs that settled one child per pledge: none). */
    batchSize?: number;
    /** Batches started and not yet reported: batch id (its first pledge's id) -> its pledges. */
    batches?: Record<string, number>;
    /** The count to settle and samples of the pace, from when settlement started (older runs: none). */
    progress?: SettlementProgressState;
  };
  settledAt: number | null;
  payout: PayoutState | null;
  /** The payout loop's progress, deadlines as absolute workflow times so that a new run waits only what is left. */
  payoutProgress?: { dueAt: number; nextCheckAt: number | null; reminders: number };
  /** Wake-ups for a waiting payout, set by signals at any time. */
  payoutWake?: { accountUpdated: boolean; retry: boolean };
  refunds?: RefundQueueState;
  failedRefunds: string[];
  /** The payout's reserve against chargebacks, from the payout until it is released. */
  reserve?: ReserveState;
}

export interface RefundQueueState {
  /** Refund ids signalled and not yet carried out, in order. */
  queue: string[];
  /** Queued refunds whose last try gave up: refund id -> why. */
  stuck: Record<string, string>;
  /** While set, the queue waits (an outage) until this workflow time or ops' retry. */
  retryAt: number | null;
}

export function initialRunState(): CampaignRunState {
  return {
    phase: 'scheduled',
    outcome: null,
    cancelReason: null,
    totals: { pledged: 0, backers: 0, captured: 0, refunded: 0 },
    settlement: { cursor: null, allStarted: false, inFlight: [], waiting: {}, counts: { captured: 0, released: 0, refunded: 0, dropped: 0 } },
    settledAt: null,
    payout: null,
    failedRefunds: [],
  };
}

/** Serialises the activities that move the campaign's money (payout, refunds), so each sees the other's result. */
export class MoneyLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** One run of a campaign workflow, as its phases see it. */
export interface CampaignRun {
  campaignId: string;
  settings: CampaignSettings;
  state: CampaignRunState & { payoutWake: NonNullable<CampaignRunState['payoutWake']>; refunds: RefundQueueState };
  stripe: ReturnType<typeof stripeActivities>;
  money: MoneyLock;
  /** Upserts the `CampaignStatus` search attribute and sets the details ops read in Temporal UI. */
  upsertStatusAndDetails(): void;
  /** Sets the details ops read in Temporal UI again (settlement's progress), with no command: as often as it moves. */
  showProgress(): void;
  /** Counts work that adds to this run's history (a refund signalled, a payout check) towards continuing as new. */
  countStep(): void;
  /** True once this run's history is long enough that the next step belongs in a new run. */
  continueAsNewDue(): boolean;
  /** Drains the refund queue's current step and the signal handlers, then continues as new with the run's state. */
  continueAsNew(): Promise<never>;
}
