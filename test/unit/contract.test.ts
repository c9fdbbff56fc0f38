import { describe, expect, test } from 'vitest';
import {
  AMOUNT_PATTERN,
  CURRENCY_PATTERN,
  DATE_PATTERN,
  eventTsSchema,
  fileRowSchema,
  ISO_4217,
  REQUIRED_FILE_COLUMNS,
  STRICT_TIMESTAMP_PATTERN,
  formatIssue,
  isRealDate,
  manifestSchema,
  streamEventSchema,
  zodIssues,
} from '../../src/domain/contract.js';

const manifest = {
  file_id: 'acme-recon-2026-11-21',
  client_id: 'acme',
  kind: 'reconciliation',
  covers: ['2026-11-21'],
  sequence: 412,
  row_count: 1843211,
  control_totals: { USD: '18432110.55', EUR: '-12.00' },
  sha256: 'a'.repeat(64),
  created_at: '2026-11-22T00:41:07Z',
};
const fieldsOf = (input: unknown): string[] => {
  const parsed = manifestSchema.safeParse(input);
  return parsed.success ? [] : zodIssues(parsed.error, 'm.json', null).map((i) => i.field ?? '(none)');
};

describe('manifestSchema', () => {
  test('accepts the contract example and an amendment covering several dates', () => {
    expect(manifestSchema.parse(manifest)).toEqual(manifest);
    expect(fieldsOf({ ...manifest, kind: 'amendment', covers: ['2026-11-17', '2026-11-18'] })).toEqual([]);
    expect(fieldsOf({ ...manifest, kind: 'amendment', row_count: 0, control_totals: {} })).toEqual([]);
  });

  test.each([
    ['a reconciliation covering two dates', { covers: ['2026-11-20', '2026-11-21'] }, 'covers'],
    ['no covered date', { kind: 'amendment', covers: [] }, 'covers'],
    ['a date listed twice', { kind: 'amendment', covers: ['2026-11-21', '2026-11-21'] }, 'covers'],
    ['an impossible covered date', { covers: ['2026-02-30'] }, 'covers.0'],
    ['an unknown kind', { kind: 'restatement' }, 'kind'],
    ['a negative sequence', { sequence: -1 }, 'sequence'],
    ['a fractional row_count', { row_count: 1.5 }, 'row_count'],
    ['row_count as text', { row_count: '10' }, 'row_count'],
    ['a control total as a float', { control_totals: { USD: 10.5 } }, 'control_totals.USD'],
    ['a control total in exponent notation', { control_totals: { USD: '1e3' } }, 'control_totals.USD'],
    ['a lower-case currency key', { control_totals: { usd: '1.00' } }, 'control_totals.usd'],
    ['an unknown currency key', { control_totals: { XYZ: '1.00' } }, 'control_totals.XYZ'],
    ['an upper-case digest', { sha256: 'A'.repeat(64) }, 'sha256'],
    ['a short digest', { sha256: 'a'.repeat(63) }, 'sha256'],
    ['created_at without an offset', { created_at: '2026-11-22T00:41:07' }, 'created_at'],
    ['a file_id with a slash', { file_id: 'acme/recon' }, 'file_id'],
  ])('rejects %s, naming the field', (_what, patch, field) => {
    expect(fieldsOf({ ...manifest, ...patch })).toContain(field);
  });

  test('rejects unknown and missing keys', () => {
    expect(manifestSchema.safeParse({ ...manifest, note: 'x' }).success).toBe(false);
    const { sha256: _sha, ...withoutDigest } = manifest;
    expect(fieldsOf(withoutDigest)).toContain('sha256');
  });
});

describe('timestamps and dates', () => {
  test.each([
    ['2026-11-21T23:59:58.120-05:00', true],
    ['2026-11-21T23:59:58Z', true],
    ['2026-11-21T23:59:58.123456789+14:00', true],
    ['2024-02-29T12:00:00Z', true],
    ['2026-11-21T23:59:58+23:59', true],
    ['2026-11-21T23:59:58', false],
    ['2026-11-21 23:59:58Z', false],
    ['2026-11-21T23:59:58z', false],
    ['2026-11-21T24:00:00Z', false],
    ['2026-11-21T23:60:00Z', false],
    ['2026-11-21T23:59:60Z', false],
    ['2026-02-29T12:00:00Z', false],
    ['2026-02-30T12:00:00Z', false],
    ['2026-11-21T10:00:00+24:00', false],
    ['0000-01-01T00:00:00Z', false],
    ['2026-11-21T10:00:00.1234567890Z', false],
  ])('event_ts %s valid: %s', (ts, valid) => {
    expect(eventTsSchema.safeParse(ts).success).toBe(valid);
  });

  test('isRealDate accepts a leap day and year 1, refuses 2026-02-29, month 13, year 0 and an unpadded month', () => {
    expect(isRealDate('2024-02-29')).toBe(true);
    expect(isRealDate('2026-02-29')).toBe(false);
    expect(isRealDate('2026-13-01')).toBe(false);
    expect(isRealDate('0001-01-01')).toBe(true);
    expect(isRealDate('0000-12-31')).toBe(false);
    expect(isRealDate('2026-1-01')).toBe(false);
  });
});

