/** The daily schedule's wall-time math on the two DST change days of 2026 in New York. */
import { describe, expect, it } from 'vitest';
import { businessDayLengthMs } from '../../src/domain/dates.js';
import {
  businessDateForRun,
  formatDuration,
  instantOfLocalTime,
  minutesOfDay,
  reconciliationDeadline,
} from '../../src/domain/schedule-time.js';

const NY = 'America/New_York';
const at = (iso: string): number => Date.parse(iso);
const HOUR = 3_600_000;

describe('schedule time math (America/New_York)', () => {
  it('maps ordinary wall times to instants', () => {
    expect(instantOfLocalTime('2026-11-21', '06:00', NY)).toBe(at('2026-11-21T11:00:00Z'));
    expect(instantOfLocalTime('2026-07-01', '00:05', NY)).toBe(at('2026-07-01T04:05:00Z'));
  });

  it('2026-03-08 (23 h): the run at 00:05 EST works on 03-07 and its deadline is 06:00 EDT, 4 h 55 m later', () => {
    expect(businessDayLengthMs('2026-03-08', NY)).toBe(23 * HOUR);
    const run = instantOfLocalTime('2026-03-08', '00:05', NY);
    expect(run).toBe(at('2026-03-08T05:05:00Z'));
    expect(businessDateForRun(run, NY)).toBe('2026-03-07');
    const deadline = reconciliationDeadline('2026-03-07', '06:00', NY);
    expect(deadline).toBe(at('2026-03-08T10:00:00Z'));
    expect(deadline - run).toBe(4 * HOUR + 55 * 60_000);
  });

  it('2026-03-08: the next run (00:05 EDT on 03-09) works on the 23-hour day itself', () => {
    const run = instantOfLocalTime('2026-03-09', '00:05', NY);
    expect(run).toBe(at('2026-03-09T04:05:00Z'));
    expect(businessDateForRun(run, NY)).toBe('2026-03-08');
    expect(reconciliationDeadline('2026-03-08', '06:00', NY)).toBe(at('2026-03-09T10:00:00Z'));
  });

  it('2026-03-08: a wall time in the spring-forward gap maps to the instant after it', () => {
    expect(instantOfLocalTime('2026-03-08', '02:30', NY)).toBe(at('2026-03-08T07:30:00Z')); // 03:30 EDT
    expect(instantOfLocalTime('2026-03-08', '03:00', NY)).toBe(at('2026-03-08T07:00:00Z'));
    expect(instantOfLocalTime('2026-03-08', '01:59', NY)).toBe(at('2026-03-08T06:59:00Z'));
  });

  it('2026-11-01 (25 h): the run at 00:05 EDT works on 10-31 and its deadline is 06:00 EST, 6 h 55 m later', () => {
    expect(businessDayLengthMs('2026-11-01', NY)).toBe(25 * HOUR);
    const run = instantOfLocalTime('2026-11-01', '00:05', NY);
    expect(run).toBe(at('2026-11-01T04:05:00Z'));
    expect(businessDateForRun(run, NY)).toBe('2026-10-31');
    const deadline = reconciliationDeadline('2026-10-31', '06:00', NY);
    expect(deadline).toBe(at('2026-11-01T11:00:00Z'));
    expect(deadline - run).toBe(6 * HOUR + 55 * 60_000);
  });

  it('2026-11-01: a wall time shown twice maps to its first occurrence (EDT)', () => {
    expect(instantOfLocalTime('2026-11-01', '01:30', NY)).toBe(at('2026-11-01T05:30:00Z'));
    expect(instantOfLocalTime('2026-11-01', '02:00', NY)).toBe(at('2026-11-01T07:00:00Z'));
    const run = instantOfLocalTime('2026-11-02', '00:05', NY);
    expect(businessDateForRun(run, NY)).toBe('2026-11-01');
    expect(reconciliationDeadline('2026-11-01', '06:00', NY)).toBe(at('2026-11-02T11:00:00Z'));
  });

  it('a run late by a few minutes (catch-up) still works on the date it was scheduled for', () => {
    // Scheduled 00:05 on 11-22; the workflow keys on the scheduled time, not on when it ran.
    expect(businessDateForRun(at('2026-11-22T05:05:00Z'), NY)).toBe('2026-11-21');
  });

  it('rejects malformed times and formats durations', () => {
    expect(() => minutesOfDay('24:00')).toThrow(RangeError);
    expect(() => minutesOfDay('6:00')).toThrow(RangeError);
    expect(formatDuration(4 * HOUR + 55 * 60_000)).toBe('4h 55m');
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(-90_000)).toBe('-1m 30s');
  });

  it('minutesOfDay reads HH:MM whole, and refuses anything around it or a non-date with a message naming the value', () => {
    expect(minutesOfDay('23:59')).toBe(23 * 60 + 59);
    expect(() => minutesOfDay('x07:00')).toThrow('not a time of day HH:MM: "x07:00"');
    expect(() => minutesOfDay('07:00x')).toThrow('not a time of day HH:MM: "07:00x"');
    expect(() => instantOfLocalTime('2026-13-45', '06:00', NY)).toThrow('not a date YYYY-MM-DD: "2026-13-45"');
  });

  it('formatDuration prints days, hours and minutes, seconds only under an hour, and 0s for nothing', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(400)).toBe('0s');
    expect(formatDuration(2 * 86_400_000 + 3 * HOUR + 4 * 60_000 + 5_000)).toBe('2d 3h 4m');
    expect(formatDuration(86_400_000 + 5_000)).toBe('1d');
    expect(formatDuration(HOUR + 5_000)).toBe('1h');
    expect(formatDuration(61_000)).toBe('1m 1s');
    expect(formatDuration(5 * 60_000)).toBe('5m');
    expect(formatDuration(-HOUR)).toBe('-1h');
  });
});
