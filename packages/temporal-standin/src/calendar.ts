/**
 * Schedule specs as the Temporal server compiles and evaluates them (its service/worker/scheduler spec.go and
 * calendar.go): cron strings and string calendars become structured calendars (DescribeSchedule returns that
 * form, and the SDK decodes only it), `@every 1h/15m` cron strings become intervals with a phase, `TZ=`/`CRON_TZ=`
 * prefixes set the spec's time zone. Matching times are searched field by field in the spec's `timezone_name`
 * (Intl), across DST as the server does: a wall time a spring-forward jump skips does not happen that day, and in
 * the hour a fall-back repeats, times match in both copies. Every calendar field must match (a cron string's
 * day-of-month and day-of-week are ANDed, not ORed as in classic cron). Jitter is fixed per nominal time.
 */
import { parseGoDuration } from './go-duration';
import { duration, durationMs, invalidArgument, type Msg, timestampMs } from './proto';
import { daysInMonth, TimeZone, weekday } from './time-zone';

interface Range {
  start: number;
  end: number;
  step: number;
}
type Field = 'second' | 'minute' | 'hour' | 'dayOfMonth' | 'month' | 'year' | 'dayOfWeek';
type ParseMode = 'int' | 'year' | 'month' | 'dayOfWeek';

/** Bounds of string input (day of week accepts 7 for Sunday), the default of an absent field, how names parse. */
const FIELDS: Record<Field, { min: number; max: number; fallback: string; mode: ParseMode; label: string }> = {
  second: { min: 0, max: 59, fallback: '0', mode: 'int', label: 'Second' },
  minute: { min: 0, max: 59, fallback: '0', mode: 'int', label: 'Minute' },
  hour: { min: 0, max: 23, fallback: '0', mode: 'int', label: 'Hour' },
  dayOfWeek: { min: 0, max: 7, fallback: '*', mode: 'dayOfWeek', label: 'DayOfWeek' },
  dayOfMonth: { min: 1, max: 31, fallback: '*', mode: 'int', label: 'DayOfMonth' },
  month: { min: 1, max: 12, fallback: '*', mode: 'month', label: 'Month' },
  year: { min: 2000, max: 2100, fallback: '*', mode: 'year', label: 'Year' },
};
const FIELD_NAMES = Object.keys(FIELDS) as Field[];
const MAX_YEAR = 2100;
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const PREDEFINED: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------------------------
// Parsing to the canonical (stored) form

/** An integer, or a month (3+ letters) or day-of-week (2+ letters) name prefix. */
function parseValue(text: string, min: number, max: number, mode: ParseMode): number {
  const names = mode === 'month' ? MONTHS : mode === 'dayOfWeek' ? DAYS : undefined;
  if (names && text.length >= (mode === 'month' ? 3 : 2)) {
    const index = names.findIndex((name) => name.startsWith(text.toLowerCase()));
    if (index >= 0) {
      const value = mode === 'month' ? index + 1 : index;
      if (value < min || value > max) throw new RangeError('out of range');
      return value;
    }
  }
  if (!/^[-+]?\d+$/.test(text)) throw new RangeError(`invalid value ${text}`);
  const value = Number(text);
  if (value < min || value > max) throw new RangeError('out of range');
  return value;
}

