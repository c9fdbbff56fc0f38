/**
 * The simulated client feed: a seeded, deterministic stand-in for the client's transaction stream,
 * used locally, in tests and in benchmarks. Everything it emits is labelled simulated (`sim:` ids).
 *
 * The record at offset n is a pure function of (config, n): a PRNG keyed by (seed, partition, n) decides
 * the event's kind and fields, so reads are repeatable and `expectedCounts` can say exactly what the
 * pipeline must produce for any range of offsets.
 */
import { z } from 'zod';
import { eventDateSchema } from '../domain/contract.js';
import {
  addDays,
  businessDateOfInstant,
  businessDayLengthMs,
  formatTimestamp,
  isValidTimeZone,
  startOfBusinessDate,
} from '../domain/dates.js';
import { SourceError, type ReadRequest, type ReadResult, type SourceRecord, type TransactionSource } from './source.js';

// --- configuration ------------------------------------------------------------------------------

const share = z.number().min(0).max(1);
const unbounded = z.union([z.literal('unbounded'), z.literal(Infinity)]).transform(() => Infinity);

/**
 * Configuration of a simulated feed. `businessDate` is required (rather than "today") so that the
 * payloads never depend on when the feed was built.
 */
export const simulatedFeedConfigSchema = z
  .object({
    /** Client named in the source id (`sim:<clientId>:p<partition>`). */
    clientId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1–32 chars of [A-Za-z0-9_-]').default('acme'),
    partition: z.number().int().min(0).max(9999).default(0),
    seed: z.number().int().min(0).max(0xffff_ffff),
    /** Events per second, or `'unbounded'`/`Infinity` for a backlog that is all available at `startMs`. */
    rate: z.union([z.number().positive().finite(), unbounded]).default(1000),
    /** When offset 0 becomes available (epoch ms). Defaults to the clock's now at construction. */
    startMs: z.number().finite().optional(),
    /** Number of events the feed holds; unlimited by default. */
    totalEvents: z.number().int().min(0).optional(),
    /** The client's IANA time zone. */
    timeZone: z.string().refine(isValidTimeZone, 'is not a known IANA time zone').default('America/New_York'),
    /** The client's "today": normal events carry this business date. */
    businessDate: eventDateSchema,
    /** Local time of day (ms after the start of `businessDate`) of offset 0's event; 08:00 by default. */
    firstEventOffsetMs: z.number().int().min(0).default(8 * 3_600_000),
    /** Event-time step between consecutive offsets; defaults to 1000/rate (1 ms when unbounded). */
    eventSpacingMs: z.number().positive().finite().optional(),
    /** Kind shares (exclusive, sum ≤ 1); see `EventKind`. */
    duplicateShare: share.default(0.01),
    conflictShare: share.default(0.001),
    outOfOrderShare: share.default(0.02),
    lateShare: share.default(0.005),
    sealedShare: share.default(0),
    invalidShare: share.default(0.002),
    /** Dates already reconciled; `sealedShare` of events are for one of them. */
    sealedDates: z.array(eventDateSchema).default([]),
    /** Modifier shares, independent of the kind; see `expectedCounts`. */
    unknownFieldsShare: share.default(0.01),
    omitEventDateShare: share.default(0.1),
  })
  .superRefine((c, ctx) => {
    const kinds = c.duplicateShare + c.conflictShare + c.outOfOrderShare + c.lateShare + c.sealedShare + c.invalidShare;
    if (kinds > 1 + 1e-12) ctx.addIssue({ code: 'custom', path: ['duplicateShare'], message: `kind shares sum to ${kinds} > 1` });
    if (c.sealedShare > 0 && c.sealedDates.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['sealedDates'], message: 'must list at least one date when sealedShare > 0' });
    }
  });

export type SimulatedFeedConfig = z.input<typeof simulatedFeedConfigSchema>;
type FeedSettings = z.output<typeof simulatedFeedConfigSchema>;

