/**
 * The exact outcome the pipeline must produce for a stretch of the simulated feed: the oracle tests and
 * benchmarks check the warehouse against. Computed from the feed's configuration alone.
 */
import { formatDecimal, parseDecimal } from '../src/domain/decimal.js';
import {
  EVENT_KINDS,
  FeedModel,
  formatMinor,
  INVALID_VARIANTS,
  simulatedFeedConfigSchema,
  type EventKind,
  type InvalidVariant,
  type SimulatedFeedConfig,
} from '../src/sources/simulated-feed.js';

export interface DateTotals {
  rows: number;
  /** Exact sum of amounts per currency, canonical decimal text. */
  totals: Record<string, string>;
}

/** What the pipeline must produce for a range of offsets; see `expectedCounts`. */
export interface ExpectedCounts {
  from: number;
  to: number;
  total: number;
  /** Offsets per kind after demotion (a duplicate or conflict without a target counts as normal). */
  byKind: Record<EventKind, number>;
  /** Events that fail the contract: rejected. */
  invalid: number;
  invalidByVariant: Record<InvalidVariant, number>;
  /** Events that pass the contract: `inserted + duplicates + conflicts + late`. */
  valid: number;
  /** New provisional rows: the first accepted version of each transaction id. */
  inserted: number;
  /** Same id and same content as an accepted row. */
  duplicates: number;
  /** Same id as an accepted row, different amount: kept aside. */
  conflicts: number;
  /** Valid events whose event_date is one of `sealedDates`, whatever else they are: kept aside. */
  late: number;
  /** Unknown fields over the valid events (a duplicate repeats its target's). */
  unknownFields: number;
  /** Valid events sent without event_date (the parser derives it). */
  derivedEventDates: number;
  /** Inserted rows per event_date with totals per currency. */
  provisional: Record<string, DateTotals>;
  /** Late events per event_date. */
  lateByDate: Record<string, number>;
}

/**
 * The exact outcome of streaming offsets `[from, to)` of a feed, for tests and benchmarks.
 *
 * Assumes offsets `[0, from)` were streamed before (a duplicate or conflict whose target is before `from`
 * is still a duplicate or conflict), that `sealedDates` were sealed before the range was streamed, and
 * these rules, applied per valid event in offset order:
 * 1. event_date in `sealedDates` → late (this wins: a duplicate or conflict of a late event is late too);
 * 2. otherwise a duplicate → duplicate, a conflict → conflict (its target, an earlier normal event for the
 *    same date, was accepted first and wins);
 * 3. otherwise → inserted as a provisional row for its event_date.
 * Invalid events are rejected and counted nowhere else. Pure: computed from the config alone.
 */
export const expectedCounts = ({ config, from = 0, to }: { config: SimulatedFeedConfig; from?: number; to: number }): ExpectedCounts => {
  const settings = simulatedFeedConfigSchema.parse(config);
  const model = new FeedModel(settings);
  const sealed = new Set(settings.sealedDates);
  const byKind = Object.fromEntries(EVENT_KINDS.map((k) => [k, 0])) as Record<EventKind, number>;
  const invalidByVariant = Object.fromEntries(INVALID_VARIANTS.map((v) => [v, 0])) as Record<InvalidVariant, number>;
  const sums = new Map<string, { rows: number; totals: Map<string, bigint> }>();
  const lateByDate: Record<string, number> = {};
  const counts = { invalid: 0, valid: 0, inserted: 0, duplicates: 0, conflicts: 0, late: 0, unknownFields: 0, derivedEventDates: 0 };
  for (let offset = from; offset < to; offset++) {
    const p = model.plan(offset);
    byKind[p.kind]++;
    if (p.kind === 'invalid') {
      counts.invalid++;
      invalidByVariant[p.variant]++;
      continue;
    }
    const f = p.fields;
    counts.valid++;
    counts.unknownFields += f.extraFields;
    if (f.omitEventDate) counts.derivedEventDates++;
    if (sealed.has(f.eventDate)) {
      counts.late++;
      lateByDate[f.eventDate] = (lateByDate[f.eventDate] ?? 0) + 1;
    } else if (p.kind === 'duplicate') {
      counts.duplicates++;
    } else if (p.kind === 'conflict') {
      counts.conflicts++;
    } else {
      counts.inserted++;
      let day = sums.get(f.eventDate);
      if (day === undefined) {
        day = { rows: 0, totals: new Map() };
        sums.set(f.eventDate, day);
      }
      day.rows++;
      const amount = parseDecimal(formatMinor(f.minor, f.currency));
      day.totals.set(f.currency, (day.totals.get(f.currency) ?? 0n) + amount);
    }
  }
  const provisional: Record<string, DateTotals> = {};
  for (const [date, day] of [...sums].sort(([a], [b]) => (a < b ? -1 : 1))) {
    provisional[date] = {
      rows: day.rows,
      totals: Object.fromEntries([...day.totals].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, v]) => [c, formatDecimal(v)])),
    };
  }
  return { from, to, total: Math.max(0, to - from), byKind, ...counts, invalidByVariant, provisional, lateByDate };
};