/** `*`, `5`, `1-5`, `*\/15`, `3/5` (3 to the maximum by 5), `10-40/10`, names, comma-separated. */
function makeRanges(text: string | undefined, field: Field): Range[] {
  const { min, max, fallback, mode, label } = FIELDS[field];
  const source = (text ?? '').trim() || fallback;
  if (source === '*' && mode === 'year') return [];
  const ranges: Range[] = [];
  for (const original of source.split(',')) {
    let part = original;
    let step = 1;
    const slashes = part.split('/').length - 1;
    if (slashes > 1) throw invalidArgument(`${label} has too many slashes`);
    if (slashes === 1) {
      const [body, stepText] = part.split('/') as [string, string];
      if (stepText === '') throw invalidArgument(`${label} missing step value`);
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) throw invalidArgument(`${label} has invalid Step`);
      part = body;
      step = Number(stepText);
    }
    let start = min;
    let end = max;
    if (part !== '*') {
      if (part.includes('-')) {
        const pieces = part.split('-');
        if (pieces.length !== 2) throw invalidArgument(`${label} has too many dashes`);
        try {
          start = parseValue(pieces[0]!, min, max, mode);
        } catch {
          throw invalidArgument(`${label} Start is not in range [${min}-${max}]`);
        }
        try {
          end = parseValue(pieces[1]!, start, max, mode);
        } catch {
          throw invalidArgument(`${label} End is before Start or not in range [${min}-${max}]`);
        }
      } else {
        try {
          start = parseValue(part, min, max, mode);
        } catch {
          throw invalidArgument(`${label} is not in range [${min}-${max}]`);
        }
        // `3/5` runs from 3 to the maximum; a bare `3` is just 3.
        if (slashes === 0) end = start;
      }
    }
    // Sunday may be written 7: fold it into 0, adding a separate 0 when the range cannot simply end at 6.
    if (mode === 'dayOfWeek' && end === 7) {
      if ((7 - start) % step === 0 && (step > 1 || start > 1)) {
        ranges.push({ start: 0, end: 0, step: 1 });
        if (start === 7) continue;
      }
      end = 6;
    }
    ranges.push({ start, end, step });
  }
  return ranges;
}

/** A CalendarSpec (strings) as a StructuredCalendarSpec. */
function parseCalendar(calendar: Msg): Msg {
  const structured: Msg = { comment: (calendar.comment as string) ?? '' };
  for (const field of FIELD_NAMES) structured[field] = makeRanges(calendar[field] as string | undefined, field);
  return structured;
}

/** A schedule cron string: a calendar or an `@every` interval, and the time zone its prefix names ('' if none). */
function parseCronString(cron: string): { calendar?: Msg; interval?: Msg; timeZone: string } {
  let text = cron.trim();
  let timeZone = '';
  if (text.startsWith('TZ=') || text.startsWith('CRON_TZ=')) {
    const space = text.indexOf(' ');
    if (space < 0) throw invalidArgument('CronString has time zone but missing fields');
    timeZone = text.slice(text.indexOf('=') + 1, space);
    text = text.slice(space + 1);
  }
  const hash = text.indexOf('#');
  const comment = hash >= 0 ? text.slice(hash + 1).trim() : '';
  text = (hash >= 0 ? text.slice(0, hash) : text).trim();
  if (text.startsWith('@every')) return { interval: parseEvery(text), timeZone: '' };
  text = PREDEFINED[text] ?? text;
  const fields = text.split(/\s+/).filter(Boolean);
  const calendar: Msg = { comment };
  if (fields.length === 5) [calendar.minute, calendar.hour, calendar.dayOfMonth, calendar.month, calendar.dayOfWeek] = fields;
  else if (fields.length === 6) [calendar.minute, calendar.hour, calendar.dayOfMonth, calendar.month, calendar.dayOfWeek, calendar.year] = fields;
  else if (fields.length === 7) [calendar.second, calendar.minute, calendar.hour, calendar.dayOfMonth, calendar.month, calendar.dayOfWeek, calendar.year] = fields;
  else throw invalidArgument('CronString does not have 5-7 fields');
  return { calendar: parseCalendar(calendar), timeZone };
}

/** `@every 14h` or `@every 14h/3h` (interval and phase). */
function parseEvery(text: string): Msg {
  const space = text.indexOf(' ');
  if (space < 0) throw invalidArgument('CronString does not have interval after @every');
  const [intervalText, phaseText] = text.slice(space + 1).trim().split('/') as [string, string | undefined];
  const every = parseGoDuration(intervalText, { days: true });
  if (every === undefined) throw invalidArgument(`invalid duration ${intervalText}`);
  if (!phaseText) return { interval: duration(every) };
  const phase = parseGoDuration(phaseText, { days: true });
  if (phase === undefined) throw invalidArgument(`invalid duration ${phaseText}`);
  return { interval: duration(every), phase: duration(phase) };
}

