/**
 * A workflow's `cron_schedule`, read as the Temporal server reads it: robfig/cron v3's standard parser
 * (`cron.ParseStandard`: five fields, `@hourly`-style descriptors, `@every <duration>`, an optional `TZ=`/`CRON_TZ=`
 * prefix) and `backoff.GetBackoffForNextSchedule` for the wait before each run's first workflow task. This is not
 * the Schedules parser (calendar.ts): here day-of-month and day-of-week are ORed when both are restricted, as in
 * classic cron, and `@every` counts from the previous run rather than from the epoch.
 */
import { parseGoDuration } from './go-duration';
import { invalidArgument } from './proto';
import { TimeZone, weekday } from './time-zone';

const STAR = 1n << 63n;
const SECOND_MS = 1000;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}
const MINUTES: Bounds = { min: 0, max: 59 };
const HOURS: Bounds = { min: 0, max: 23 };
const DAYS_OF_MONTH: Bounds = { min: 1, max: 31 };
const MONTHS: Bounds = { min: 1, max: 12, names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 } };
const DAYS_OF_WEEK: Bounds = { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } };

interface SpecSchedule {
  kind: 'spec';
  zone: TimeZone;
  second: bigint;
  minute: bigint;
  hour: bigint;
  dayOfMonth: bigint;
  month: bigint;
  dayOfWeek: bigint;
}
interface ConstantDelaySchedule {
  kind: 'every';
  delayMs: number;
}
export type CronSchedule = SpecSchedule | ConstantDelaySchedule;

const has = (bits: bigint, value: number) => ((1n << BigInt(value)) & bits) !== 0n;

function bitsOf(start: number, end: number, step: number): bigint {
  let bits = 0n;
  for (let value = start; value <= end; value += step) bits |= 1n << BigInt(value);
  return bits;
}

function parseNumber(text: string, bounds: Bounds): number {
  const named = bounds.names?.[text.toLowerCase()];
  if (named !== undefined) return named;
  if (!/^\d+$/.test(text)) throw new Error(`failed to parse int from ${text}`);
  return Number(text);
}

/** `*`, `?`, `5`, `1-5`, `*\/15`, `5/10` (5 to the maximum), comma-separated; a star marks the field unrestricted. */
function parseField(text: string, bounds: Bounds): bigint {
  let bits = 0n;
  for (const expression of text.split(',').filter(Boolean)) {
    const rangeAndStep = expression.split('/');
    const lowAndHigh = rangeAndStep[0]!.split('-');
    let start: number;
    let end: number;
    let star = 0n;
    if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
      [start, end, star] = [bounds.min, bounds.max, STAR];
    } else {
      start = parseNumber(lowAndHigh[0]!, bounds);
      if (lowAndHigh.length > 2) throw new Error(`too many hyphens: ${expression}`);
      end = lowAndHigh.length === 2 ? parseNumber(lowAndHigh[1]!, bounds) : start;
    }
    let step = 1;
    if (rangeAndStep.length > 2) throw new Error(`too many slashes: ${expression}`);
    if (rangeAndStep.length === 2) {
      step = parseNumber(rangeAndStep[1]!, { min: 0, max: 0 });
      if (lowAndHigh.length === 1) end = bounds.max;
      if (step > 1) star = 0n;
    }
    if (start < bounds.min || end > bounds.max || start > end || step === 0) throw new Error(`invalid range ${expression}`);
    bits |= bitsOf(start, end, step) | star;
  }
  return bits;
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Parses a cron_schedule; INVALID_ARGUMENT as the server answers StartWorkflowExecution with a bad one. */
export function parseCronSchedule(text: string): CronSchedule {
  let schedule: CronSchedule;
  try {
    schedule = parse(text.trim());
  } catch {
    throw invalidArgument('invalid CronSchedule.');
  }
  if (nextTime(schedule, Date.now()) === undefined) throw invalidArgument('invalid CronSchedule, no time can be found to satisfy the schedule');
  return schedule;
}

