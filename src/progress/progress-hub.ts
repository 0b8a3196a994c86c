/**
 * Live campaign progress for SSE clients: one Postgres LISTEN connection per process (not a query per client).
 * A burst of changes to a campaign is coalesced (50 ms) into one snapshot, computed once and sent to every
 * subscriber of that campaign.
 */
import pg from 'pg';
import { type Db } from '../../db/database';
import { tallyPledges } from '../campaigns/tally';
import { fromMinorUnits } from '../money';
import { percentFunded } from '../rules/outcome';

export interface ProgressSnapshot {
  campaignId: string;
  raised: string;
  goal: string;
  currency: string;
  percent: number;
  backers: number;
  status: string;
  stretchGoals: Array<{ id: string; title: string; targetAmount: string; unlockedAt: string | null }>;
}

type Listener = (snapshot: ProgressSnapshot) => void;

export async function progressSnapshot(db: Db, campaignId: string): Promise<ProgressSnapshot | undefined> {
  const campaign = await db.selectFrom('campaigns').select(['id', 'goal_amount', 'currency', 'status']).where('id', '=', campaignId).executeTakeFirst();
  if (!campaign) return undefined;
  const [tally, goals] = await Promise.all([
    tallyPledges(db, campaignId),
    db.selectFrom('stretch_goals').selectAll().where('campaign_id', '=', campaignId).orderBy('target_amount').execute(),
  ]);
  const money = (minor: number) => fromMinorUnits(minor, campaign.currency);
  return {
    campaignId,
    raised: money(tally.totalPledged),
    goal: money(campaign.goal_amount),
    currency: campaign.currency,
    percent: percentFunded(tally.totalPledged, campaign.goal_amount),
    backers: tally.backers,
    status: campaign.status,
    stretchGoals: goals.map((goal) => ({ id: goal.id, title: goal.title, targetAmount: money(goal.target_amount), unlockedAt: goal.unlocked_at?.toISOString() ?? null })),
  };
}

export class ProgressHub {
  private client: pg.Client | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  /** What ends each subscriber's stream when the process shuts down. */
  private readonly closers = new Set<() => void>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly connectionString: string,
    private readonly coalesceMs = 50,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'crowdfund-progress' });
    client.on('notification', (message) => {
      if (message.channel === 'campaign_progress' && message.payload) this.changed(message.payload);
    });
    // A lost connection is re-established; changes in the gap reach clients with the next change or heartbeat.
    client.on('error', () => void this.reconnect());
    await client.connect();
    await client.query('listen campaign_progress');
    this.client = client;
  }

  private async reconnect(): Promise<void> {
    const old = this.client;
    this.client = undefined;
    await old?.end().catch(() => undefined);
    while (!this.stopped && !this.client) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await this.start().catch(() => undefined);
    }
  }

  subscribe(campaignId: string, listener: Listener, onStop: () => void): () => void {
    let set = this.listeners.get(campaignId);
    if (!set) this.listeners.set(campaignId, (set = new Set()));
    set.add(listener);
    this.closers.add(onStop);
    return () => {
      set.delete(listener);
      this.closers.delete(onStop);
      if (set.size === 0) this.listeners.delete(campaignId);
    };
  }

  get subscriberCount(): number {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }

  private changed(campaignId: string): void {
    if (!this.listeners.has(campaignId) || this.pending.has(campaignId)) return;
    this.pending.set(
      campaignId,
      setTimeout(() => {
        this.pending.delete(campaignId);
        void progressSnapshot(this.db, campaignId).then(
          (snapshot) => {
            if (!snapshot) return;
            for (const listener of this.listeners.get(campaignId) ?? []) listener(snapshot);
          },
          () => undefined,
        );
      }, this.coalesceMs),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    this.listeners.clear();
    for (const close of [...this.closers]) close();
    this.closers.clear();
    await this.client?.end().catch(() => undefined);
  }
}
