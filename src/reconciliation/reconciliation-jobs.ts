/**
 * Reconciliation through the API, as a background job: a campaign's reconciliation reads every captured pledge's
 * PaymentIntent (and refunds, and transfers) from Stripe, one call each, which takes minutes for a large campaign
 * and must not hold an HTTP request or let a few requests flood Stripe. A request records a job row and returns at
 * once; the API process runs the job with bounded concurrency and writes its progress and result to the row.
 *
 * In-process rather than a Temporal activity: a reconciliation is a read-only report that is safe to start again,
 * so it needs no durable retries; running it here needs no new workflow, and works wherever the API runs (Temporal
 * configured or not). What durability it needs comes from the row: a partial unique index keeps one run per
 * campaign queued or running, and the process renews `heartbeat_at` while it holds a job, so a job whose process
 * died is seen as abandoned after `staleAfterMs` and a new request replaces it.
 */
import { sql } from 'kysely';
import type Stripe from 'stripe';
import { type Db, isDatabaseUnavailable } from '../../db/database';
import { type ReconciliationJob } from '../../db/schema';
import { DomainError } from '../errors';
import { type Logger } from '../logger';
import { reconcileCampaign } from './reconcile';
import { reconciliationView } from './report';

const ACTIVE = ['queued', 'running'] as const;

export interface ReconciliationJobsOptions {
  db: Db;
  stripe?: Stripe;
  logger: Logger;
  /** Jobs one process runs at once: each makes one Stripe call at a time, so this bounds its Stripe reads too. */
  concurrency?: number;
  /** Jobs waiting in one process beyond those running; more requests are refused (503) until some finish. */
  maxQueued?: number;
  heartbeatMs?: number;
  /** A queued or running job not renewed for this long belongs to a process that died: abandoned. */
  staleAfterMs?: number;
  /** How often a running job's progress is written (at most). */
  progressWriteMs?: number;
}

const BUSY_RETRY_AFTER_SECONDS = 30;
/** How long stopping waits for running jobs to notice (between two Stripe calls) before leaving them to expire. */
const STOP_GRACE_MS = 5_000;