const event = {
  schema_version: 1,
  transaction_id: 'tx-1',
  account_id: 'acct-1',
  event_ts: '2026-11-21T23:59:58.120-05:00',
  amount: '-12.50',
  currency: 'USD',
};

describe('streamEventSchema', () => {
  test('accepts an event without event_date, merchant or description', () => {
    expect(streamEventSchema.parse(event)).toEqual(event);
  });

  test('ignores unknown fields (the caller counts them)', () => {
    expect(streamEventSchema.parse({ ...event, channel: 'web' })).toEqual(event);
  });

  test.each([
    ['schema_version 2', { schema_version: 2 }, 'schema_version'],
    ['no schema_version', { schema_version: undefined }, 'schema_version'],
    ['a missing currency (never defaulted)', { currency: undefined }, 'currency'],
    ['a lower-case currency', { currency: 'usd' }, 'currency'],
    ['an amount as a number', { amount: 12.5 }, 'amount'],
    ['an amount with 10 decimals', { amount: '1.0000000001' }, 'amount'],
    ['an empty id', { transaction_id: '' }, 'transaction_id'],
    ['an impossible event_date', { event_date: '2026-02-30' }, 'event_date'],
    ['a 513-character description', { description: 'd'.repeat(513) }, 'description'],
    ['a 65-character merchant_id', { merchant_id: 'm'.repeat(65) }, 'merchant_id'],
  ])('rejects %s', (_what, patch, field) => {
    const parsed = streamEventSchema.safeParse({ ...event, ...patch });
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(zodIssues(parsed.error, 'stream', 7).map((i) => i.field)).toContain(field);
  });

  test('limits count characters, not bytes or UTF-16 units', () => {
    expect(streamEventSchema.safeParse({ ...event, description: '😀'.repeat(512) }).success).toBe(true);
    expect(streamEventSchema.safeParse({ ...event, description: '😀'.repeat(513) }).success).toBe(false);
    expect(streamEventSchema.safeParse({ ...event, merchant_id: '😀'.repeat(64) }).success).toBe(true);
  });
});

describe('fileRowSchema', () => {
  const row = { ...event, schema_version: undefined, event_date: '2026-11-21', merchant_id: null, description: null };
  const { schema_version: _v, ...fileRow } = row;

  test('requires event_date and accepts null optional cells', () => {
    expect(fileRowSchema.safeParse(fileRow).success).toBe(true);
    expect(fileRowSchema.safeParse({ ...fileRow, event_date: undefined }).success).toBe(false);
  });

  test('rejects an unknown column', () => {
    expect(fileRowSchema.safeParse({ ...fileRow, note: 'x' }).success).toBe(false);
  });
});

test('formatIssue names file, line and field', () => {
  expect(formatIssue({ source: 'a.csv', line: 12, field: 'amount', reason: 'bad' })).toBe('a.csv:12 field amount: bad');
  expect(formatIssue({ source: 'a.csv', line: null, field: null, reason: 'empty' })).toBe('a.csv: empty');
});