/** Ranges with the server's defaults filled in (end at least start, step at least 1), checked against the bounds. */
function cleanStructured(calendar: Msg): Msg {
  const errors: string[] = [];
  const cleaned: Msg = { comment: (calendar.comment as string) ?? '' };
  for (const field of FIELD_NAMES) {
    const { min, label } = FIELDS[field];
    const max = field === 'dayOfWeek' ? 6 : FIELDS[field].max;
    cleaned[field] = ((calendar[field] ?? []) as Msg[]).map((range) => {
      const start = Number(range.start ?? 0);
      const end = Number(range.end ?? 0);
      const step = Number(range.step ?? 0);
      if (start < min || start > max) errors.push(`${label} Start is not in range [${min}-${max}]`);
      if (end !== 0 && (end < start || end > max)) errors.push(`${label} End is before Start or not in range [${min}-${max}]`);
      if (step < 0) errors.push(`${label} has invalid Step`);
      return { start, end: Math.max(end, start), step: step || 1 };
    });
  }
  if (cleaned.comment.length > 200) errors.push('comment is too long');
  if (errors.length > 0) throw invalidArgument(`invalid calendar spec: ${errors.join(', ')}`);
  return cleaned;
}

function checkInterval(interval: Msg): Msg {
  const every = durationMs(interval.interval) ?? 0;
  const phase = durationMs(interval.phase) ?? 0;
  if (every < 1000) throw invalidArgument('interval is too small');
  if (phase >= every) throw invalidArgument('phase cannot be greater than Interval');
  return interval;
}

/**
 * The spec the server stores: calendars and cron strings compiled into structured calendars and intervals, the
 * cron strings' time zone moved to `timezone_name`. Invalid specs are INVALID_ARGUMENT, as on the server.
 */
