/**
 * Calendar and time-zone arithmetic of src/domain/dates.ts, checked against the JavaScript Date (UTC calendar) and
 * the zones' known offsets: day numbers both ways across centuries, errors named, caches that never change an answer.
 */
import { describe, expect, it } from 'vitest';
import {
  addDays,
  businessDate,
  businessDateOfInstant,
  daysBetween,
  formatTimestamp,
  isCalendarDate,
  isValidTimeZone,
  previousDate,
  startOfBusinessDate,
  utcOffsetMs,
  businessDayLengthMs,
} from '../../src/domain/dates.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const iso = (days: number): string => new Date(days * DAY).toISOString().slice(0, 10);
/** Day numbers from 0001-01-01 to 9999-12-31, every 997 days plus the edges of centuries and leap days. */
const sampleDays = (): number[] => {
  const days = new Set<number>();
  for (let d = Math.ceil(Date.parse('0001-01-01T00:00:00Z') / DAY); d <= Date.parse('9999-12-31T00:00:00Z') / DAY; d += 997) days.add(d);
  for (const date of ['0001-01-01', '0009-12-31', '0099-12-31', '0999-12-31', '1900-02-28', '1900-03-01', '2000-02-29', '2000-03-01', '2024-02-29', '2100-02-28', '2100-03-01', '9999-12-31']) {
    days.add(Date.parse(`${date}T00:00:00Z`) / DAY);
  }
  return [...days];
};

describe('calendar arithmetic', () => {
  it('addDays from 1970-01-01 agrees with the UTC calendar from year 1 to 9999, and daysBetween inverts it', () => {
    for (const n of sampleDays()) {
      expect(addDays('1970-01-01', n), String(n)).toBe(iso(n));
      expect(daysBetween('1970-01-01', iso(n)), iso(n)).toBe(n);
    }
  });

  it('steps over month, year, leap-day and century boundaries, both ways', () => {
    expect(addDays('1900-02-28', 1)).toBe('1900-03-01');
    expect(addDays('2000-02-28', 1)).toBe('2000-02-29');
    expect(addDays('2100-03-01', -1)).toBe('2100-02-28');
    expect(previousDate('2027-01-01')).toBe('2026-12-31');
    expect(addDays('0009-12-31', 1)).toBe('0010-01-01');
    expect(addDays('0099-12-31', 1)).toBe('0100-01-01');
    expect(addDays('0999-12-31', 1)).toBe('1000-01-01');
    expect(daysBetween('2026-11-21', '2026-11-20')).toBe(-1);
  });

  it('names what it refuses', () => {
    expect(() => addDays('2026-11-21', 1.5)).toThrow('days must be an integer, got 1.5');
    expect(() => addDays('2026-2-01', 1)).toThrow('not a date YYYY-MM-DD: "2026-2-01"');
    expect(() => addDays('x2026-11-21', 1)).toThrow('not a date YYYY-MM-DD');
    expect(() => addDays('2026-11-21x', 1)).toThrow('not a date YYYY-MM-DD');
    expect(() => addDays('2026-02-30', 1)).toThrow('not a calendar date: 2026-02-30');
    expect(() => daysBetween('2026-13-01', '2026-11-21')).toThrow('not a calendar date: 2026-13-01');
  });

  it('isCalendarDate: true for real dates, also when asked again; false for impossible or malformed ones', () => {
    for (const date of ['2024-02-29', '0001-01-01', '2026-12-31']) {
      expect(isCalendarDate(date), date).toBe(true);
      expect(isCalendarDate(date), `${date} again`).toBe(true);
    }
    for (const date of ['2026-02-29', '2026-04-31', '2026-00-10', '2026-11-00', '2026-11-21T00:00', '']) {
      expect(isCalendarDate(date), date).toBe(false);
      expect(isCalendarDate(date), `${date} again`).toBe(false);
    }
  });
});

