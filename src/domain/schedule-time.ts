/**
 * Time math of the daily schedule, in the client's wall time. Pure (only `Intl` through domain/dates),
 * so the daily workflow uses it directly. Deadlines are computed from local wall time, never by adding
 * hours to midnight, so 23- and 25-hour days (DST) put them where a person in that zone expects.
 */
import { addDays, businessDateOfInstant, previousDate, utcOffsetMs } from './dates.js';

const MS_PER_DAY = 86_400_000;
const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes after midnight of `HH:MM`; throws on anything else. */
export const minutesOfDay = (hhmm: string): number => {
  const match = TIME_OF_DAY.exec(hhmm);
  if (match === null) throw new RangeError(`not a time of day HH:MM: ${JSON.stringify(hhmm)}`);
  return Number(match[1]) * 60 + Number(match[2]);
};

const SECOND_FIRING_OFFSET_MINUTES = 3 * 60;

/**
 * The daily schedule's second firing, the same local day: three hours after `hhmm` (before it, for a time after 21:00).
 * Temporal skips a calendar time that a DST change jumps over (zones such as America/Santiago or America/Havana move
 * their clocks at midnight, so 00:05 does not exist that day); no zone skips two times three hours apart on one day,
 * so one of the two firings always happens. The second finds the date's run started and does nothing.
 */
export const secondFiringTime = (hhmm: string): string => {
  const first = minutesOfDay(hhmm);
  const second = first + SECOND_FIRING_OFFSET_MINUTES < 24 * 60 ? first + SECOND_FIRING_OFFSET_MINUTES : first - SECOND_FIRING_OFFSET_MINUTES;
  return `${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}`;
};

/**
 * The instant (epoch ms) at which the wall clock in `timeZone` shows `hhmm` on `date`.
 * A time skipped by a spring-forward gap maps to the instant after the gap (02:30 → 03:30 EDT);
 * a time shown twice after a fall-back maps to its first occurrence.
 */
export const instantOfLocalTime = (date: string, hhmm: string, timeZone: string): number => {
  const localAsUtc = Date.parse(`${date}T00:00:00Z`) + minutesOfDay(hhmm) * 60_000;
  if (Number.isNaN(localAsUtc)) throw new RangeError(`not a date YYYY-MM-DD: ${JSON.stringify(date)}`);
  // At most one offset change lies within a day of any wall time: try the offsets on either side.
  const before = utcOffsetMs(localAsUtc - MS_PER_DAY, timeZone);
  const after = utcOffsetMs(localAsUtc + MS_PER_DAY, timeZone);
  const exact = [localAsUtc - before, localAsUtc - after].filter((t) => t + utcOffsetMs(t, timeZone) === localAsUtc);
  if (exact.length > 0) return Math.min(...exact);
  // In the gap: read the wall time with the offset in force before it.
  return localAsUtc - before;
};

/** The business date a run scheduled at `scheduledAtMs` works on: the day before, in the client's zone. */
export const businessDateForRun = (scheduledAtMs: number, timeZone: string): string =>
  previousDate(businessDateOfInstant(scheduledAtMs, timeZone));

/** When the reconciliation file of `date` is late: `deadline` local time on the next day. */
export const reconciliationDeadline = (date: string, deadline: string, timeZone: string): number =>
  instantOfLocalTime(addDays(date, 1), deadline, timeZone);

/** A duration as `5h 55m` (or `42s`) for logs, alerts and the UI. */
export const formatDuration = (ms: number): string => {
  const sign = ms < 0 ? '-' : '';
  let s = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', s && !d && !h ? `${s}s` : ''].filter(Boolean);
  return `${sign}${parts.join(' ') || '0s'}`;
};
