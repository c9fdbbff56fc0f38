import { afterEach, describe, expect, it, vi } from 'vitest';
import { streamEventSchema } from '../../src/domain/contract.js';
import {
  addDays,
  businessDate,
  businessDateOfInstant,
  businessDayLengthMs,
  daysBetween,
  formatTimestamp,
  previousDate,
  startOfBusinessDate,
} from '../../src/domain/dates.js';
import { MAX_EVENT_BYTES, parseStreamRecords } from '../../src/domain/stream-event.js';
import { SimulatedFeed } from '../../src/sources/simulated-feed.js';

const NY = 'America/New_York';
const SOURCE = 'sim:acme:p0';

const base = {
  schema_version: 1,
  transaction_id: 'tx-1',
  account_id: 'acct-1',
  event_ts: '2026-11-21T23:59:58.120-05:00',
  event_date: '2026-11-21',
  amount: '12.50',
  currency: 'USD',
};

const parseOne = (event: unknown, timeZone = NY) =>
  parseStreamRecords({
    sourceId: SOURCE,
    records: [{ offset: 7, payload: typeof event === 'string' ? event : JSON.stringify(event) }],
    timeZone,
  });

const without = (key: keyof typeof base): Record<string, unknown> => {
  const copy: Record<string, unknown> = { ...base };
  delete copy[key];
  return copy;
};

describe('parseStreamRecords: valid events', () => {
  it('maps the contract fields and keeps the amount text exactly as sent', () => {
    const { events, rejects, unknownFields, offsets } = parseOne({
      ...base,
      amount: '-0012.500',
      merchant_id: 'm-1',
      description: 'Café "au lait"\n🚕',
    });
    expect(rejects).toEqual([]);
    expect(unknownFields).toBe(0);
    expect(offsets).toEqual([7]);
    expect(events).toEqual([
      {
        transactionId: 'tx-1',
        accountId: 'acct-1',
        eventTs: '2026-11-21T23:59:58.120-05:00',
        eventDate: '2026-11-21',
        amount: '-0012.500',
        currency: 'USD',
        merchantId: 'm-1',
        description: 'Café "au lait"\n🚕',
      },
    ]);
  });

  it('keeps a sent event_date as authoritative and nulls absent optional fields', () => {
    const { events } = parseOne({ ...base, event_date: '2026-11-20' });
    expect(events[0]).toMatchObject({ eventDate: '2026-11-20', merchantId: null, description: null });
  });

  it('ignores and counts unknown fields', () => {
    const { events, unknownFields } = parseOne({ ...base, channel: 'web', risk: 0.3, nested: { a: 1 } });
    expect(events).toHaveLength(1);
    expect(events[0]).not.toHaveProperty('channel');
    expect(unknownFields).toBe(3);
  });

  it('accepts 512 code points of description even when they take 1024 UTF-16 units', () => {
    expect(parseOne({ ...base, description: '🚕'.repeat(512) }).events).toHaveLength(1);
    expect(parseOne({ ...base, description: '🚕'.repeat(513) }).rejects[0]?.reason).toContain('field description');
  });
});

describe('parseStreamRecords: the fast path', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  // The hand-written check exists for throughput (zod alone is too slow for the stream): a valid event must never
  // need zod, whatever optional fields it carries.
  it.each([
    ['all fields', { ...base, merchant_id: 'm'.repeat(64), description: 'd' }],
    ['no event_date, merchant or description', without('event_date')],
    ['512 code points of description in 1024 UTF-16 units', { ...base, description: '🚕'.repeat(512) }],
    ['512 plain characters of description', { ...base, description: 'd'.repeat(512) }],
  ])('accepts a valid event with %s without calling zod', (_name, event) => {
    const zod = vi.spyOn(streamEventSchema, 'safeParse');
    expect(parseOne(event).events).toHaveLength(1);
    expect(zod).not.toHaveBeenCalled();
  });

  it.each([
    ['account_id', 123],
    ['event_ts', 1_700_000_000],
    ['currency', ['USD']],
    ['description', 5],
  ])('never accepts a %s that is not a string, which zod rejects', (field, value) => {
    const { events, rejects } = parseOne({ ...base, [field]: value });
    expect(events).toEqual([]);
    expect(rejects[0]?.reason).toContain(`field ${field}`);
    expect(rejects[0]?.reason).not.toContain('is required');
  });
});