/** Time for the feed: real by default, virtual in tests (a `sleep` that just advances `now`). */
export interface FeedClock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: FeedClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

// --- event kinds --------------------------------------------------------------------------------

/**
 * What the event at an offset is. Exactly one kind per offset, drawn from the offset's PRNG in this order
 * of shares: invalid, duplicate, conflict, sealed, late, outOfOrder; the rest are normal.
 *
 * - `normal`: a new transaction for `businessDate`; event time advances by `eventSpacingMs` per offset
 *   from `firstEventOffsetMs` after local midnight, wrapping within the day.
 * - `outOfOrder`: a new transaction whose event time is 1–10 minutes before its offset's normal time
 *   (so near midnight its business date can be the previous day).
 * - `late`: a new transaction for `businessDate` minus 1–5 days (uniform), at the same local time of day.
 * - `sealed`: a new transaction for one of `sealedDates` (uniform), at the same local time of day.
 * - `duplicate`: the exact payload of an earlier offset (the target) whose drawn kind is `normal`.
 * - `conflict`: the target's payload with the amount raised by one currency unit (1.00, or 1 JPY).
 * - `invalid`: fails the contract; see `InvalidVariant`.
 *
 * A duplicate's or conflict's target is found by stepping back 1..min(n, 1000) offsets (drawn), then on
 * towards offset 0 until an offset whose drawn kind is `normal`, at most 64 steps. If none is found the
 * offset is demoted to `normal` (a new transaction). Targets are always earlier offsets of the same partition.
 */
export type EventKind = 'normal' | 'outOfOrder' | 'late' | 'sealed' | 'duplicate' | 'conflict' | 'invalid';

/** How an `invalid` event breaks the contract (uniform among these). */
export type InvalidVariant =
  | 'notJson'
  | 'notObject'
  | 'missingCurrency'
  | 'badAmount'
  | 'badTimestamp'
  | 'wrongSchemaVersion'
  | 'badTransactionId'
  | 'badCurrency'
  | 'badEventDate';

export const INVALID_VARIANTS: readonly InvalidVariant[] = [
  'notJson',
  'notObject',
  'missingCurrency',
  'badAmount',
  'badTimestamp',
  'wrongSchemaVersion',
  'badTransactionId',
  'badCurrency',
  'badEventDate',
];
export const EVENT_KINDS: readonly EventKind[] = ['normal', 'outOfOrder', 'late', 'sealed', 'duplicate', 'conflict', 'invalid'];

const BAD_AMOUNTS = ['"1e5"', '"+12.00"', '"12,50"', '" 12.00"', '"1.2345678901"', '12.5', '"12."'];
const BAD_TIMESTAMPS = ['"2026-11-21 10:00:00"', '"2026-11-21T10:00:00"', '"2026-11-21T25:00:00Z"', '1763737200000', '"yesterday"'];
const BAD_CURRENCIES = ['"usd"', '"ABC"', '"US"', '""'];
const BAD_DATES = ['"2026-02-30"', '"21/11/2026"', '"2026-1-5"'];
const BAD_IDS = ['"has space"', '""', '"a/b"', `"${'x'.repeat(65)}"`];
const WRONG_VERSIONS = ['2', '"1"', 'null'];

type Currency = 'USD' | 'EUR' | 'GBP' | 'JPY';
const currencyOf = (u: number): Currency => (u < 0.8 ? 'USD' : u < 0.9 ? 'EUR' : u < 0.97 ? 'GBP' : 'JPY');

// Descriptions exercise JSON escaping and "stored verbatim": quotes, backslashes, newlines, accents, emoji.
const DESCRIPTIONS = [
  'Coffee',
  'Groceries, weekly',
  'Refund: "damaged item"',
  'Café au lait',
  'Taxi 🚕 airport',
  'Line one\nLine two',
  'Path C:\\temp\\receipt',
  'Überweisung – Miete',
  '東京 ラーメン',
  '',
].map((d) => JSON.stringify(d));
const EXTRA_FIELDS = ['"channel":"web"', '"risk_score":0.37', '"_meta":{"source":"pos","v":2}'];