export class ReconciliationJobs {
  private readonly db: Db;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly heartbeatMs: number;
  private readonly staleAfterMs: number;
  private readonly progressWriteMs: number;
  private readonly queue: ReconciliationJob[] = [];
  /** Jobs this process holds (queued or running): their heartbeats are renewed. */
  private readonly held = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReconciliationJobsOptions) {
    this.db = options.db;
    this.concurrency = options.concurrency ?? 2;
    this.maxQueued = options.maxQueued ?? 50;
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.staleAfterMs = options.staleAfterMs ?? 60_000;
    this.progressWriteMs = options.progressWriteMs ?? 1_000;
  }

  /** Starts a reconciliation of the campaign, or finds the one already queued or running (`started: false`). */
  async request(campaignId: string, requestedBy: string | null): Promise<{ job: ReconciliationJob; started: boolean }> {
    if (this.abort.signal.aborted) throw new DomainError('unavailable', 'shutting_down', 'This server is shutting down; try again shortly', { retryAfterSeconds: 1 });
    await this.failAbandoned(campaignId);
    // Two requests at once: the unique index lets one insert; the other finds it (a retry covers one that just ended).
    for (let attempt = 0; attempt < 3; attempt++) {
      const active = await this.db.selectFrom('reconciliation_jobs').selectAll().where('campaign_id', '=', campaignId).where('status', 'in', ACTIVE).executeTakeFirst();
      if (active) return { job: active, started: false };
      if (this.queue.length >= this.maxQueued) {
        throw new DomainError('unavailable', 'reconciliation_busy', 'Too many reconciliations are waiting on this server; try again later', { retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS });
      }
      const inserted = await this.db
        .insertInto('reconciliation_jobs')
        .values({ campaign_id: campaignId, requested_by: requestedBy })
        .onConflict((oc) => oc.column('campaign_id').where(sql<boolean>`status in ('queued', 'running')`).doNothing())
        .returningAll()
        .executeTakeFirst();
      if (inserted) {
        this.enqueue(inserted);
        return { job: inserted, started: true };
      }
    }
    throw new DomainError('conflict', 'reconciliation_contended', 'Reconciliations of this campaign are being requested too fast; try again');
  }

  /** The campaign's latest job (an abandoned one shown as failed), or undefined if none was ever requested. */
  async latest(campaignId: string): Promise<ReconciliationJob | undefined> {
    await this.failAbandoned(campaignId);
    return this.db.selectFrom('reconciliation_jobs').selectAll().where('campaign_id', '=', campaignId).orderBy('created_at', 'desc').limit(1).executeTakeFirst();
  }

  /** Stops taking jobs; queued ones fail at once, running ones stop before their next Stripe call. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    const queued = this.queue.splice(0);
    for (const job of queued) this.held.delete(job.id);
    if (queued.length > 0) {
      await this.fail(
        queued.map((job) => job.id),
        'interrupted: the API process shut down before it started; request it again',
      );
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)))]);
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private enqueue(job: ReconciliationJob): void {
    this.queue.push(job);
    this.held.add(job.id);
    this.heartbeat ??= setInterval(() => void this.renew(), this.heartbeatMs).unref();
    this.pump();
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.queue.length > 0 && !this.abort.signal.aborted) {
      const job = this.queue.shift()!;
      const run: Promise<void> = this.run(job).finally(() => {
        this.running.delete(run);
        this.held.delete(job.id);
        if (this.held.size === 0) {
          clearInterval(this.heartbeat);
          this.heartbeat = undefined;
        }
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async run(job: ReconciliationJob): Promise<void> {
    const db = this.db;
    try {
      const started = await db
        .updateTable('reconciliation_jobs')
        .set({ status: 'running', started_at: new Date(), heartbeat_at: sql`now()` })
        .where('id', '=', job.id)
        .where('status', '=', 'queued')
        .executeTakeFirst();
      // Declared abandoned meanwhile (this process stalled past staleAfterMs): another run replaces it.
      if (started.numUpdatedRows === 0n) return;
      let written = 0;
      const report = await reconcileCampaign(db, job.campaign_id, this.options.stripe, {
        signal: this.abort.signal,
        onPledgeChecked: async (checked, total) => {
          if (checked !== total && checked !== 0 && Date.now() - written < this.progressWriteMs) return;
          written = Date.now();
          await db.updateTable('reconciliation_jobs').set({ pledges_checked: checked, pledges_total: total, heartbeat_at: sql`now()` }).where('id', '=', job.id).where('status', '=', 'running').execute();
        },
      });
      await db
        .updateTable('reconciliation_jobs')
        .set({ status: 'succeeded', result: JSON.stringify(reconciliationView(report)), finished_at: new Date() })
        .where('id', '=', job.id)
        .where('status', '=', 'running')
        .execute();
    } catch (error) {
      const reason = this.abort.signal.aborted ? 'interrupted: the API process shut down before it finished; request it again' : describeFailure(error, job.id);
      this.options.logger.warn({ err: error, jobId: job.id, campaignId: job.campaign_id }, 'reconciliation job failed');
      await this.fail([job.id], reason).catch((cause: unknown) => this.options.logger.error({ err: cause, jobId: job.id }, 'could not record a failed reconciliation job'));
    }
  }

  private async fail(ids: string[], reason: string): Promise<void> {
    await this.db.updateTable('reconciliation_jobs').set({ status: 'failed', error: reason, finished_at: new Date() }).where('id', 'in', ids).where('status', 'in', ACTIVE).execute();
  }

  private async failAbandoned(campaignId: string): Promise<void> {
    await this.db
      .updateTable('reconciliation_jobs')
      .set({ status: 'failed', error: 'abandoned: the API process running it stopped; request it again', finished_at: new Date() })
      .where('campaign_id', '=', campaignId)
      .where('status', 'in', ACTIVE)
      .where('heartbeat_at', '<', sql<Date>`now() - ${this.staleAfterMs} * interval '1 millisecond'`)
      .execute();
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    await this.db
      .updateTable('reconciliation_jobs')
      .set({ heartbeat_at: sql`now()` })
      .where('id', 'in', [...this.held])
      .where('status', 'in', ACTIVE)
      .execute()
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not renew reconciliation jobs'));
  }
}

/** What ops read on a failed job: the kind of failure, never internals (the log has those, under the job id). */
function describeFailure(error: unknown, jobId: string): string {
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'StripeConnectionError' || type === 'StripeAPIError' || type === 'StripeRateLimitError') return 'Stripe did not answer; request it again later';
  if (isDatabaseUnavailable(error)) return 'the database was unavailable; request it again later';
  return `failed unexpectedly; the API log has the details (job ${jobId})`;
}