describe('parseStreamRecords: event size', () => {
  /** An event padded with an unknown field to exactly `bytes` UTF-8 bytes. */
  const eventOfBytes = (bytes: number): string => {
    const head = JSON.stringify({ ...base, pad: '' });
    return `${head.slice(0, -2)}${'x'.repeat(bytes - Buffer.byteLength(head))}"}`;
  };

  it('accepts an event of exactly MAX_EVENT_BYTES bytes', () => {
    const payload = eventOfBytes(MAX_EVENT_BYTES);
    expect(Buffer.byteLength(payload)).toBe(MAX_EVENT_BYTES);
    expect(parseOne(payload)).toMatchObject({ rejects: [], unknownFields: 1 });
  });

  it('rejects an event one byte over, naming its size, and keeps its first 1024 characters', () => {
    const payload = eventOfBytes(MAX_EVENT_BYTES + 1);
    const { events, rejects } = parseOne(payload);
    expect(events).toEqual([]);
    expect(rejects).toEqual([
      {
        offset: 7,
        reason: `${SOURCE}:7: event is ${MAX_EVENT_BYTES + 1} bytes, over the limit of ${MAX_EVENT_BYTES}`,
        raw: `${payload.slice(0, 1024)}…[${MAX_EVENT_BYTES + 1} bytes, truncated]`,
      },
    ]);
  });

  it('counts bytes, not characters: 22,000 three-byte characters are over the limit', () => {
    const { rejects } = parseOne({ ...base, description: '€'.repeat(22_000) });
    expect(rejects[0]?.reason).toMatch(/: event is \d+ bytes, over the limit of 65536$/);
  });
});