// --- deterministic randomness -------------------------------------------------------------------

const mix32 = (input: number): number => {
  let x = input;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
};

/** mulberry32, seeded per offset. */
class OffsetRng {
  private state: number;
  constructor(seedKey: number, offset: number) {
    const hi = Math.floor(offset / 4_294_967_296);
    this.state = mix32(seedKey ^ mix32((offset >>> 0) ^ mix32(hi + 0x9e3779b9)));
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
}

// --- event plans --------------------------------------------------------------------------------

interface ValidFields {
  transactionId: string;
  accountId: string;
  eventTs: string;
  eventDate: string;
  /** Amount in minor units of the currency (cents, or yen). */
  minor: number;
  currency: Currency;
  merchantId: string | null;
  /** Already JSON-encoded. */
  descriptionJson: string | null;
  omitEventDate: boolean;
  extraFields: number;
}

/** Everything decided for one offset; the payload is a rendering of it. */
type EventPlan =
  | { kind: Exclude<EventKind, 'invalid'>; fields: ValidFields; target: number | null }
  | { kind: 'invalid'; variant: InvalidVariant; payload: string };

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const formatMinor = (minor: number, currency: Currency): string => {
  if (currency === 'JPY') return String(minor);
  const abs = Math.abs(minor);
  const cents = abs % 100;
  return `${minor < 0 ? '-' : ''}${Math.floor(abs / 100)}.${cents < 10 ? '0' : ''}${cents}`;
};

// Joined from parts rather than concatenated: join yields a flat string, as bytes from a broker would be,
// where `+=` builds a rope that JSON.parse must first copy (that alone cost parsing a third of its speed).
const renderValid = (f: ValidFields, amountJson = `"${formatMinor(f.minor, f.currency)}"`): string => {
  const parts = [
    `{"schema_version":1,"transaction_id":"${f.transactionId}","account_id":"${f.accountId}","event_ts":"${f.eventTs}"`,
  ];
  if (!f.omitEventDate) parts.push(`,"event_date":"${f.eventDate}"`);
  parts.push(`,"amount":${amountJson},"currency":"${f.currency}"`);
  if (f.merchantId !== null) parts.push(`,"merchant_id":"${f.merchantId}"`);
  if (f.descriptionJson !== null) parts.push(`,"description":${f.descriptionJson}`);
  for (let i = 0; i < f.extraFields; i++) parts.push(`,${EXTRA_FIELDS[i]}`);
  parts.push('}');
  return parts.join('');
};

const pick = <T>(list: readonly T[], u: number): T => list[Math.floor(u * list.length)] as T;

/** Pure generator of plans and payloads for one configuration. */
/** The feed's plan per offset: what each event is, before it is rendered. Pure. */
export class FeedModel {
  private readonly seedKey: number;
  private readonly dayStart: number;
  private readonly dayLength: number;
  private readonly spacing: number;
  private readonly idPrefix: string;
  private readonly thresholds: number[];

  constructor(readonly settings: FeedSettings) {
    this.seedKey = mix32(settings.seed ^ mix32(settings.partition + 0x632be5ab));
    this.dayStart = startOfBusinessDate(settings.businessDate, settings.timeZone);
    this.dayLength = businessDayLengthMs(settings.businessDate, settings.timeZone);
    this.spacing = settings.eventSpacingMs ?? (settings.rate === Infinity ? 1 : 1000 / settings.rate);
    this.idPrefix = settings.partition === 0 ? `sim-${settings.seed}-` : `sim-${settings.seed}-p${settings.partition}-`;
    let acc = 0;
    this.thresholds = [
      settings.invalidShare,
      settings.duplicateShare,
      settings.conflictShare,
      settings.sealedShare,
      settings.lateShare,
      settings.outOfOrderShare,
    ].map((s) => (acc += s));
  }