describe('the reasons a client reads', () => {
  const reasonsOf = (schema: { safeParse: (v: unknown) => { success: boolean; error?: unknown } }, value: unknown): string[] => {
    const parsed = schema.safeParse(value);
    return parsed.success ? [] : zodIssues(parsed.error as never, 'x', 1).map((i) => `${i.field ?? '-'}: ${i.reason}`);
  };
  const event = { schema_version: 1, transaction_id: 'tx-1', account_id: 'acct-1', event_ts: '2026-11-21T10:00:00Z', amount: '1.00', currency: 'USD' };

  test('each field rule names itself', () => {
    expect(reasonsOf(streamEventSchema, { ...event, transaction_id: 'a/b' })).toEqual(['transaction_id: must be 1–64 chars of [A-Za-z0-9._:-]']);
    expect(reasonsOf(streamEventSchema, { ...event, event_date: '2026-02-30' })).toEqual(['event_date: must be a calendar date YYYY-MM-DD']);
    expect(reasonsOf(streamEventSchema, { ...event, event_ts: '2026-11-21T10:00:00' })).toEqual([
      'event_ts: must be an RFC 3339 timestamp with an offset or Z',
    ]);
    expect(reasonsOf(streamEventSchema, { ...event, amount: '1e5' })).toEqual([
      'amount: must be an exact decimal with at most 29 integer and 9 fractional digits',
    ]);
    expect(reasonsOf(streamEventSchema, { ...event, currency: 'USDX' })).toEqual([
      'currency: must be an upper-case ISO 4217 code',
      'currency: is not an ISO 4217 currency',
    ]);
    expect(reasonsOf(streamEventSchema, { ...event, currency: 'ABC' })).toEqual(['currency: is not an ISO 4217 currency']);
    expect(reasonsOf(streamEventSchema, { ...event, merchant_id: 'm'.repeat(65) })).toEqual(['merchant_id: must be at most 64 characters']);
    expect(reasonsOf(streamEventSchema, { ...event, description: 'd'.repeat(513) })).toEqual(['description: must be at most 512 characters']);
  });

  test('manifest rules name themselves, as custom issues on covers where zod has no rule', () => {
    expect(reasonsOf(manifestSchema, { ...manifest, kind: 'amendment', covers: [] })).toEqual(['covers: must list at least one date']);
    expect(reasonsOf(manifestSchema, { ...manifest, sha256: `${'a'.repeat(64)}b` })).toEqual(['sha256: must be 64 lower-case hex digits']);
    expect(reasonsOf(manifestSchema, { ...manifest, sha256: `b${'a'.repeat(64)}` })).toEqual(['sha256: must be 64 lower-case hex digits']);
    const twice = manifestSchema.safeParse({ ...manifest, kind: 'amendment', covers: ['2026-11-21', '2026-11-21'] });
    expect(twice.error?.issues.map((i) => [i.code, i.path.join('.'), i.message])).toEqual([['custom', 'covers', 'lists a date twice']]);
    const two = manifestSchema.safeParse({ ...manifest, covers: ['2026-11-21', '2026-11-22'] });
    expect(two.error?.issues.map((i) => [i.code, i.path.join('.'), i.message])).toEqual([['custom', 'covers', 'a reconciliation covers exactly one date']]);
  });

  test('an issue about the whole value names no field', () => {
    expect(reasonsOf(manifestSchema, 'not an object')).toEqual([expect.stringMatching(/^-: /)]);
  });
});

describe('the patterns validation shares with SQL (validate.ts runs them in DuckDB)', () => {
  test('match the whole value only', () => {
    for (const [pattern, ok] of [
      [DATE_PATTERN, '2026-11-21'],
      [CURRENCY_PATTERN, 'USD'],
      [AMOUNT_PATTERN, '-12.5'],
      [STRICT_TIMESTAMP_PATTERN, '2026-11-21T10:00:00+01:00'],
    ] as const) {
      expect(pattern.test(ok), `${pattern.source} ${ok}`).toBe(true);
      expect(pattern.test(`x${ok}`), `${pattern.source} x${ok}`).toBe(false);
      expect(pattern.test(`${ok}x`), `${pattern.source} ${ok}x`).toBe(false);
    }
  });

  test('an amount needs no fraction', () => {
    expect(AMOUNT_PATTERN.test('12')).toBe(true);
    expect(eventTsSchema.safeParse('2026-11-21T10:00:00Zx').success).toBe(false);
  });
});

describe('contract lists', () => {
  test('the required file columns are all but merchant_id and description', () => {
    expect(REQUIRED_FILE_COLUMNS).toEqual(['transaction_id', 'account_id', 'event_ts', 'event_date', 'amount', 'currency']);
  });

  test('ISO 4217 holds the 156 active codes, first and last of every line of the list among them', () => {
    expect(ISO_4217.size).toBe(156);
    for (const code of ['AED', 'CHF', 'CLP', 'HTG', 'HUF', 'MGA', 'MKD', 'RSD', 'RUB', 'UGX', 'USD', 'ZWG']) expect(ISO_4217.has(code), code).toBe(true);
  });
});
