/**
 * Business dates in the client's time zone. Pure and free of Node built-ins (only `Intl` and `Date.parse`),
 * so workflow code may use it. Calendar arithmetic is done on day numbers, never on local clocks.
 */

const MS_PER_DAY = 86_400_000;
/** Zone offsets and their transitions fall on 15-minute UTC boundaries in practice; lookups are cached per bucket. */
const BUCKET_MS = 900_000;
const MAX_CACHED_BUCKETS = 100_000;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
const daysFromCivil = (y: number, m: number, d: number): number => {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
};

/** Inverse of daysFromCivil. */
const civilFromDays = (days: number): { y: number; m: number; d: number } => {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return { y: era * 400 + yoe + (m <= 2 ? 1 : 0), m, d };
};

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);
const pad4 = (n: number): string => (n < 10 ? `000${n}` : n < 100 ? `00${n}` : n < 1000 ? `0${n}` : `${n}`);

const dayTexts = new Map<number, string>();

const formatDays = (days: number): string => {
  let text = dayTexts.get(days);
  if (text === undefined) {
    const { y, m, d } = civilFromDays(days);
    text = `${pad4(y)}-${pad2(m)}-${pad2(d)}`;
    if (dayTexts.size >= 100_000) dayTexts.clear();
    dayTexts.set(days, text);
  }
  return text;
};

const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Day number of a `YYYY-MM-DD` calendar date; throws on anything else (including 2026-02-30). */
const parseDays = (date: string): number => {
  const match = DATE_TEXT.exec(date);
  if (match === null) throw new RangeError(`not a date YYYY-MM-DD: ${JSON.stringify(date)}`);
  const y = Number(match[1]);
  const m = Number(match[2]);
  const d = Number(match[3]);
  const days = daysFromCivil(y, m, d);
  const back = civilFromDays(days);
  if (back.y !== y || back.m !== m || back.d !== d) throw new RangeError(`not a calendar date: ${date}`);
  return days;
};

const knownDates = new Set<string>();

/** True if `date` is a real calendar date written `YYYY-MM-DD` (`2026-02-30` is not). */
export const isCalendarDate = (date: string): boolean => {
  if (knownDates.has(date)) return true;
  try {
    parseDays(date);
  } catch {
    return false;
  }
  if (knownDates.size >= MAX_CACHED_BUCKETS) knownDates.clear();
  knownDates.add(date);
  return true;
};

/** `date` plus `n` days (n may be negative): `addDays('2026-03-01', -1) === '2026-02-28'`. */
export const addDays = (date: string, n: number): string => {
  if (!Number.isInteger(n)) throw new RangeError(`days must be an integer, got ${n}`);
  return formatDays(parseDays(date) + n);
};

/** The calendar day before `date`. */
export const previousDate = (date: string): string => addDays(date, -1);

/** Whole days from `from` to `to` (`daysBetween('2026-11-20', '2026-11-21') === 1`). */
export const daysBetween = (from: string, to: string): number => parseDays(to) - parseDays(from);

// --- time zones ---------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, Map<number, number>>();
const dayStartCache = new Map<string, number>();

const formatterFor = (timeZone: string): Intl.DateTimeFormat => {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
};

