/**
 * Schedule specs as the server compiles them: cron strings and string calendars become structured calendars
 * (`DescribeSchedule` returns them that way, and the SDK decodes only that form); matching times come from
 * structured calendars and intervals (with phase), bounded by start and end time, minus excluded calendars.
 * Times are UTC (`timezone_name` is not applied). As on the server, every calendar field must match (a cron
 * string's day-of-month and day-of-week are ANDed, not ORed as in classic cron).
 */
import { invalidArgument, type Msg, durationMs, timestampMs } from './proto';

interface Range {
  start: number;
  end: number;
  step: number;
}
type Field = 'second' | 'minute' | 'hour' | 'dayOfMonth' | 'month' | 'year' | 'dayOfWeek';
const FIELDS: Field[] = ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'year', 'dayOfWeek'];
/** What an absent field means (CalendarSpec's documented defaults). */
const DEFAULTS: Record<Field, string> = { second: '0', minute: '0', hour: '0', dayOfMonth: '*', month: '*', year: '*', dayOfWeek: '*' };
const BOUNDS: Record<Field, [number, number]> = {
  second: [0, 59],
  minute: [0, 59],
  hour: [0, 23],
  dayOfMonth: [1, 31],
  month: [1, 12],
  year: [1970, 2199],
  dayOfWeek: [0, 6],
};
const NAMES: Partial<Record<Field, string[]>> = {
  month: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  dayOfWeek: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
};
const CRON_ALIASES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

function parseValue(field: Field, text: string): number {
  const names = NAMES[field];
  const byName = names?.findIndex((name) => text.toLowerCase().startsWith(name));
  const value = byName !== undefined && byName >= 0 ? byName + (field === 'month' ? 1 : 0) : Number(text);
  if (!Number.isInteger(value)) throw invalidArgument(`invalid ${field} value "${text}"`);
  return field === 'dayOfWeek' && value === 7 ? 0 : value;
}

/** `*`, `5`, `1-5`, `*\/15`, `10-40/10`, `mon-fri`, comma-separated. */
function parseField(field: Field, text: string): Range[] {
  const [low, high] = BOUNDS[field];
  return text.split(',').map((part) => {
    const [body, stepText] = part.trim().split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw invalidArgument(`invalid ${field} step "${part}"`);
    let start: number;
    let end: number;
    if (body === '*' || body === '?') [start, end] = [low, high];
    else if (body!.includes('-')) [start, end] = body!.split('-').map((value) => parseValue(field, value)) as [number, number];
    else {
      start = parseValue(field, body!);
      end = stepText === undefined ? start : high;
    }
    if (field === 'dayOfWeek' && end === 0 && start > 0) end = 6;
    if (start < low || end > high || start > end) throw invalidArgument(`${field} "${part}" is out of range`);
    return { start, end, step };
  });
}

/** A 5-field cron string (or a `@daily`-style alias) as a structured calendar. */
export function cronToStructured(cron: string): Msg {
  const text = CRON_ALIASES[cron.trim().toLowerCase()] ?? cron.trim();
  if (text.startsWith('@every')) throw invalidArgument('@every cron strings are not supported by the Temporal stand-in');
  const parts = text.split(/\s+/);
  if (parts.length !== 5) throw invalidArgument(`invalid cron string "${cron}": expected 5 fields`);
  const [minute, hour, dayOfMonth, month, dayOfWeek] = parts as [string, string, string, string, string];
  return toStructured({ second: '0', minute, hour, dayOfMonth, month, dayOfWeek, year: '*' });
}

function toStructured(calendar: Partial<Record<Field, string>> & { comment?: string }): Msg {
  const structured: Msg = { comment: calendar.comment ?? '' };
  for (const field of FIELDS) structured[field] = parseField(field, calendar[field] || DEFAULTS[field]);
  return structured;
}

/** The spec the server stores: cron strings and string calendars compiled into structured calendars. */
export function compileSpec(spec: Msg): Msg {
  return {
    ...spec,
    structuredCalendar: [
      ...((spec.structuredCalendar ?? []) as Msg[]),
      ...((spec.calendar ?? []) as Msg[]).map((calendar) => toStructured(calendar)),
      ...((spec.cronString ?? []) as string[]).map(cronToStructured),
    ],
    excludeStructuredCalendar: [...((spec.excludeStructuredCalendar ?? []) as Msg[]), ...((spec.excludeCalendar ?? []) as Msg[]).map((calendar) => toStructured(calendar))],
    calendar: [],
    cronString: [],
    excludeCalendar: [],
  };
}

