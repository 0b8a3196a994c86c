/**
 * Go duration strings (`1h30m`, `2s`, `1.5h`), as Go's time.ParseDuration reads them; `days` also accepts the `d`
 * unit (24 hours), as the Temporal server's timestamp.ParseDuration does for schedule cron strings.
 */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined when the text is not a duration. */
export function parseGoDuration(text: string, options: { days?: boolean } = {}): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const match = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)[a-zµμ]+)+)$/.exec(trimmed);
  if (!match) return undefined;
  let total = 0;
  for (const [, value, unit] of match[2]!.matchAll(/(\d+\.?\d*|\.\d+)([a-zµμ]+)/g)) {
    const ms = unit === 'd' && options.days ? 86_400_000 : UNIT_MS[unit!];
    if (ms === undefined) return undefined;
    total += Number(value) * ms;
  }
  return match[1] === '-' ? -total : total;
}
