/**
 * Starts update sends from the API, after the update's row is committed. A start that fails (Temporal unreachable,
 * the process dying) leaves the update `pending`, never lost: the creator's next POST to the campaign (the same one
 * retried included) and any read of the campaign's updates that lists it start it again in the background (at most
 * once a minute per update and process). Starting twice is harmless: the workflow id is the update's.
 */
import { type AppDatabase } from '../../db/database';
import { type CreatorUpdate } from '../../db/schema';
import { type Logger } from '../logger';
import { type CampaignUpdateSends } from '../temporal/campaign-update-sends';

const RETRY_AFTER_MS = 60_000;

export class UpdateSendStarter {
  /** Pending updates whose start failed in this process, and when. */
  private readonly failedAt = new Map<string, number>();
  /** Starts running in the background, which shutdown waits for before the Temporal client closes. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly deps: { database: AppDatabase; sends: CampaignUpdateSends | undefined; logger: Logger }) {}

  /** Starts the update's send and records it; a failure is logged and the update answered as it is (pending). */
  async start(update: CreatorUpdate): Promise<CreatorUpdate> {
    const { database, sends, logger } = this.deps;
    if (!sends || update.send_status !== 'pending') return update;
    try {
      await sends.start({ id: update.id, campaignId: update.campaign_id, number: update.number });
    } catch (error) {
      this.failedAt.set(update.id, Date.now());
      logger.warn({ err: error, updateId: update.id }, 'could not start an update’s send; the next read of its campaign’s updates retries');
      return update;
    }
    this.failedAt.delete(update.id);
    const db = database.db;
    const started = await db
      .updateTable('campaign_updates')
      .set({ send_status: 'sending', send_started_at: new Date() })
      .where('id', '=', update.id)
      .where('send_status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    // Not pending any more: its workflow got there first.
    return started ?? (await db.selectFrom('campaign_updates').selectAll().where('id', '=', update.id).executeTakeFirstOrThrow());
  }

  /** Starts, in the background, those of `updates` still pending whose start has not just failed here. */
  retryPending(updates: CreatorUpdate[]): void {
    const now = Date.now();
    for (const update of updates) {
      if (update.send_status !== 'pending' || now - (this.failedAt.get(update.id) ?? 0) < RETRY_AFTER_MS) continue;
      // Marked before the attempt, so that reads arriving meanwhile do not start it again and again.
      this.failedAt.set(update.id, now);
      const started = this.start(update)
        .catch((error: unknown) => this.deps.logger.warn({ err: error, updateId: update.id }, 'could not record an update’s send as started'))
        .finally(() => this.inFlight.delete(started));
      this.inFlight.add(started);
    }
  }

  /** Waits for the background starts under way (before the process closes its Temporal client and pools). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
