/**
 * Settlement's progress arithmetic (workflows/settlement-progress.ts): samples of the count as reports arrive, the
 * pace over the last minute or so, the time left at that pace, and the line Temporal UI shows.
 */
import { type CampaignRunState, initialRunState } from '../../workflows/campaign-run';
import { noteProgress, progressText, progressView, startProgress } from '../../workflows/settlement-progress';

function settlement(): CampaignRunState['settlement'] {
  return initialRunState().settlement;
}

const T0 = 1_900_000_000_000;

test('no progress before settlement starts; at its start nothing is done and there is no pace yet', () => {
  const s = settlement();
  expect(progressView(s, T0)).toBeUndefined();
  s.progress = startProgress(1_000, s, T0);
  expect(progressView(s, T0)).toEqual({ done: 0, total: 1_000, waiting: 0, ratePerSecond: null, etaSeconds: null });
});

test('the pace is pledges settled per second since the oldest sample, and the time left follows from it', () => {
  const s = settlement();
  s.progress = startProgress(1_000, s, T0);
  s.counts.captured = 95;
  s.counts.released = 5;
  expect(progressView(s, T0 + 4_000)).toEqual({ done: 100, total: 1_000, waiting: 0, ratePerSecond: 25, etaSeconds: 36 });
  // Errored and stuck pledges wait for their backer or for ops: counted apart, and not in the estimate.
  s.waiting = { a: 'errored', b: 'stuck' };
  expect(progressView(s, T0 + 4_000)).toMatchObject({ waiting: 2, etaSeconds: Math.ceil(898 / 25) });
  s.waiting = {};
  s.counts.captured = 995;
  expect(progressView(s, T0 + 40_000)).toMatchObject({ done: 1_000, ratePerSecond: 25, etaSeconds: 0 });
});

test('samples are taken at most every 5 s and the oldest go, so the pace is that of the last minute or so', () => {
  const s = settlement();
  s.progress = startProgress(10_000, s, T0);
  // A slow first minute (10/s), then a fast one (100/s), reported every second.
  let t = T0;
  for (let second = 1; second <= 60; second++) {
    t += 1_000;
    s.counts.captured += 10;
    noteProgress(s, t);
  }
  for (let second = 1; second <= 60; second++) {
    t += 1_000;
    s.counts.captured += 100;
    noteProgress(s, t);
  }
  expect(s.progress.samples.length).toBe(13);
  for (let i = 1; i < s.progress.samples.length; i++) expect(s.progress.samples[i]![0] - s.progress.samples[i - 1]![0]).toBeGreaterThanOrEqual(5_000);
  const view = progressView(s, t)!;
  // Over the last 60 s: 100/s, not the 55/s average since the start.
  expect(view.ratePerSecond).toBe(100);
  expect(view).toMatchObject({ done: 6_600, etaSeconds: 34 });
});

test('a total counted at the start that turns out too small (never expected) does not make the estimate negative', () => {
  const s = settlement();
  s.progress = startProgress(10, s, T0);
  s.counts.captured = 12;
  expect(progressView(s, T0 + 2_000)).toMatchObject({ done: 12, total: 12, etaSeconds: 0 });
});

test('the line Temporal UI shows', () => {
  expect(progressText({ done: 4_200, total: 10_000, waiting: 0, ratePerSecond: 98.2, etaSeconds: 60 })).toBe('settled 4,200 of 10,000 pledges at 98.2/s, about 60 s left');
  expect(progressText({ done: 4_200, total: 100_000, waiting: 3, ratePerSecond: 25, etaSeconds: 3_832 })).toBe('settled 4,200 of 100,000 pledges at 25/s, about 64 min left, 3 waiting');
  expect(progressText({ done: 0, total: 500, waiting: 0, ratePerSecond: null, etaSeconds: null })).toBe('settled 0 of 500 pledges');
  expect(progressText({ done: 500, total: 500, waiting: 0, ratePerSecond: 20, etaSeconds: 0 })).toBe('settled 500 of 500 pledges at 20/s, none left to settle');
});