describe('time zones', () => {
  it('knows IANA zone names and refuses others', () => {
    expect(isValidTimeZone('America/New_York')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
  });

  it('gives the offset on either side of a DST change to the millisecond, and the same on a repeat', () => {
    const change = Date.parse('2026-03-08T07:00:00Z'); // 02:00 EST becomes 03:00 EDT
    expect(utcOffsetMs(change - 1, 'America/New_York')).toBe(-5 * HOUR);
    expect(utcOffsetMs(change, 'America/New_York')).toBe(-4 * HOUR);
    expect(utcOffsetMs(change - 1, 'America/New_York')).toBe(-5 * HOUR);
    expect(utcOffsetMs(change + 10 * HOUR, 'America/New_York')).toBe(-4 * HOUR);
    expect(utcOffsetMs(change + 10 * HOUR, 'Asia/Kathmandu')).toBe(5.75 * HOUR);
    expect(utcOffsetMs(change + 10 * HOUR, 'America/New_York')).toBe(-4 * HOUR);
  });

  it('is exact on both sides of a change that falls inside a 15-minute bucket (Dublin, 1916-10-01 02:25:21 UTC)', () => {
    expect(utcOffsetMs(Date.parse('1916-10-01T02:26:00Z'), 'Europe/Dublin')).toBe(0);
    expect(utcOffsetMs(Date.parse('1916-10-01T02:25:20Z'), 'Europe/Dublin')).toBe(2_079_000);
    expect(utcOffsetMs(Date.parse('1916-10-01T02:25:21Z'), 'Europe/Dublin')).toBe(0);
  });

  it('reads instants before year 1 (BC) in UTC at offset 0', () => {
    expect(utcOffsetMs(Date.parse('-000100-06-15T12:00:00Z'), 'UTC')).toBe(0);
  });

  it('dates an instant and a timestamp in the zone, and names a bad timestamp', () => {
    expect(businessDateOfInstant(Date.parse('2026-11-22T04:59:59.999Z'), 'America/New_York')).toBe('2026-11-21');
    expect(businessDateOfInstant(Date.parse('2026-11-22T05:00:00Z'), 'America/New_York')).toBe('2026-11-22');
    expect(businessDate('2026-11-22T00:30:00+05:45', 'Asia/Kathmandu')).toBe('2026-11-22');
    expect(() => businessDate('yesterday', 'UTC')).toThrow('not an RFC 3339 timestamp: "yesterday"');
  });

  it('starts a day at local midnight, the same when asked again, and measures 23 h and 25 h days', () => {
    expect(startOfBusinessDate('2026-11-21', 'America/New_York')).toBe(Date.parse('2026-11-21T05:00:00Z'));
    expect(startOfBusinessDate('2026-11-21', 'America/New_York')).toBe(Date.parse('2026-11-21T05:00:00Z'));
    expect(startOfBusinessDate('2026-11-21', 'Asia/Tokyo')).toBe(Date.parse('2026-11-20T15:00:00Z'));
    expect(businessDayLengthMs('2026-03-08', 'America/New_York')).toBe(23 * HOUR);
    expect(businessDayLengthMs('2026-11-01', 'America/New_York')).toBe(25 * HOUR);
    expect(businessDayLengthMs('2026-11-21', 'UTC')).toBe(24 * HOUR);
  });
});

describe('formatTimestamp', () => {
  it('writes milliseconds with three digits and the offset, Z in UTC', () => {
    expect(formatTimestamp(5, 'UTC')).toBe('1970-01-01T00:00:00.005Z');
    expect(formatTimestamp(61_050, 'UTC')).toBe('1970-01-01T00:01:01.050Z');
    expect(formatTimestamp(10, 'UTC')).toBe('1970-01-01T00:00:00.010Z');
    expect(formatTimestamp(100, 'UTC')).toBe('1970-01-01T00:00:00.100Z');
    expect(formatTimestamp(Date.parse('2026-11-22T04:59:58.120Z'), 'America/New_York')).toBe('2026-11-21T23:59:58.120-05:00');
    expect(formatTimestamp(Date.parse('2026-11-21T18:15:09.999Z'), 'Asia/Kathmandu')).toBe('2026-11-22T00:00:09.999+05:45');
    expect(formatTimestamp(Date.parse('2026-11-21T10:00:00Z'), 'Europe/London')).toBe('2026-11-21T10:00:00.000Z');
  });

  it('keeps each instant exact when consecutive calls share a minute, or change it', () => {
    const base = Date.parse('2026-11-21T10:11:00Z');
    const seen = [0, 1_500, 59_999, 60_000, 125_321].map((ms) => formatTimestamp(base + ms, 'America/New_York'));
    expect(seen).toEqual([
      '2026-11-21T05:11:00.000-05:00',
      '2026-11-21T05:11:01.500-05:00',
      '2026-11-21T05:11:59.999-05:00',
      '2026-11-21T05:12:00.000-05:00',
      '2026-11-21T05:13:05.321-05:00',
    ]);
  });

  it('rounds an offset with seconds (local mean time, New York 1800: -4:56:02) to whole minutes', () => {
    expect(formatTimestamp(Date.parse('1800-06-01T12:00:00Z'), 'America/New_York')).toBe('1800-06-01T07:04:00.000-04:56');
  });
});