describe('parseStreamRecords: rejects name the field and keep the payload', () => {
  it.each([
    ['missing currency', without('currency'), 'field currency: is required'],
    ['missing transaction_id', without('transaction_id'), 'field transaction_id: is required'],
    ['exponent amount', { ...base, amount: '1e5' }, 'field amount: must be an exact decimal'],
    ['plus sign amount', { ...base, amount: '+1.00' }, 'field amount'],
    ['ten decimals', { ...base, amount: '1.0000000001' }, 'field amount'],
    ['numeric amount', { ...base, amount: 12.5 }, 'field amount'],
    ['timestamp without offset', { ...base, event_ts: '2026-11-21T10:00:00' }, 'field event_ts: must be an RFC 3339'],
    ['timestamp with a space', { ...base, event_ts: '2026-11-21 10:00:00Z' }, 'field event_ts'],
    ['hour 25', { ...base, event_ts: '2026-11-21T25:00:00Z' }, 'field event_ts'],
    ['schema version 2', { ...base, schema_version: 2 }, 'field schema_version'],
    ['schema version as text', { ...base, schema_version: '1' }, 'field schema_version'],
    ['lower-case currency', { ...base, currency: 'usd' }, 'field currency'],
    ['unknown currency', { ...base, currency: 'ABC' }, 'field currency: is not an ISO 4217 currency'],
    ['impossible date', { ...base, event_date: '2026-02-30' }, 'field event_date: must be a calendar date'],
    ['null merchant', { ...base, merchant_id: null }, 'field merchant_id'],
    ['long merchant', { ...base, merchant_id: 'm'.repeat(65) }, 'field merchant_id'],
    ['bad id characters', { ...base, account_id: 'a/b' }, 'field account_id'],
  ])('%s', (_name, event, reason) => {
    const { events, rejects } = parseOne(event);
    expect(events).toEqual([]);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]?.offset).toBe(7);
    expect(rejects[0]?.reason).toContain(`${SOURCE}:7 ${reason}`);
    expect(rejects[0]?.raw).toBe(JSON.stringify(event));
  });

  it('rejects non-JSON text with the parser message', () => {
    const { rejects } = parseOne('{"schema_version":1,"transaction_id":"tx');
    expect(rejects[0]?.reason).toMatch(/^sim:acme:p0:7: not valid JSON \(.+\)$/);
    expect(rejects[0]?.raw).toBe('{"schema_version":1,"transaction_id":"tx');
  });

  it.each([['[1,2]'], ['"text"'], ['null'], ['42']])('rejects JSON %s that is not an object', (payload) => {
    expect(parseOne(payload).rejects[0]?.reason).toBe('sim:acme:p0:7: event must be a JSON object');
  });

  it('lists every failing field', () => {
    const reason = parseOne({ ...without('currency'), amount: '1e5' }).rejects[0]?.reason ?? '';
    expect(reason).toContain('field amount');
    expect(reason).toContain('field currency: is required');
    expect(reason.split('; ')).toHaveLength(2);
  });

  it('does not count unknown fields of rejected events', () => {
    expect(parseOne({ ...base, amount: 'x', extra: 1 }).unknownFields).toBe(0);
  });

  it('agrees with streamEventSchema on each of 5,000 simulated payloads, valid or not', () => {
    const feed = new SimulatedFeed({
      seed: 3,
      businessDate: '2026-11-21',
      invalidShare: 0.4,
      duplicateShare: 0.1,
      conflictShare: 0.05,
      unknownFieldsShare: 0.3,
      omitEventDateShare: 0.3,
    });
    const records = Array.from({ length: 5000 }, (_, offset) => ({ offset, payload: feed.payloadAt(offset) }));
    const { events, offsets, rejects } = parseStreamRecords({ sourceId: feed.id, records, timeZone: NY });
    const accepted = new Set(offsets);
    for (const { offset, payload } of records) {
      let zodSays = false;
      try {
        zodSays = streamEventSchema.safeParse(JSON.parse(payload)).success;
      } catch {
        zodSays = false;
      }
      expect(accepted.has(offset), payload).toBe(zodSays);
    }
    expect(events.length + rejects.length).toBe(5000);
    expect(rejects.length).toBeGreaterThan(1500);
  });
});

describe('event_date derivation in the client time zone', () => {
  const derived = (eventTs: string, timeZone = NY): string | undefined =>
    parseOne({ ...without('event_date'), event_ts: eventTs }, timeZone).events[0]?.eventDate;

  it('derives around midnight, whatever offset the timestamp is written in', () => {
    expect(derived('2026-11-21T23:59:59.999-05:00')).toBe('2026-11-21');
    expect(derived('2026-11-22T04:59:59.999Z')).toBe('2026-11-21');
    expect(derived('2026-11-22T05:00:00Z')).toBe('2026-11-22');
    expect(derived('2026-11-22T00:00:00-05:00')).toBe('2026-11-22');
    expect(derived('2026-11-22T06:00:00+01:00')).toBe('2026-11-22');
    expect(derived('2026-11-22T05:59:59+01:00')).toBe('2026-11-21');
  });

  it('truncates sub-millisecond digits instead of rounding into the next day', () => {
    expect(derived('2026-11-21T23:59:59.999999999-05:00')).toBe('2026-11-21');
  });

  it('follows DST changes (New York, 2026)', () => {
    // Spring forward on 2026-03-08: midnight is still EST (-05:00); the next midnight is EDT (-04:00).
    expect(derived('2026-03-08T04:59:59Z')).toBe('2026-03-07');
    expect(derived('2026-03-08T05:00:00Z')).toBe('2026-03-08');
    expect(derived('2026-03-09T03:59:59Z')).toBe('2026-03-08');
    expect(derived('2026-03-09T04:00:00Z')).toBe('2026-03-09');
    // Fall back on 2026-11-01: midnight is EDT; the repeated 01:xx hour stays on the same date.
    expect(derived('2026-11-01T03:59:59Z')).toBe('2026-10-31');
    expect(derived('2026-11-01T04:00:00Z')).toBe('2026-11-01');
    expect(derived('2026-11-01T05:30:00Z')).toBe('2026-11-01');
    expect(derived('2026-11-01T06:30:00Z')).toBe('2026-11-01');
    expect(derived('2026-11-02T04:59:59Z')).toBe('2026-11-01');
    expect(derived('2026-11-02T05:00:00Z')).toBe('2026-11-02');
  });

  it('handles half- and quarter-hour zones', () => {
    expect(derived('2026-11-21T18:29:59Z', 'Asia/Kolkata')).toBe('2026-11-21');
    expect(derived('2026-11-21T18:30:00Z', 'Asia/Kolkata')).toBe('2026-11-22');
    expect(derived('2026-11-21T18:14:59Z', 'Asia/Kathmandu')).toBe('2026-11-21');
    expect(derived('2026-11-21T18:15:00Z', 'Asia/Kathmandu')).toBe('2026-11-22');
  });
});