/** Zone offset at one instant, computed by Intl (slow: about 6 µs). */
const computeOffsetMs = (epochMs: number, timeZone: string): number => {
  const fields: Record<string, number> = {};
  let bc = false;
  for (const part of formatterFor(timeZone).formatToParts(epochMs)) {
    if (part.type === 'era') bc = part.value === 'BC' || part.value === 'B';
    else if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const year = bc ? 1 - (fields.year ?? 0) : (fields.year ?? 0);
  const localMs =
    daysFromCivil(year, fields.month ?? 1, fields.day ?? 1) * MS_PER_DAY +
    (fields.hour ?? 0) * 3_600_000 +
    (fields.minute ?? 0) * 60_000 +
    (fields.second ?? 0) * 1000;
  return localMs - (epochMs - (((epochMs % 1000) + 1000) % 1000));
};

/** True if `timeZone` is an IANA zone name this runtime knows. */
export const isValidTimeZone = (timeZone: string): boolean => {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
};

/**
 * The zone's UTC offset in ms at an instant (`-18_000_000` for New York in winter). Cached per 15-minute
 * bucket when the offset is the same at both ends of the bucket; otherwise computed exactly per instant.
 */
let lastZone = '';
let lastBucket = NaN;
let lastOffset = 0;

export const utcOffsetMs = (epochMs: number, timeZone: string): number => {
  const bucket = Math.floor(epochMs / BUCKET_MS);
  if (bucket === lastBucket && timeZone === lastZone) return lastOffset;
  let zoneCache = offsetCache.get(timeZone);
  if (zoneCache === undefined) {
    zoneCache = new Map();
    offsetCache.set(timeZone, zoneCache);
  }
  const cached = zoneCache.get(bucket);
  if (cached !== undefined) {
    lastZone = timeZone;
    lastBucket = bucket;
    lastOffset = cached;
    return cached;
  }
  const start = bucket * BUCKET_MS;
  const atStart = computeOffsetMs(start, timeZone);
  const atEnd = computeOffsetMs(start + BUCKET_MS - 1, timeZone);
  if (atStart !== atEnd) return computeOffsetMs(epochMs, timeZone);
  if (zoneCache.size >= MAX_CACHED_BUCKETS) zoneCache.clear();
  zoneCache.set(bucket, atStart);
  lastZone = timeZone;
  lastBucket = bucket;
  lastOffset = atStart;
  return atStart;
};

/** The business date (`YYYY-MM-DD`) of an instant in the client's time zone. */
export const businessDateOfInstant = (epochMs: number, timeZone: string): string =>
  formatDays(Math.floor((epochMs + utcOffsetMs(epochMs, timeZone)) / MS_PER_DAY));

/**
 * The business date of an RFC 3339 timestamp in the client's time zone:
 * `businessDate('2026-11-22T03:30:00Z', 'America/New_York') === '2026-11-21'`.
 * Sub-millisecond digits are truncated, never rounded, so 23:59:59.9999 stays on its day.
 */
export const businessDate = (eventTs: string, timeZone: string): string => {
  const epochMs = Date.parse(eventTs);
  if (Number.isNaN(epochMs)) throw new RangeError(`not an RFC 3339 timestamp: ${JSON.stringify(eventTs)}`);
  return businessDateOfInstant(epochMs, timeZone);
};

/**
 * The first instant (epoch ms) of a business date in the time zone: local midnight, or the first
 * existing local time when midnight is skipped by a DST change.
 */
export const startOfBusinessDate = (date: string, timeZone: string): number => {
  const key = `${timeZone} ${date}`;
  const cached = dayStartCache.get(key);
  if (cached !== undefined) return cached;
  const utcMidnight = parseDays(date) * MS_PER_DAY;
  // Offsets lie within ±18 h, so the local date is before `date` at lo and on or after it at hi.
  let lo = utcMidnight - 18 * 3_600_000;
  let hi = utcMidnight + 18 * 3_600_000;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (businessDateOfInstant(mid, timeZone) >= date) hi = mid;
    else lo = mid;
  }
  if (dayStartCache.size >= MAX_CACHED_BUCKETS) dayStartCache.clear();
  dayStartCache.set(key, hi);
  return hi;
};

/** Length of a business date in ms (23 h or 25 h on DST change days). */
export const businessDayLengthMs = (date: string, timeZone: string): number =>
  startOfBusinessDate(addDays(date, 1), timeZone) - startOfBusinessDate(date, timeZone);

const formatOffset = (offsetMs: number): string => {
  if (offsetMs === 0) return 'Z';
  const sign = offsetMs < 0 ? '-' : '+';
  const minutes = Math.round(Math.abs(offsetMs) / 60_000);
  return `${sign}${pad2(Math.floor(minutes / 60))}:${pad2(minutes % 60)}`;
};

/** Per offset, the last local minute formatted (`2026-11-21T23:59:`): consecutive events share it. */
const minutePrefixes = new Map<number, { minute: number; prefix: string; suffix: string }>();

/**
 * An instant as RFC 3339 with milliseconds in the zone's local time and offset
 * (`2026-11-21T23:59:58.120-05:00`), or in UTC with `Z` when `timeZone` is `'UTC'`.
 */
export const formatTimestamp = (epochMs: number, timeZone: string): string => {
  // Offsets with seconds (historic local mean time) cannot be written in RFC 3339; round to minutes.
  const offsetMs = timeZone === 'UTC' ? 0 : Math.round(utcOffsetMs(epochMs, timeZone) / 60_000) * 60_000;
  const local = Math.floor(epochMs) + offsetMs;
  const minute = Math.floor(local / 60_000);
  let slot = minutePrefixes.get(offsetMs);
  if (slot === undefined || slot.minute !== minute) {
    const days = Math.floor(local / MS_PER_DAY);
    const minuteOfDay = minute - days * 1440;
    slot = {
      minute,
      prefix: `${formatDays(days)}T${pad2(Math.floor(minuteOfDay / 60))}:${pad2(minuteOfDay % 60)}:`,
      suffix: formatOffset(offsetMs),
    };
    if (minutePrefixes.size >= 64) minutePrefixes.clear();
    minutePrefixes.set(offsetMs, slot);
  }
  const msOfMinute = local - minute * 60_000;
  return `${slot.prefix}${pad2(Math.floor(msOfMinute / 1000))}.${pad3(msOfMinute % 1000)}${slot.suffix}`;
};