export function compileSpec(spec: Msg): Msg {
  if (spec.timezoneData && (spec.timezoneData as Uint8Array).length > 0) throw invalidArgument('timezone_data is not supported by the Temporal stand-in; use timezone_name');
  const structured = [...((spec.structuredCalendar ?? []) as Msg[]), ...((spec.calendar ?? []) as Msg[]).map(parseCalendar)];
  const intervals = [...((spec.interval ?? []) as Msg[])];
  let cronTimeZone: string | undefined;
  for (const cron of (spec.cronString ?? []) as string[]) {
    const parsed = parseCronString(cron);
    // All cron strings must agree on their time zone, present or not.
    if (cronTimeZone !== undefined && parsed.timeZone !== cronTimeZone) throw invalidArgument('conflicting timezone names');
    cronTimeZone = parsed.timeZone;
    if (parsed.calendar) structured.push(parsed.calendar);
    if (parsed.interval) intervals.push(parsed.interval);
  }
  let timezoneName = (spec.timezoneName as string) || '';
  if (cronTimeZone) {
    if (timezoneName && timezoneName !== cronTimeZone) throw invalidArgument('conflicting timezone names');
    timezoneName = cronTimeZone;
  }
  TimeZone.named(timezoneName);
  return {
    ...spec,
    structuredCalendar: structured.map(cleanStructured),
    excludeStructuredCalendar: [...((spec.excludeStructuredCalendar ?? []) as Msg[]), ...((spec.excludeCalendar ?? []) as Msg[]).map(parseCalendar)].map(cleanStructured),
    interval: intervals.map(checkInterval),
    timezoneName,
    calendar: [],
    cronString: [],
    excludeCalendar: [],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

type Matcher = (value: number) => boolean;
interface CompiledCalendar {
  zone: TimeZone;
  year: Matcher;
  month: Matcher;
  dayOfMonth: Matcher;
  dayOfWeek: Matcher;
  hour: Matcher;
  minute: Matcher;
  second: Matcher;
}
interface CompiledSpec {
  calendars: CompiledCalendar[];
  excludes: CompiledCalendar[];
  /** Seconds. */
  intervals: Array<{ every: number; phase: number }>;
  startTime?: number;
  endTime?: number;
}

function matcher(ranges: Msg[] | undefined, emptyMatchesAll: boolean): Matcher {
  const values = new Set<number>();
  for (const range of ranges ?? []) {
    const start = Number(range.start ?? 0);
    const end = Math.max(Number(range.end ?? 0), start);
    const step = Number(range.step ?? 0) || 1;
    for (let value = start; value <= end; value += step) values.add(value);
  }
  if (emptyMatchesAll && values.size === 0) return () => true;
  return (value) => values.has(value);
}

function compileCalendar(calendar: Msg, zone: TimeZone): CompiledCalendar {
  return {
    zone,
    // An empty year list means every year; an empty list elsewhere matches nothing (the canonical form fills them).
    year: matcher(calendar.year, true),
    month: matcher(calendar.month, false),
    dayOfMonth: matcher(calendar.dayOfMonth, false),
    dayOfWeek: matcher(calendar.dayOfWeek, false),
    hour: matcher(calendar.hour, false),
    minute: matcher(calendar.minute, false),
    second: matcher(calendar.second, false),
  };
}

const compiledSpecs = new WeakMap<Msg, CompiledSpec>();

/** `spec` is a canonical (compileSpec) spec; its evaluation form is built once. */
function compiled(spec: Msg): CompiledSpec {
  let result = compiledSpecs.get(spec);
  if (!result) {
    const zone = TimeZone.named(spec.timezoneName as string);
    result = {
      calendars: ((spec.structuredCalendar ?? []) as Msg[]).map((calendar) => compileCalendar(calendar, zone)),
      excludes: ((spec.excludeStructuredCalendar ?? []) as Msg[]).map((calendar) => compileCalendar(calendar, zone)),
      intervals: ((spec.interval ?? []) as Msg[]).map((interval) => ({
        every: Math.max(Math.floor((durationMs(interval.interval) ?? 0) / 1000), 1),
        phase: Math.max(Math.floor((durationMs(interval.phase) ?? 0) / 1000), 0),
      })),
      ...(timestampMs(spec.startTime) !== undefined ? { startTime: timestampMs(spec.startTime)! } : {}),
      ...(timestampMs(spec.endTime) !== undefined ? { endTime: timestampMs(spec.endTime)! } : {}),
    };
    compiledSpecs.set(spec, result);
  }
  return result;
}

function calendarMatches(calendar: CompiledCalendar, at: number): boolean {
  const wall = calendar.zone.wall(at);
  return (
    calendar.year(wall.year) &&
    calendar.month(wall.month) &&
    calendar.dayOfMonth(wall.day) &&
    calendar.dayOfWeek(weekday(wall.year, wall.month, wall.day)) &&
    calendar.hour(wall.hour) &&
    calendar.minute(wall.minute) &&
    calendar.second(wall.second)
  );
}

/**
 * The first time (whole seconds) after `after` that the calendar matches, searching wall-clock fields from the
 * outside in. Around DST: an hour that a jump skips is tried again an hour later (so a fall-back's repeated hour is
 * walked twice), and a wall time that does not exist is passed over.
 */
function nextCalendarTime(calendar: CompiledCalendar, after: number): number | undefined {
  const zone = calendar.zone;
  const from = Math.floor(after / 1000) * 1000;
  let { year, month, day, hour, minute, second } = zone.wall(from);
  let dstOffset = zone.inRepeatedHour(from) ? HOUR_MS : 0;
  second++;
  outer: for (;;) {
    if (second >= 60) [minute, second] = [minute + 1, 0];
    if (minute >= 60) {
      const previous = zone.instant(year, month, day, hour);
      [hour, minute] = [hour + 1, 0];
      // An hour boundary that is two real hours apart passed over the repeated hour: walk it again, offset.
      if (dstOffset === 0 && zone.instant(year, month, day, hour) - previous > HOUR_MS) {
        hour--;
        dstOffset = HOUR_MS;
      } else {
        dstOffset = 0;
      }
    }
    if (hour >= 24) [day, hour] = [day + 1, 0];
    if (day > daysInMonth(year, month)) [month, day] = [month + 1, 1];
    if (month > 12) [year, month] = [year + 1, 1];
    if (year > MAX_YEAR) return undefined;
    if (!calendar.year(year)) {
      [year, month, day, hour, minute, second, dstOffset] = [year + 1, 1, 1, 0, 0, 0, 0];
      continue;
    }
    while (!calendar.month(month)) {
      [month, day, hour, minute, second, dstOffset] = [month + 1, 1, 0, 0, 0, 0];
      if (month > 12) continue outer;
    }
    while (!calendar.dayOfMonth(day) || !calendar.dayOfWeek(weekday(year, month, day))) {
      [day, hour, minute, second, dstOffset] = [day + 1, 0, 0, 0, 0];
      if (day > daysInMonth(year, month)) continue outer;
    }
    while (!calendar.hour(hour)) {
      [hour, minute, second, dstOffset] = [hour + 1, 0, 0, 0];
      if (hour >= 24) continue outer;
    }
    while (!calendar.minute(minute)) {
      [minute, second] = [minute + 1, 0];
      if (minute >= 60) continue outer;
    }
    while (!calendar.second(second)) {
      second++;
      if (second >= 60) continue outer;
    }
    const at = zone.instant(year, month, day, hour, minute, second);
    // A wall time a spring-forward jump skipped reads as another hour: it does not happen.
    if (zone.wall(at).hour !== hour) {
      [hour, minute, second] = [hour + 1, 0, 0];
      continue;
    }
    return at + dstOffset;
  }
}

/** The earliest time after `after` any calendar or interval of the spec gives, excluded calendars not applied. */
function rawNextTime(spec: CompiledSpec, after: number): number | undefined {
  let best: number | undefined;
  for (const calendar of spec.calendars) {
    const at = nextCalendarTime(calendar, after);
    if (at !== undefined && (best === undefined || at < best)) best = at;
  }
  const seconds = Math.floor(after / 1000);
  for (const { every, phase } of spec.intervals) {
    const at = ((Math.floor((seconds - phase) / every) + 1) * every + phase) * 1000;
    if (best === undefined || at < best) best = at;
  }
  return best;
}

/** The first nominal (unjittered) time strictly after `after` that a compiled spec matches. */
export function nextMatchingTime(spec: Msg, after: number): number | undefined {
  const compiledSpec = compiled(spec);
  // Starting before the spec's start time: from just before it, so its first second can match.
  let from = compiledSpec.startTime !== undefined ? Math.max(after, compiledSpec.startTime - 1000) : after;
  for (let guard = 0; guard < 100_000; guard++) {
    const nominal = rawNextTime(compiledSpec, from);
    if (nominal === undefined || (compiledSpec.endTime !== undefined && nominal > compiledSpec.endTime) || new Date(nominal).getUTCFullYear() > MAX_YEAR) return undefined;
    if (!compiledSpec.excludes.some((exclude) => calendarMatches(exclude, nominal))) return nominal;
    from = nominal;
  }
  return undefined;
}

/** The nominal times in (after, until]. */
export function matchingTimes(spec: Msg, after: number, until: number, limit = 1000): number[] {
  const times: number[] = [];
  for (let at = nextMatchingTime(spec, after); at !== undefined && at <= until && times.length < limit; at = nextMatchingTime(spec, at)) times.push(at);
  return times;
}

/**
 * The jitter the server adds to a nominal time: random in [0, jitter), never past the next nominal time, but fixed
 * per time so that describe's future action times and the action agree.
 */
export function jittered(spec: Msg, nominal: number, next: number | undefined): number {
  let jitter = durationMs(spec.jitter) ?? 0;
  if (next !== undefined) jitter = Math.min(jitter, next - nominal);
  if (jitter <= 0) return nominal;
  let hash = nominal % 2_147_483_647;
  hash = (hash * 48_271) % 2_147_483_647;
  return nominal + (hash % jitter);
}

