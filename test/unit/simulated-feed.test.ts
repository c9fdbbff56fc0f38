import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../src/domain/contract.js';
import { canonicalAmount, sumDecimals } from '../../src/domain/decimal.js';
import { parseStreamRecords } from '../../src/domain/stream-event.js';
import { INVALID_VARIANTS, SimulatedFeed, type FeedClock, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { expectedCounts } from '../../testkit/feed-expectations.js';
import { SourceError } from '../../src/sources/source.js';

/** Virtual time: sleeping just moves the clock, so rate tests are exact and instant. */
const virtualClock = (startMs = 0): FeedClock & { sleeps: number[] } => {
  let now = startMs;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: (ms) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
};

const messy: SimulatedFeedConfig = {
  seed: 20261121,
  rate: 'unbounded',
  businessDate: '2026-11-21',
  invalidShare: 0.04,
  duplicateShare: 0.06,
  conflictShare: 0.02,
  sealedShare: 0.03,
  lateShare: 0.05,
  outOfOrderShare: 0.05,
  // 2026-11-19 is also reached by `late` events (1–5 days before), which must then count as late.
  sealedDates: ['2026-11-10', '2026-11-19'],
  unknownFieldsShare: 0.1,
  omitEventDateShare: 0.3,
  // Offset 0 at 00:01 local: out-of-order events early in the range fall on the previous day.
  firstEventOffsetMs: 60_000,
  eventSpacingMs: 5,
};

/** What a warehouse must do with parsed events: late first, then first accepted version of an id wins. */
const applyInMemory = (events: Transaction[], sealedDates: string[]) => {
  const sealed = new Set(sealedDates);
  const accepted = new Map<string, { content: string; event: Transaction }>();
  const counts = { inserted: 0, duplicates: 0, conflicts: 0, late: 0 };
  for (const e of events) {
    if (sealed.has(e.eventDate)) {
      counts.late++;
      continue;
    }
    const content = [e.accountId, e.eventTs, e.eventDate, canonicalAmount(e.amount), e.currency, e.merchantId, e.description].join('\u0000');
    const first = accepted.get(e.transactionId);
    if (first === undefined) {
      accepted.set(e.transactionId, { content, event: e });
      counts.inserted++;
    } else if (first.content === content) counts.duplicates++;
    else counts.conflicts++;
  }
  const byDate = new Map<string, Transaction[]>();
  for (const { event } of accepted.values()) byDate.set(event.eventDate, [...(byDate.get(event.eventDate) ?? []), event]);
  const provisional: Record<string, { rows: number; totals: Record<string, string> }> = {};
  for (const [date, rows] of [...byDate].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const currencies = [...new Set(rows.map((r) => r.currency))].sort();
    provisional[date] = {
      rows: rows.length,
      totals: Object.fromEntries(
        currencies.map((c) => [c, sumDecimals(rows.filter((r) => r.currency === c).map((r) => r.amount))]),
      ),
    };
  }
  return { ...counts, provisional };
};

describe('SimulatedFeed: determinism', () => {
  it('gives the same payloads for the same seed, and different ones for another seed', () => {
    const a = new SimulatedFeed(messy);
    const b = new SimulatedFeed(messy);
    const c = new SimulatedFeed({ ...messy, seed: 1 });
    let differences = 0;
    for (let n = 0; n < 3000; n++) {
      expect(a.payloadAt(n)).toBe(b.payloadAt(n));
      if (a.payloadAt(n) !== c.payloadAt(n)) differences++;
    }
    expect(differences).toBeGreaterThan(2900);
  });

  it('keeps generating the same records (a change here changes every recorded demo and test)', () => {
    const feed = new SimulatedFeed({ seed: 42, businessDate: '2026-11-21' });
    expect(feed.payloadAt(0)).toBe(
      '{"schema_version":1,"transaction_id":"sim-42-0","account_id":"acct-1302","event_ts":"2026-11-21T08:00:00.000-05:00","event_date":"2026-11-21","amount":"2439.39","currency":"USD","description":"Refund: \\"damaged item\\""}',
    );
  });

  it('generates a payload from (config, offset) alone: reading out of order changes nothing', () => {
    const feed = new SimulatedFeed(messy);
    const forward = Array.from({ length: 500 }, (_, n) => feed.payloadAt(n));
    const fresh = new SimulatedFeed(messy);
    for (let n = 499; n >= 0; n--) expect(fresh.payloadAt(n)).toBe(forward[n]);
  });

  it('labels itself as simulated', () => {
    const feed = new SimulatedFeed({ seed: 7, rate: 20_000, businessDate: '2026-11-21', clientId: 'acme', partition: 3 });
    expect(feed.id).toBe('sim:acme:p3');
    expect(feed.describe()).toBe('simulated client feed (seed 7, 20000 ev/s)');
    expect(new SimulatedFeed(messy).describe()).toBe('simulated client feed (seed 20261121, unbounded)');
    expect(feed.payloadAt(5)).toContain('"transaction_id":"sim-7-p3-5"');
  });

  it('refuses a bad configuration with a message naming the setting', () => {
    const bad = (config: Partial<SimulatedFeedConfig>) => () => new SimulatedFeed({ ...messy, ...config });
    expect(bad({ duplicateShare: 0.9 })).toThrow(/kind shares sum to/);
    expect(bad({ sealedDates: [] })).toThrow(/sealedDates/);
    expect(bad({ timeZone: 'Mars/Olympus' })).toThrow(/timeZone/);
    expect(bad({ businessDate: '2026-02-30' })).toThrow(/businessDate/);
    expect(bad({ rate: -1 })).toThrow(SourceError);
  });
});

describe('SimulatedFeed: reads', () => {
  it('re-reads the same records from the same cursor', async () => {
    const feed = new SimulatedFeed({ ...messy, totalEvents: 1000 }, { clock: virtualClock() });
    const first = await feed.read({ fromCursor: 100, maxRows: 50, maxWaitMs: 0 });
    const again = await feed.read({ fromCursor: 100, maxRows: 50, maxWaitMs: 0 });
    const wider = await feed.read({ fromCursor: 0, maxRows: 200, maxWaitMs: 0 });
    expect(again).toEqual(first);
    expect(first.records.map((r) => r.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    expect(first.nextCursor).toBe(150);
    expect(first.headCursor).toBe(1000);
    expect(wider.records.slice(100, 150)).toEqual(first.records);
  });

  it('releases events at the configured rate (time trigger)', async () => {
    const clock = virtualClock(0);
    const feed = new SimulatedFeed({ seed: 1, rate: 1000, startMs: 0, businessDate: '2026-11-21' }, { clock });
    const result = await feed.read({ fromCursor: 0, maxRows: 100, maxWaitMs: 50 });
    // Offset n is available at n ms: by the 50 ms deadline, offsets 0..50.
    expect(clock.now()).toBe(50);
    expect(result.records).toHaveLength(51);
    expect(result.nextCursor).toBe(51);
    expect(result.headCursor).toBe(51);
    expect(result.records.map((r) => r.emittedAtMs)).toEqual(Array.from({ length: 51 }, (_, i) => i));
  });

  it('returns as soon as maxRows are available (size trigger)', async () => {
    const clock = virtualClock(0);
    const feed = new SimulatedFeed({ seed: 1, rate: 1000, startMs: 0, businessDate: '2026-11-21' }, { clock });
    const result = await feed.read({ fromCursor: 0, maxRows: 100, maxWaitMs: 10_000 });
    expect(result.records).toHaveLength(100);
    expect(clock.now()).toBe(99);
    expect(clock.sleeps).toEqual([99]);
    // Nothing waits when the records are already there.
    const later = await feed.read({ fromCursor: 20, maxRows: 10, maxWaitMs: 10_000 });
    expect(later.records.map((r) => r.offset)).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(clock.now()).toBe(99);
    expect(later.headCursor).toBe(100);
  });

  it('returns what is there at once when maxWaitMs is 0, and nothing before the start', async () => {
    const clock = virtualClock(1_000);
    const feed = new SimulatedFeed({ seed: 1, rate: 200, startMs: 2_000, businessDate: '2026-11-21' }, { clock });
    expect(await feed.read({ fromCursor: 0, maxRows: 10, maxWaitMs: 0 })).toEqual({ records: [], nextCursor: 0, headCursor: 0 });
    clock.sleeps.length = 0;
    const result = await feed.read({ fromCursor: 0, maxRows: 1000, maxWaitMs: 1_500 });
    expect(clock.now()).toBe(2_500);
    expect(result.records).toHaveLength(101); // 200/s for 500 ms, offset 0 at 2000
  });

  it('serves an unbounded backlog immediately and ends at totalEvents', async () => {
    const clock = virtualClock(0);
    const feed = new SimulatedFeed({ ...messy, totalEvents: 120, startMs: 0 }, { clock });
    const first = await feed.read({ fromCursor: 0, maxRows: 100, maxWaitMs: 5_000 });
    expect(first.records).toHaveLength(100);
    const rest = await feed.read({ fromCursor: 100, maxRows: 100, maxWaitMs: 5_000 });
    expect(rest.records).toHaveLength(20);
    expect(clock.now()).toBe(0); // the feed has ended: no point waiting for more
    const empty = await feed.read({ fromCursor: 120, maxRows: 100, maxWaitMs: 5_000 });
    expect(empty).toEqual({ records: [], nextCursor: 120, headCursor: 120 });
    expect(clock.now()).toBe(5_000); // like a broker with nothing new: waits out maxWaitMs
  });

  it('stops waiting when the signal aborts, and fails reads once closed', async () => {
    const feed = new SimulatedFeed({ seed: 1, rate: 1, businessDate: '2026-11-21' });
    const controller = new AbortController();
    const pending = feed.read({ fromCursor: 0, maxRows: 1000, maxWaitMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled by test')), 20);
    await expect(pending).rejects.toThrow('cancelled by test');

    const waiting = feed.read({ fromCursor: 0, maxRows: 1000, maxWaitMs: 60_000 });
    setTimeout(() => void feed.close(), 20);
    await expect(waiting).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(feed.read({ fromCursor: 0, maxRows: 1, maxWaitMs: 0 })).rejects.toBeInstanceOf(SourceError);
  });

  it('rejects impossible requests', async () => {
    const feed = new SimulatedFeed(messy);
    await expect(feed.read({ fromCursor: -1, maxRows: 1, maxWaitMs: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(feed.read({ fromCursor: 0, maxRows: 0, maxWaitMs: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(feed.read({ fromCursor: 0.5, maxRows: 1, maxWaitMs: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('SimulatedFeed: content', () => {
  const feed = new SimulatedFeed(messy);
  const records = Array.from({ length: 20_000 }, (_, offset) => ({ offset, payload: feed.payloadAt(offset) }));
  const parsed = parseStreamRecords({ sourceId: feed.id, records, timeZone: 'America/New_York' });

  it('matches expectedCounts exactly when parsed and deduplicated (20,000 events)', () => {
    const expected = expectedCounts({ config: messy, from: 0, to: 20_000 });
    const applied = applyInMemory(parsed.events, messy.sealedDates ?? []);
    expect(parsed.rejects).toHaveLength(expected.invalid);
    expect(parsed.events).toHaveLength(expected.valid);
    expect(parsed.unknownFields).toBe(expected.unknownFields);
    expect({ inserted: applied.inserted, duplicates: applied.duplicates, conflicts: applied.conflicts, late: applied.late }).toEqual({
      inserted: expected.inserted,
      duplicates: expected.duplicates,
      conflicts: expected.conflicts,
      late: expected.late,
    });
    expect(applied.provisional).toEqual(expected.provisional);
    expect(expected.valid).toBe(expected.inserted + expected.duplicates + expected.conflicts + expected.late);

    // Every kind and every way of being invalid occurs, roughly at its share.
    const share = (n: number) => n / 20_000;
    expect(share(expected.byKind.invalid)).toBeCloseTo(0.04, 2);
    expect(share(expected.byKind.duplicate)).toBeCloseTo(0.06, 1);
    expect(share(expected.byKind.late)).toBeCloseTo(0.05, 2);
    for (const variant of INVALID_VARIANTS) expect(expected.invalidByVariant[variant]).toBeGreaterThan(0);
    // Late arrivals come from sealed-date events, from `late` events 2 days back, and from early out-of-order ones.
    expect(Object.keys(expected.lateByDate).sort()).toEqual(['2026-11-10', '2026-11-19']);
    expect(expected.provisional['2026-11-20']?.rows).toBeGreaterThan(0);
    expect(expected.derivedEventDates).toBeGreaterThan(5000);
  });

  it('adds up over consecutive ranges (a stream resumed at a cursor)', () => {
    const whole = expectedCounts({ config: messy, to: 20_000 });
    const a = expectedCounts({ config: messy, from: 0, to: 7_500 });
    const b = expectedCounts({ config: messy, from: 7_500, to: 20_000 });
    for (const key of ['invalid', 'valid', 'inserted', 'duplicates', 'conflicts', 'late', 'unknownFields'] as const) {
      expect(a[key] + b[key]).toBe(whole[key]);
    }
  });

  it('makes duplicates exact copies and conflicts differ only in amount', () => {
    const byId = new Map<string, string[]>();
    const valid = new Set(parsed.offsets);
    for (const { offset, payload } of records) {
      if (!valid.has(offset)) continue;
      const id = /"transaction_id":"([^"]+)"/.exec(payload)?.[1];
      if (id !== undefined) byId.set(id, [...(byId.get(id) ?? []), payload]);
    }
    let duplicates = 0;
    let conflicts = 0;
    for (const payloads of byId.values()) {
      const [first, ...later] = payloads as [string, ...string[]];
      for (const p of later) {
        if (p === first) duplicates++;
        else {
          conflicts++;
          expect(p.replace(/"amount":"[^"]+"/, '')).toBe(first.replace(/"amount":"[^"]+"/, ''));
        }
      }
    }
    const expected = expectedCounts({ config: messy, to: 20_000 });
    expect(duplicates).toBe(expected.byKind.duplicate);
    expect(conflicts).toBe(expected.byKind.conflict);
  });

  it('writes amounts as exact decimals: two places, none for JPY; several currencies', () => {
    const currencies = new Set<string>();
    for (const e of parsed.events) {
      currencies.add(e.currency);
      expect(e.amount).toMatch(e.currency === 'JPY' ? /^-?[1-9][0-9]*$/ : /^-?[0-9]+\.[0-9]{2}$/);
    }
    expect([...currencies].sort()).toEqual(['EUR', 'GBP', 'JPY', 'USD']);
    expect(parsed.events.filter((e) => e.currency === 'USD').length / parsed.events.length).toBeGreaterThan(0.7);
  });

  it('keeps normal events on the business date, even across a 25-hour DST day', () => {
    const config: SimulatedFeedConfig = {
      seed: 5,
      businessDate: '2026-11-01',
      eventSpacingMs: 7 * 60_000, // wraps the day several times in 1000 events
      duplicateShare: 0,
      conflictShare: 0,
      outOfOrderShare: 0,
      lateShare: 0,
      invalidShare: 0,
      omitEventDateShare: 1,
    };
    const dst = new SimulatedFeed(config);
    const recs = Array.from({ length: 1000 }, (_, offset) => ({ offset, payload: dst.payloadAt(offset) }));
    const { events } = parseStreamRecords({ sourceId: dst.id, records: recs, timeZone: 'America/New_York' });
    expect(events).toHaveLength(1000);
    expect(new Set(events.map((e) => e.eventDate))).toEqual(new Set(['2026-11-01']));
    expect(new Set(events.map((e) => e.eventTs.slice(-6))).size).toBeGreaterThanOrEqual(2); // -04:00, -05:00 (and Z)
    expect(expectedCounts({ config, to: 1000 }).provisional['2026-11-01']?.rows).toBe(1000);
  });
});