  private drawnKind(u: number): EventKind {
    const t = this.thresholds;
    if (u < (t[0] as number)) return 'invalid';
    if (u < (t[1] as number)) return 'duplicate';
    if (u < (t[2] as number)) return 'conflict';
    if (u < (t[3] as number)) return 'sealed';
    if (u < (t[4] as number)) return 'late';
    if (u < (t[5] as number)) return 'outOfOrder';
    return 'normal';
  }

  /** The kind drawn for an offset, before demotion of target-less duplicates and conflicts. */
  drawnKindAt(offset: number): EventKind {
    return this.drawnKind(new OffsetRng(this.seedKey, offset).next());
  }

  private findTarget(offset: number, u: number): number | null {
    let target = offset - 1 - Math.floor(u * Math.min(offset, 1000));
    for (let steps = 0; target >= 0 && steps < 64; steps++, target--) {
      if (this.drawnKindAt(target) === 'normal') return target;
    }
    return null;
  }

  /** Event time of an offset on the normal timeline (always within `businessDate`). */
  private normalTime(offset: number): number {
    const fromMidnight = (this.settings.firstEventOffsetMs + Math.floor(offset * this.spacing)) % this.dayLength;
    return this.dayStart + fromMidnight;
  }

  /** Same local time of day as the offset's normal time, on another date (clamped into short DST days). */
  private timeOnDate(offset: number, date: string): number {
    const tz = this.settings.timeZone;
    const start = startOfBusinessDate(date, tz);
    return start + Math.min(this.normalTime(offset) - this.dayStart, businessDayLengthMs(date, tz) - 1);
  }