function matches(ranges: Msg[] | undefined, value: number, field: Field): boolean {
  const list = ranges && ranges.length > 0 ? ranges : parseField(field, DEFAULTS[field]);
  return list.some((range) => {
    const start = Number(range.start ?? 0);
    const end = Math.max(Number(range.end ?? 0), start);
    const step = Number(range.step ?? 0) || 1;
    return value >= start && value <= end && (value - start) % step === 0;
  });
}

function values(ranges: Msg[] | undefined, field: Field): number[] {
  const [low, high] = BOUNDS[field];
  const out: number[] = [];
  for (let value = low; value <= high; value++) if (matches(ranges, value, field)) out.push(value);
  return out;
}

const DAY = 86_400_000;
/** How far ahead a calendar is searched; beyond it the schedule has no next time. */
const HORIZON_DAYS = 366 * 5;

/** The first time strictly after `after` that the structured calendar matches. */
function nextCalendarTime(calendar: Msg, after: number): number | undefined {
  const seconds = values(calendar.second, 'second');
  const minutes = values(calendar.minute, 'minute');
  const hours = values(calendar.hour, 'hour');
  let day = Math.floor(after / DAY) * DAY;
  for (let i = 0; i <= HORIZON_DAYS; i++, day += DAY) {
    const date = new Date(day);
    if (!matches(calendar.year, date.getUTCFullYear(), 'year')) continue;
    if (!matches(calendar.month, date.getUTCMonth() + 1, 'month')) continue;
    if (!matches(calendar.dayOfMonth, date.getUTCDate(), 'dayOfMonth')) continue;
    if (!matches(calendar.dayOfWeek, date.getUTCDay(), 'dayOfWeek')) continue;
    for (const hour of hours) {
      if (day + (hour + 1) * 3_600_000 <= after) continue;
      for (const minute of minutes) {
        for (const second of seconds) {
          const at = day + hour * 3_600_000 + minute * 60_000 + second * 1000;
          if (at > after) return at;
        }
      }
    }
  }
  return undefined;
}

function excluded(spec: Msg, at: number): boolean {
  const date = new Date(at);
  const parts: Record<Field, number> = {
    second: date.getUTCSeconds(),
    minute: date.getUTCMinutes(),
    hour: date.getUTCHours(),
    dayOfMonth: date.getUTCDate(),
    month: date.getUTCMonth() + 1,
    year: date.getUTCFullYear(),
    dayOfWeek: date.getUTCDay(),
  };
  return ((spec.excludeStructuredCalendar ?? []) as Msg[]).some((calendar) => FIELDS.every((field) => matches(calendar[field], parts[field], field)));
}

/** The first nominal (unjittered) time strictly after `after` that a compiled spec matches. */
export function nextMatchingTime(spec: Msg, after: number): number | undefined {
  const startTime = timestampMs(spec.startTime);
  const endTime = timestampMs(spec.endTime);
  let from = startTime !== undefined ? Math.max(after, startTime - 1) : after;
  for (let guard = 0; guard < 10_000; guard++) {
    let best: number | undefined;
    for (const calendar of (spec.structuredCalendar ?? []) as Msg[]) {
      const at = nextCalendarTime(calendar, from);
      if (at !== undefined && (best === undefined || at < best)) best = at;
    }
    for (const interval of (spec.interval ?? []) as Msg[]) {
      const every = durationMs(interval.interval);
      if (!every) continue;
      const phase = (durationMs(interval.phase) ?? 0) % every;
      const at = Math.floor((from - phase) / every) * every + phase + every;
      if (best === undefined || at < best) best = at;
    }
    if (best === undefined || (endTime !== undefined && best > endTime)) return undefined;
    if (!excluded(spec, best)) return best;
    from = best;
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
 * The jitter the server adds to a nominal time: random in [0, jitter), but fixed per time so that describe's
 * future action times and the action agree.
 */
export function jittered(spec: Msg, nominal: number, next: number | undefined): number {
  let jitter = durationMs(spec.jitter) ?? 0;
  if (next !== undefined) jitter = Math.min(jitter, next - nominal);
  if (jitter <= 0) return nominal;
  let hash = nominal % 2_147_483_647;
  hash = (hash * 48_271) % 2_147_483_647;
  return nominal + (hash % jitter);
}