function parse(text: string): CronSchedule {
  let spec = text;
  let zone = TimeZone.named('UTC');
  if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) {
    const space = spec.indexOf(' ');
    zone = TimeZone.named(spec.slice(spec.indexOf('=') + 1, space < 0 ? undefined : space));
    spec = space < 0 ? '' : spec.slice(space).trim();
  }
  if (spec.startsWith('@every ')) {
    const delay = parseGoDuration(spec.slice('@every '.length));
    if (delay === undefined) throw new Error(`bad duration in ${spec}`);
    // Under a second counts as a second; fractions of a second are dropped.
    const atLeastSecond = Math.max(delay, SECOND_MS);
    return { kind: 'every', delayMs: atLeastSecond - (atLeastSecond % SECOND_MS) };
  }
  if (spec.startsWith('@')) {
    const expanded = DESCRIPTORS[spec];
    if (!expanded) throw new Error(`unrecognized descriptor ${spec}`);
    spec = expanded;
  }
  const fields = spec.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) throw new Error(`expected exactly 5 fields, found ${fields.length}`);
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields as [string, string, string, string, string];
  return {
    kind: 'spec',
    zone,
    second: 1n,
    minute: parseField(minute, MINUTES),
    hour: parseField(hour, HOURS),
    dayOfMonth: parseField(dayOfMonth, DAYS_OF_MONTH),
    month: parseField(month, MONTHS),
    dayOfWeek: parseField(dayOfWeek, DAYS_OF_WEEK),
  };
}

/** Classic cron: with both day fields restricted, either may match. */
function dayMatches(schedule: SpecSchedule, year: number, month: number, day: number): boolean {
  const dayOfMonth = has(schedule.dayOfMonth, day);
  const dayOfWeek = has(schedule.dayOfWeek, weekday(year, month, day));
  if ((schedule.dayOfMonth & STAR) !== 0n || (schedule.dayOfWeek & STAR) !== 0n) return dayOfMonth && dayOfWeek;
  return dayOfMonth || dayOfWeek;
}

/** The next activation strictly after `after` (robfig's `Schedule.Next`), or undefined within five years. */
export function nextTime(schedule: CronSchedule, after: number): number | undefined {
  // Start at the next whole second.
  let t = Math.floor(after / SECOND_MS) * SECOND_MS;
  if (schedule.kind === 'every') return t + schedule.delayMs;
  const zone = schedule.zone;
  t += SECOND_MS;
  let added = false;
  const yearLimit = zone.wall(t).year + 5;
  wrap: for (;;) {
    let wall = zone.wall(t);
    if (wall.year > yearLimit) return undefined;
    while (!has(schedule.month, wall.month)) {
      if (!added) {
        added = true;
        t = zone.instant(wall.year, wall.month, 1);
        wall = zone.wall(t);
      }
      t = zone.instant(wall.year, wall.month + 1, wall.day, wall.hour, wall.minute, wall.second);
      wall = zone.wall(t);
      if (wall.month === 1) continue wrap;
    }
    while (!dayMatches(schedule, wall.year, wall.month, wall.day)) {
      if (!added) {
        added = true;
        t = zone.instant(wall.year, wall.month, wall.day);
        wall = zone.wall(t);
      }
      t = zone.instant(wall.year, wall.month, wall.day + 1, wall.hour, wall.minute, wall.second);
      wall = zone.wall(t);
      // Midnight may not exist on a DST day: move back to (or up to) the day's first hour.
      if (wall.hour !== 0) {
        t += (wall.hour > 12 ? 24 - wall.hour : -wall.hour) * HOUR_MS;
        wall = zone.wall(t);
      }
      if (wall.day === 1) continue wrap;
    }
    while (!has(schedule.hour, wall.hour)) {
      if (!added) {
        added = true;
        t = zone.instant(wall.year, wall.month, wall.day, wall.hour);
      }
      t += HOUR_MS;
      wall = zone.wall(t);
      if (wall.hour === 0) continue wrap;
    }
    while (!has(schedule.minute, wall.minute)) {
      if (!added) {
        added = true;
        t = Math.floor(t / MINUTE_MS) * MINUTE_MS;
      }
      t += MINUTE_MS;
      wall = zone.wall(t);
      if (wall.minute === 0) continue wrap;
    }
    while (!has(schedule.second, wall.second)) {
      if (!added) {
        added = true;
        t = Math.floor(t / SECOND_MS) * SECOND_MS;
      }
      t += SECOND_MS;
      wall = zone.wall(t);
      if (wall.second === 0) continue wrap;
    }
    return t;
  }
}

/**
 * How long a cron run waits before its first workflow task (the server's GetBackoffForNextSchedule): the first
 * activation after `scheduledTime` (the previous run's execution time, or now for the first run) that is not
 * before `now`, rounded up to whole seconds. Undefined when the schedule has no further time.
 */
export function cronBackoffMs(schedule: CronSchedule, scheduledTime: number, now: number): number | undefined {
  let next: number | undefined;
  if (now < scheduledTime) {
    next = scheduledTime;
  } else {
    next = nextTime(schedule, scheduledTime);
    while (next !== undefined && next < now) next = nextTime(schedule, next);
  }
  if (next === undefined) return undefined;
  return Math.ceil((next - now) / SECOND_MS) * SECOND_MS;
}
