/**
 * IANA time zones through Node's Intl (full ICU ships with Node): the wall-clock fields of an instant, and the
 * instant of wall-clock fields with Go's `time.Date` rules, which the Temporal server's schedule and cron code
 * relies on: a wall time skipped by a DST jump resolves with the offset from before the jump (so it reads as a
 * different hour, which callers detect), and a repeated wall time resolves to its first occurrence.
 */
import { invalidArgument } from './proto';

export interface WallTime {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const HOUR_MS = 3_600_000;

export class TimeZone {
  private static readonly zones = new Map<string, TimeZone>();

  /** '' and 'UTC' are UTC (as Go's time.LoadLocation); an unknown name is an INVALID_ARGUMENT. */
  static named(name: string | undefined | null): TimeZone {
    const key = name || 'UTC';
    let zone = TimeZone.zones.get(key);
    if (!zone) {
      zone = new TimeZone(key);
      TimeZone.zones.set(key, zone);
    }
    return zone;
  }

  private readonly format: Intl.DateTimeFormat | undefined;

  private constructor(readonly name: string) {
    if (name === 'UTC') return;
    try {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone: name,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw invalidArgument(`unknown time zone ${name}`);
    }
  }

  /** The wall-clock fields at instant `ms` (whole seconds). */
  wall(ms: number): WallTime {
    if (!this.format) {
      const date = new Date(ms);
      return {
        year: date.getUTCFullYear(),
        month: date.getUTCMonth() + 1,
        day: date.getUTCDate(),
        hour: date.getUTCHours(),
        minute: date.getUTCMinutes(),
        second: date.getUTCSeconds(),
      };
    }
    const fields: Record<string, number> = {};
    for (const part of this.format.formatToParts(new Date(ms))) if (part.type !== 'literal') fields[part.type] = Number(part.value);
    return { year: fields.year!, month: fields.month!, day: fields.day!, hour: fields.hour! % 24, minute: fields.minute!, second: fields.second! };
  }

  /** UTC offset at instant `ms`, in milliseconds (east positive). */
  offset(ms: number): number {
    if (!this.format) return 0;
    const seconds = Math.floor(ms / 1000) * 1000;
    const wall = this.wall(seconds);
    return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second) - seconds;
  }

  /**
   * The instant of a wall-clock time; out-of-range fields carry over (hour 24 is the next day's 0:00) as in
   * `time.Date`. Go looks up the offset in force at the wall time read as UTC and keeps it when the result lies in
   * the same offset period; otherwise it takes the offset at the result.
   */
  instant(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
    const local = Date.UTC(year, month - 1, day, hour, minute, second);
    if (!this.format) return local;
    const guess = this.offset(local);
    const utc = local - guess;
    const actual = this.offset(utc);
    return actual === guess ? utc : local - actual;
  }

  /** True when `ms` is in the second copy of a wall-clock hour that DST repeats (Go: t.Add(-1h).Hour() == t.Hour()). */
  inRepeatedHour(ms: number): boolean {
    return this.format !== undefined && this.wall(ms - HOUR_MS).hour === this.wall(ms).hour;
  }
}

export function weekday(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