  plan(offset: number): EventPlan {
    const s = this.settings;
    const rng = new OffsetRng(this.seedKey, offset);
    // A fixed number of draws in a fixed order, whatever the kind, so each field's draw never shifts.
    let kind = this.drawnKind(rng.next());
    const uAccount = rng.next();
    const uCurrency = rng.next();
    const uAmount = rng.next();
    const uRefund = rng.next();
    const uMerchant = rng.next();
    const uDescription = rng.next();
    const uUtc = rng.next();
    const uOmit = rng.next();
    const uUnknown = rng.next();
    const uKindA = rng.next();
    const uKindB = rng.next();

    let target: number | null = null;
    if (kind === 'duplicate' || kind === 'conflict') {
      target = this.findTarget(offset, uKindA);
      if (target === null) kind = 'normal';
    }
    if (target !== null) {
      const base = this.plan(target);
      if (base.kind === 'invalid') throw new Error(`simulated feed: target ${target} is not valid`); // cannot happen
      if (kind === 'duplicate') return { kind: 'duplicate', fields: base.fields, target };
      const raised = base.fields.minor + (base.fields.currency === 'JPY' ? 1 : 100);
      return { kind: 'conflict', fields: { ...base.fields, minor: raised }, target };
    }

    const currency = currencyOf(uCurrency);
    const magnitude = 1 + Math.floor(uAmount * uAmount * (currency === 'JPY' ? 200_000 : 500_000));
    let time: number;
    let eventDate: string;
    switch (kind) {
      case 'outOfOrder':
        time = this.normalTime(offset) - 60_000 - Math.floor(uKindA * 9 * 60_000);
        eventDate = businessDateOfInstant(time, s.timeZone);
        break;
      case 'late':
        eventDate = addDays(s.businessDate, -(1 + Math.floor(uKindA * 5)));
        time = this.timeOnDate(offset, eventDate);
        break;
      case 'sealed':
        eventDate = pick(s.sealedDates, uKindA);
        time = this.timeOnDate(offset, eventDate);
        break;
      default:
        time = this.normalTime(offset);
        eventDate = s.businessDate;
    }
    const fields: ValidFields = {
      transactionId: `${this.idPrefix}${offset}`,
      accountId: `acct-${pad(Math.floor(uAccount * 5000), 4)}`,
      eventTs: formatTimestamp(time, uUtc < 0.2 ? 'UTC' : s.timeZone),
      eventDate,
      minor: uRefund < 0.05 ? -magnitude : magnitude,
      currency,
      merchantId: uMerchant < 0.7 ? `m-${pad(Math.floor((uMerchant / 0.7) * 1000), 3)}` : null,
      descriptionJson: uDescription < 0.3 ? pick(DESCRIPTIONS, uDescription / 0.3) : null,
      omitEventDate: uOmit < s.omitEventDateShare,
      extraFields: uUnknown < s.unknownFieldsShare ? 1 + Math.floor((uUnknown / s.unknownFieldsShare) * EXTRA_FIELDS.length) : 0,
    };
    if (kind !== 'invalid') return { kind, fields, target: null };

    const variant = pick(INVALID_VARIANTS, uKindA);
    const valid = { ...fields, omitEventDate: false, extraFields: 0 };
    const swap = (key: string, replacement: string): string => {
      const json = renderValid(valid);
      const at = json.indexOf(`"${key}":`) + key.length + 3;
      const end = key === 'schema_version' ? json.indexOf(',', at) : json.indexOf('"', at + 1) + 1;
      return `${json.slice(0, at)}${replacement}${json.slice(end)}`;
    };
    let payload: string;
    switch (variant) {
      case 'notJson': {
        const json = renderValid(valid);
        payload = json.slice(0, 10 + Math.floor(uKindB * (json.length - 20)));
        break;
      }
      case 'notObject':
        payload = uKindB < 0.5 ? `[${renderValid(valid)}]` : '"just a string"';
        break;
      case 'missingCurrency':
        payload = renderValid(valid).replace(`,"currency":"${currency}"`, '');
        break;
      case 'badAmount':
        payload = swap('amount', pick(BAD_AMOUNTS, uKindB));
        break;
      case 'badTimestamp':
        payload = swap('event_ts', pick(BAD_TIMESTAMPS, uKindB));
        break;
      case 'wrongSchemaVersion':
        payload = swap('schema_version', pick(WRONG_VERSIONS, uKindB));
        break;
      case 'badTransactionId':
        payload = swap('transaction_id', pick(BAD_IDS, uKindB));
        break;
      case 'badCurrency':
        payload = swap('currency', pick(BAD_CURRENCIES, uKindB));
        break;
      case 'badEventDate':
        payload = swap('event_date', pick(BAD_DATES, uKindB));
        break;
    }
    return { kind: 'invalid', variant, payload };
  }

  payload(offset: number): string {
    const p = this.plan(offset);
    if (p.kind === 'invalid') return p.payload;
    return renderValid(p.fields);
  }
}

// --- the source ---------------------------------------------------------------------------------

/**
 * A `TransactionSource` over the simulated client feed.
 *
 * Offset n becomes available at `startMs + n / rate * 1000` (all at `startMs` when unbounded), and that
 * instant is its `emittedAtMs`. `read` returns as soon as `maxRows` records are available, or at the
 * deadline with what is available; when the feed has ended (`totalEvents`) and everything left is
 * available, it returns at once. For an unbounded backlog without `totalEvents`, `headCursor` is
 * `Number.MAX_SAFE_INTEGER`.
 *
 * Across processes, pass the same `startMs` to keep `emittedAtMs` and availability the same; payloads
 * do not depend on it.
 */
export class SimulatedFeed implements TransactionSource {
  readonly id: string;
  readonly settings: FeedSettings;
  readonly startMs: number;
  private readonly model: FeedModel;
  private readonly clock: FeedClock;
  private readonly total: number;
  private readonly closing = new AbortController();

  constructor(config: SimulatedFeedConfig, options: { clock?: FeedClock } = {}) {
    const parsed = simulatedFeedConfigSchema.safeParse(config);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
      throw new SourceError(`invalid simulated feed config: ${detail}`, 'CONFIG', 'sim');
    }
    this.settings = parsed.data;
    this.clock = options.clock ?? systemClock;
    this.startMs = this.settings.startMs ?? this.clock.now();
    this.total = this.settings.totalEvents ?? Infinity;
    this.model = new FeedModel(this.settings);
    this.id = `sim:${this.settings.clientId}:p${this.settings.partition}`;
  }

