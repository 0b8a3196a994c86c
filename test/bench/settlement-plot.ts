/**
 * The settlement benchmark's plot: settled pledges over time, one line per run (the product at each rate limit,
 * the sequential loop, its projection dashed), as a hand-written SVG with no dependencies.
 */
export interface PlotLine {
  label: string;
  /** Seconds from the run's start at which each pledge was settled, ascending. */
  times: number[];
  /** Drawn dashed from its last point to `projectTo` (seconds, pledges), for a run that was sampled. */
  projectTo?: { seconds: number; pledges: number };
}

const COLOURS = ['#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#ff7f0e'];
const W = 760;
const H = 420;
const M = { left: 70, right: 20, top: 40, bottom: 50 };

export function settlementPlot(title: string, lines: PlotLine[]): string {
  const maxX = Math.max(...lines.flatMap((l) => [l.times.at(-1) ?? 0, l.projectTo?.seconds ?? 0]));
  const maxY = Math.max(...lines.flatMap((l) => [l.times.length, l.projectTo?.pledges ?? 0]));
  const xTicks = ticks(maxX);
  const yTicks = ticks(maxY);
  const [xEnd, yEnd] = [xTicks.at(-1)!, yTicks.at(-1)!];
  const x = (s: number) => M.left + (s / xEnd) * (W - M.left - M.right);
  const y = (n: number) => H - M.bottom - (n / yEnd) * (H - M.top - M.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
  ];
  for (const t of xTicks) out.push(`<line x1="${x(t)}" y1="${y(0)}" x2="${x(t)}" y2="${y(yEnd)}" stroke="#eee"/>`, `<text x="${x(t)}" y="${y(0) + 16}" text-anchor="middle">${t}</text>`);
  for (const t of yTicks) out.push(`<line x1="${x(0)}" y1="${y(t)}" x2="${x(xEnd)}" y2="${y(t)}" stroke="#eee"/>`, `<text x="${x(0) - 6}" y="${y(t) + 4}" text-anchor="end">${t.toLocaleString('en')}</text>`);
  out.push(
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(xEnd)}" y2="${y(0)}" stroke="black"/><line x1="${x(0)}" y1="${y(0)}" x2="${x(0)}" y2="${y(yEnd)}" stroke="black"/>`,
    `<text x="${(x(0) + x(xEnd)) / 2}" y="${H - 12}" text-anchor="middle">seconds from the start of settlement</text>`,
    `<text transform="translate(16 ${(y(0) + y(yEnd)) / 2}) rotate(-90)" text-anchor="middle">pledges settled</text>`,
  );
  lines.forEach((line, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    // At most ~300 points a line: every k-th settlement, and the last.
    const step = Math.max(1, Math.ceil(line.times.length / 300));
    const points = [[0, 0]];
    line.times.forEach((t, k) => (k % step === step - 1 || k === line.times.length - 1) && points.push([t, k + 1]));
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map(([s, n]) => `${x(s!).toFixed(1)},${y(n!).toFixed(1)}`).join(' ')}"/>`);
    const last = points.at(-1)!;
    if (line.projectTo) out.push(`<line x1="${x(last[0]!)}" y1="${y(last[1]!)}" x2="${x(line.projectTo.seconds)}" y2="${y(line.projectTo.pledges)}" stroke="${colour}" stroke-width="2" stroke-dasharray="6 4"/>`);
    // The legend bottom right, under the lines (each rises from the bottom left).
    const ly = H - M.bottom - 14 - (lines.length - 1 - i) * 18;
    out.push(`<line x1="${W - 330}" y1="${ly}" x2="${W - 305}" y2="${ly}" stroke="${colour}" stroke-width="2"/><text x="${W - 300}" y="${ly + 4}">${escape(line.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Round tick values from 0 past max: 1, 2 or 5 times a power of ten apart, 4-10 of them. */
function ticks(max: number): number[] {
  const raw = Math.max(max, 1) / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => i * step);
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