describe('dates helpers', () => {
  it('adds days across month, year and leap-day boundaries', () => {
    expect(previousDate('2026-03-01')).toBe('2026-02-28');
    expect(previousDate('2024-03-01')).toBe('2024-02-29');
    expect(previousDate('2026-01-01')).toBe('2025-12-31');
    expect(addDays('2026-11-21', -5)).toBe('2026-11-16');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2000-02-28', 1)).toBe('2000-02-29');
    expect(addDays('1900-02-28', 1)).toBe('1900-03-01');
    expect(addDays('2026-11-21', 0)).toBe('2026-11-21');
    expect(daysBetween('2026-11-16', '2026-11-21')).toBe(5);
    expect(() => addDays('2026-02-30', 1)).toThrow(RangeError);
    expect(() => addDays('2026-11-21', 0.5)).toThrow(RangeError);
  });

  it('knows the first instant and the length of a business day', () => {
    expect(new Date(startOfBusinessDate('2026-11-21', NY)).toISOString()).toBe('2026-11-21T05:00:00.000Z');
    expect(businessDayLengthMs('2026-11-21', NY)).toBe(24 * 3_600_000);
    expect(businessDayLengthMs('2026-03-08', NY)).toBe(23 * 3_600_000);
    expect(businessDayLengthMs('2026-11-01', NY)).toBe(25 * 3_600_000);
  });

  it('finds the start of a day whose midnight is skipped (America/Santiago, DST at 24:00)', () => {
    for (let day = 0; day < 366; day++) {
      const date = addDays('2026-01-01', day);
      const start = startOfBusinessDate(date, 'America/Santiago');
      expect(businessDateOfInstant(start, 'America/Santiago')).toBe(date);
      expect(businessDateOfInstant(start - 1, 'America/Santiago')).toBe(previousDate(date));
    }
  });

  it('formats timestamps that parse back to the same instant and business date', () => {
    for (const timeZone of [NY, 'UTC', 'Europe/London', 'Asia/Kathmandu', 'Australia/Lord_Howe']) {
      for (let i = 0; i < 2000; i++) {
        const ms = Date.UTC(2026, 0, 1) + i * 4_393_211; // about 100 days in uneven steps, across DST changes
        const text = formatTimestamp(ms, timeZone);
        expect(Date.parse(text)).toBe(ms);
        expect(businessDate(text, timeZone)).toBe(businessDateOfInstant(ms, timeZone));
        if (timeZone === NY) expect(text.slice(0, 10)).toBe(businessDateOfInstant(ms, NY));
      }
    }
    expect(formatTimestamp(Date.UTC(2026, 10, 22, 4, 59, 58, 120), NY)).toBe('2026-11-21T23:59:58.120-05:00');
    expect(formatTimestamp(Date.UTC(2026, 10, 22, 4, 59, 58, 120), 'UTC')).toBe('2026-11-22T04:59:58.120Z');
  });
});