  describe(): string {
    const { seed, rate } = this.settings;
    return `simulated client feed (seed ${seed}, ${rate === Infinity ? 'unbounded' : `${rate} ev/s`})`;
  }

  /** The payload at an offset (pure; ignores availability). */
  payloadAt(offset: number): string {
    return this.model.payload(offset);
  }

  /** When an offset becomes available (epoch ms). */
  availableAt(offset: number): number {
    const { rate } = this.settings;
    return rate === Infinity ? this.startMs : this.startMs + (offset / rate) * 1000;
  }

  /** The high-water mark at `nowMs`: how many offsets are available. */
  headAt(nowMs: number): number {
    if (nowMs < this.startMs) return 0;
    const { rate } = this.settings;
    if (rate === Infinity) return Number.isFinite(this.total) ? this.total : Number.MAX_SAFE_INTEGER;
    let count = Math.floor(((nowMs - this.startMs) * rate) / 1000) + 1;
    while (count > 0 && this.availableAt(count - 1) > nowMs) count--;
    while (this.availableAt(count) <= nowMs) count++;
    return Math.min(count, this.total);
  }

  async read({ fromCursor, maxRows, maxWaitMs, signal }: ReadRequest): Promise<ReadResult> {
    if (!Number.isSafeInteger(fromCursor) || fromCursor < 0) this.fail(`fromCursor must be an offset ≥ 0, got ${fromCursor}`);
    if (!Number.isSafeInteger(maxRows) || maxRows < 1) this.fail(`maxRows must be an integer ≥ 1, got ${maxRows}`);
    if (!(maxWaitMs >= 0)) this.fail(`maxWaitMs must be ≥ 0, got ${maxWaitMs}`);
    const wanted = fromCursor + maxRows;
    const deadline = this.clock.now() + maxWaitMs;
    for (;;) {
      if (this.closing.signal.aborted) throw new SourceError('source is closed', 'CLOSED', this.id);
      signal?.throwIfAborted();
      const now = this.clock.now();
      const head = this.headAt(now);
      const ended = head >= this.total && head > fromCursor;
      if (head >= wanted || ended || now >= deadline) return this.collect(fromCursor, Math.min(head, wanted), head);
      const nextWanted = wanted - 1 < this.total ? this.availableAt(wanted - 1) : deadline;
      const wakeAt = Math.min(deadline, nextWanted);
      // One controller per wait, detached afterwards (AbortSignal.any on a long-lived signal leaks on Node 20).
      const wait = new AbortController();
      const stop = (): void => wait.abort(signal?.aborted ? signal.reason : undefined);
      signal?.addEventListener('abort', stop, { once: true });
      this.closing.signal.addEventListener('abort', stop, { once: true });
      try {
        await this.clock.sleep(Math.max(1, Math.ceil(wakeAt - now)), wait.signal);
      } catch (error) {
        if (this.closing.signal.aborted) throw new SourceError('source is closed', 'CLOSED', this.id);
        throw error;
      } finally {
        signal?.removeEventListener('abort', stop);
        this.closing.signal.removeEventListener('abort', stop);
      }
    }
  }

  close(): Promise<void> {
    this.closing.abort();
    return Promise.resolve();
  }

  private collect(fromCursor: number, until: number, head: number): ReadResult {
    const records: SourceRecord[] = [];
    for (let offset = fromCursor; offset < until; offset++) {
      records.push({ offset, emittedAtMs: this.availableAt(offset), payload: this.model.payload(offset) });
    }
    return { records, nextCursor: fromCursor + records.length, headCursor: head };
  }

  private fail(message: string): never {
    throw new SourceError(message, 'BAD_REQUEST', this.id);
  }
}
