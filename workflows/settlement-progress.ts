/**
 * Settlement's progress as ops read it (the campaign query, Temporal UI's details, GET /api/ops/campaigns/:id):
 * pledges done of those to settle, the recent pace, and the time left at that pace. The pace comes from samples of
 * the count taken as reports arrive (workflow time, so replays take the same ones), carried across continue-as-new.
 */
import { type CampaignRunState } from './campaign-run';
import { type SettlementProgress } from './messages';

/** Samples are at least this far apart... */
const SAMPLE_EVERY_MS = 5_000;
/** ...and this many are kept: the pace is measured over the last minute or so. */
const SAMPLES_KEPT = 13;

export interface SettlementProgressState {
  /** Pledges the outcome settles, counted when settlement started. */
  total: number;
  /** [workflow time (ms), pledges done] pairs, oldest first. */
  samples: Array<[number, number]>;
}

type Settlement = CampaignRunState['settlement'];

/** Pledges settled for good. */
export function pledgesDone(settlement: Settlement): number {
  const { captured, released, refunded, dropped } = settlement.counts;
  return captured + released + refunded + dropped;
}

export function startProgress(total: number, settlement: Settlement, now: number): SettlementProgressState {
  return { total, samples: [[now, pledgesDone(settlement)]] };
}

/** Takes a sample of the count if the last one is old enough (called as reports are applied). */
export function noteProgress(settlement: Settlement, now: number): void {
  const progress = settlement.progress;
  if (!progress) return;
  const last = progress.samples.at(-1);
  if (last && now - last[0] < SAMPLE_EVERY_MS) return;
  progress.samples.push([now, pledgesDone(settlement)]);
  if (progress.samples.length > SAMPLES_KEPT) progress.samples.shift();
}

export function progressView(settlement: Settlement, now: number): SettlementProgress | undefined {
  const progress = settlement.progress;
  if (!progress) return undefined;
  const done = pledgesDone(settlement);
  const waiting = Object.keys(settlement.waiting).length;
  const total = Math.max(progress.total, done + waiting);
  const remaining = total - done - waiting;
  const [since, doneThen] = progress.samples[0] ?? [now, done];
  const seconds = (now - since) / 1000;
  const ratePerSecond = seconds >= 1 ? Math.round(((done - doneThen) / seconds) * 10) / 10 : null;
  const etaSeconds = remaining === 0 ? 0 : ratePerSecond ? Math.ceil(remaining / ratePerSecond) : null;
  return { done, total, waiting, ratePerSecond, etaSeconds };
}

/** One line for Temporal UI's details: "settled 4,200 of 10,000 pledges at 98.2/s, about 59 s left". */
export function progressText(view: SettlementProgress): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const pace = view.ratePerSecond === null ? '' : ` at ${view.ratePerSecond}/s`;
  const left = view.etaSeconds === null ? '' : view.etaSeconds === 0 ? ', none left to settle' : `, about ${duration(view.etaSeconds)} left`;
  const waiting = view.waiting > 0 ? `, ${n(view.waiting)} waiting` : '';
  return `settled ${n(view.done)} of ${n(view.total)} pledges${pace}${left}${waiting}`;
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}
