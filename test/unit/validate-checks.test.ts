/**
 * What validateFile tells a client about a file, issue by issue: each case is a delivery of a few rows written here,
 * and the assertion is the whole issue (file, line, field, reason) the client reads in the error report, or the
 * accepted file's counts, totals and normalised rows. Small inputs keep the file fast enough to run against every
 * mutant of src/files/validate.ts (docs/reliability.md, "Mutation testing").
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, describe, expect, test } from 'vitest';
import { AMOUNT_PATTERN, FILE_COLUMNS, ISO_4217, type InputIssue } from '../../src/domain/contract.js';
import { canonicalAmount, parseDecimal } from '../../src/domain/decimal.js';
import { csvLine, manifestFor, type GeneratedRow } from '../../src/files/generate.js';
import { validateFile, type ValidateFileInput, type ValidationProgress, type ValidationResult } from '../../src/files/validate.js';

const root = await mkdtemp(join(tmpdir(), 'validate-checks-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const DAY = '2026-11-21';
const FILE_ID = 'acme-recon-1';
const DATA = `${FILE_ID}.csv`;
const MANIFEST = `${FILE_ID}.manifest.json`;

/** A valid row on DAY; `i` makes its id unique. */
const row = (i: number, over: Partial<GeneratedRow> = {}): GeneratedRow => ({
  transaction_id: `tx-${i}`,
  account_id: `acct-${i % 3}`,
  event_ts: `${DAY}T10:00:0${i % 10}-05:00`,
  event_date: DAY,
  amount: `${i}.25`,
  currency: i % 2 === 0 ? 'USD' : 'EUR',
  merchant_id: i % 2 === 0 ? null : `m-${i}`,
  description: i % 3 === 0 ? null : `item ${i}`,
  ...over,
});
const rows = (n: number): GeneratedRow[] => Array.from({ length: n }, (_, i) => row(i + 1));

const render = (list: GeneratedRow[], header: readonly string[] = FILE_COLUMNS, lineEnd = '\n'): string =>
  csvLine(header, lineEnd) + list.map((r) => csvLine(header.map((c) => (r as Record<string, string | null>)[c] ?? null), lineEnd)).join('');

/** Control totals of the rows a valid file would declare. */
const totalsOf = (list: GeneratedRow[]): Map<string, bigint> => {
  const totals = new Map<string, bigint>();
  for (const r of list) {
    if (r.currency === null || !ISO_4217.has(r.currency) || r.amount === null || !AMOUNT_PATTERN.test(r.amount)) continue;
    totals.set(r.currency, (totals.get(r.currency) ?? 0n) + parseDecimal(r.amount));
  }
  return totals;
};

interface Delivery {
  rows?: GeneratedRow[];
  /** The data bytes as delivered, instead of the rendered rows. */
  bytes?: string | Buffer;
  /** Delivered as `.csv.gz` (the bytes gzip-compressed unless `bytes` is given). */
  gzip?: boolean;
  covers?: string[];
  kind?: 'reconciliation' | 'amendment';
  /** Edits the manifest the client would send (computed from the rows as delivered). */
  manifest?: (m: Record<string, unknown>) => unknown;
  manifestText?: string | null;
  options?: Partial<ValidateFileInput>;
  /** The file id, in the data file's and the manifest's names and in the manifest (FILE_ID unless given). */
  fileId?: string;
}

let cases = 0;
const deliver = async (d: Delivery = {}): Promise<{ result: ValidationResult; dir: string; sha256: string; dataName: string }> => {
  const dir = join(root, `case-${++cases}`);
  await mkdir(dir, { recursive: true });
  const list = d.rows ?? rows(4);
  const fileId = d.fileId ?? FILE_ID;
  const dataName = d.gzip ? `${fileId}.csv.gz` : `${fileId}.csv`;
  const text = d.bytes ?? render(list);
  const bytes = d.bytes === undefined && d.gzip ? gzipSync(text) : Buffer.from(text);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(dir, dataName), bytes);
  const manifest = manifestFor({
    fileId,
    clientId: 'acme',
    kind: d.kind ?? 'reconciliation',
    covers: d.covers ?? [DAY],
    sequence: 1,
    rowCount: list.length,
    totals: totalsOf(list),
    sha256,
    createdAt: '2026-11-22T00:00:00Z',
  });
  const manifestText =
    d.manifestText !== undefined ? d.manifestText : JSON.stringify(d.manifest ? d.manifest(manifest as unknown as Record<string, unknown>) : manifest);
  const result = await validateFile({
    dataPath: join(dir, dataName),
    manifestText,
    manifestName: `${fileId}.manifest.json`,
    workDir: join(dir, 'work'),
    ...d.options,
  });
  return { result, dir, sha256, dataName };
};

/** The issues of a rejected delivery (fails the test if it was accepted). */
const rejected = async (d: Delivery = {}): Promise<{ issues: InputIssue[]; issueCount: number; sha256: string | null }> => {
  const { result } = await deliver(d);
  if (result.ok) throw new Error('the file was accepted');
  return result;
};

const at = (line: number | null, field: string | null, reason: string, source = DATA): InputIssue => ({ source, line, field, reason });
const inManifest = (field: string | null, reason: string): InputIssue => ({ source: MANIFEST, line: null, field, reason });

describe('the manifest', () => {
  test('missing: one issue naming the manifest', async () => {
    expect((await rejected({ manifestText: null })).issues).toEqual([inManifest(null, 'manifest is missing')]);
  });

  test('not JSON: the parser message follows', async () => {
    const { issues } = await rejected({ manifestText: '{"file_id": ' });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ source: MANIFEST, line: null, field: null });
    expect(issues[0]!.reason).toMatch(/^manifest is not valid JSON: \S/);
  });

  test('unknown keys are named as the field, several together', async () => {
    expect((await rejected({ manifest: (m) => ({ ...m, note: 'x' }) })).issues).toEqual([inManifest('note', expect.stringMatching(/note/) as unknown as string)]);
    const two = await rejected({ manifest: (m) => ({ ...m, note: 'x', extra: 1 }) });
    expect(two.issues.map((i) => i.field)).toEqual(['note, extra']);
  });

  test('a field of the wrong type is named by its path', async () => {
    const { issues } = await rejected({ manifest: (m) => ({ ...m, control_totals: { USD: 10.5 } }) });
    expect(issues.map((i) => [i.source, i.line, i.field])).toEqual([[MANIFEST, null, 'control_totals.USD']]);
  });

  test('a file_id that is not the data file name', async () => {
    const { issues } = await rejected({ manifest: (m) => ({ ...m, file_id: 'acme-other' }) });
    expect(issues).toEqual([inManifest('file_id', `file_id "acme-other" does not match the data file name ${DATA}`)]);
  });

  test('a .csv.gz file is named by its stem', async () => {
    const { result } = await deliver({ gzip: true });
    expect(result.ok).toBe(true);
  });

  test("a date after the client's business date, each one; today itself is fine", async () => {
    const { issues } = await rejected({
      kind: 'amendment',
      covers: ['2026-11-21', '2026-11-22', '2026-11-23'],
      options: { today: '2026-11-21' },
    });
    expect(issues).toEqual([
      inManifest('covers', "covers 2026-11-22, after the client's current business date 2026-11-21: a day cannot be restated before it happens"),
      inManifest('covers', "covers 2026-11-23, after the client's current business date 2026-11-21: a day cannot be restated before it happens"),
    ]);
    expect((await deliver({ options: { today: DAY } })).result.ok).toBe(true);
  });

  test('another client: refused; the same client: accepted', async () => {
    const { issues } = await rejected({ options: { clientId: 'globex' } });
    expect(issues).toEqual([
      inManifest(
        'client_id',
        'client_id "acme" is not the client this landing area serves ("globex"): a file for another client is never applied here',
      ),
    ]);
    expect((await deliver({ options: { clientId: 'acme' } })).result.ok).toBe(true);
  });
});

describe('the bytes', () => {
  test('a digest that does not match names both digests', async () => {
    const { issues, sha256 } = await rejected({ manifest: (m) => ({ ...m, sha256: '0'.repeat(64) }) });
    expect(issues).toEqual([at(null, 'sha256', `sha256 of the delivered bytes is ${sha256}, the manifest says ${'0'.repeat(64)}`)]);
  });

  test('an empty file', async () => {
    expect((await rejected({ bytes: '', rows: [] })).issues).toEqual([at(null, null, 'the file is empty: the first line must be the header')]);
  });

  test('an empty gzip stream is an empty file too', async () => {
    const { issues } = await rejected({ bytes: gzipSync(''), gzip: true, rows: [] });
    expect(issues).toEqual([at(null, null, 'the file is empty: the first line must be the header', `${DATA}.gz`)]);
  });

  test('a one-byte file named .csv.gz is not gzip', async () => {
    const { issues } = await rejected({ bytes: '\x1f', gzip: true });
    expect(issues).toEqual([
      at(null, null, `${DATA}.gz is named .csv.gz but is not gzip data (it does not start with the gzip signature 1f 8b)`, `${DATA}.gz`),
    ]);
  });

  test('gzip bytes named .csv', async () => {
    const { issues } = await rejected({ bytes: gzipSync(render(rows(2))) });
    expect(issues).toEqual([at(null, null, `${DATA} holds gzip-compressed data but is named .csv: deliver it as ${FILE_ID}.csv.gz`)]);
  });

  test('a corrupt gzip stream names the file and the zlib complaint', async () => {
    const good = gzipSync(render(rows(2)));
    const corrupt = Buffer.concat([good.subarray(0, 10), Buffer.alloc(20, 0xff), good.subarray(30)]);
    const { issues } = await rejected({ bytes: corrupt, gzip: true });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ source: `${DATA}.gz`, line: null, field: null });
    expect(issues[0]!.reason).toMatch(new RegExp(`^${DATA}\\.gz: the file is not a valid gzip stream \\(`));
  });
});

describe('the header', () => {
  test('an unknown column, an empty name, a repeated column and a missing required one, each on line 1', async () => {
    const header = ['transaction_id', 'account_id', 'event_ts', '', 'amount', 'amount', 'note'];
    const { issues } = await rejected({ bytes: `${header.join(',')}\n` });
    expect(issues).toEqual([
      at(1, null, 'column 4 has an empty name'),
      at(1, 'amount', 'column "amount" appears twice in the header'),
      at(
        1,
        'note',
        `unknown column "note" (a renamed or extra column is a breaking change; expected ${FILE_COLUMNS.join(', ')})`,
      ),
      at(1, 'event_date', 'required column "event_date" is missing'),
      at(1, 'currency', 'required column "currency" is missing'),
    ]);
  });

  test('a header that is not CSV', async () => {
    const { issues } = await rejected({ bytes: 'transaction_id,"account_id\n' });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ source: DATA, line: 1, field: null });
    expect(issues[0]!.reason).toMatch(/^header line is not valid CSV: /);
  });

  test('a header that is not UTF-8', async () => {
    const bytes = Buffer.concat([Buffer.from('transaction_id,acc'), Buffer.from([0xff]), Buffer.from('\n')]);
    const { issues } = await rejected({ bytes });
    expect(issues[0]).toEqual(at(1, null, 'header line cannot be read: the header is not valid UTF-8'));
  });

  test('a header line longer than 65536 bytes, wherever its line end falls; one of 65536 bytes is read', async () => {
    for (const length of [65_537, 70_000, 200_000]) {
      const { issues } = await rejected({ bytes: `${'x'.repeat(length)}\n1\n` });
      expect(issues[0]).toEqual(at(1, null, 'header line is longer than 65536 bytes'));
    }
    const { issues } = await rejected({ bytes: `${'x'.repeat(65_536)}\n1\n` });
    expect(issues[0]!.reason).toMatch(/^unknown column "x{65536}"/);
  });

  test('a header with no line end, a byte-order mark or CRLF is read as the header', async () => {
    expect((await deliver({ bytes: FILE_COLUMNS.join(','), rows: [], kind: 'amendment' })).result.ok).toBe(true);
    expect((await deliver({ bytes: `\uFEFF${render(rows(2))}`, rows: rows(2) })).result.ok).toBe(true);
    expect((await deliver({ bytes: render(rows(2), FILE_COLUMNS, '\r\n'), rows: rows(2) })).result.ok).toBe(true);
  });

  test('columns in another order and optional columns left out', async () => {
    const list = rows(3);
    const reordered = [...FILE_COLUMNS].reverse();
    expect((await deliver({ bytes: render(list, reordered), rows: list })).result.ok).toBe(true);
    const required = FILE_COLUMNS.filter((c) => c !== 'merchant_id' && c !== 'description');
    const { result } = await deliver({ bytes: render(list, required), rows: list });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const text = await readFile(result.normalizedPath, 'utf8');
    expect(text.split('\n')[0]).toBe(FILE_COLUMNS.join(','));
    expect(text.split('\n')[1]).toBe('tx-1,acct-1,2026-11-21T10:00:01-05:00,2026-11-21,1.25,EUR,,');
  });
});

describe('the rows', () => {
  test('each field check names its line, field and the value it got', async () => {
    const list = [
      row(1, { transaction_id: null }),
      row(2, { account_id: 'acct 2' }),
      row(3, { event_ts: '2026-11-21T10:00:00' }),
      row(4, { event_ts: null }),
      row(5, { event_date: '2026/11/21' }),
      row(6, { amount: '1e3' }),
      row(7, { amount: null }),
      row(8, { currency: 'usd' }),
      row(9, { currency: null }),
      row(10, { merchant_id: 'm'.repeat(65) }),
      row(11, { description: 'd'.repeat(513) }),
      row(12),
    ];
    const { issues, issueCount } = await rejected({ rows: list });
    expect(issues).toEqual([
      at(2, 'transaction_id', 'is required'),
      at(3, 'account_id', 'must be 1–64 chars of [A-Za-z0-9._:-] (got "acct 2")'),
      at(4, 'event_ts', 'must be an RFC 3339 timestamp with an offset or Z (got "2026-11-21T10:00:00")'),
      at(5, 'event_ts', 'is required'),
      at(6, 'event_date', 'must be a calendar date YYYY-MM-DD (got "2026/11/21")'),
      at(7, 'amount', 'must be an exact decimal with at most 29 integer and 9 fractional digits, no exponent (got "1e3")'),
      at(8, 'amount', 'is required'),
      at(9, 'currency', 'must be an upper-case ISO 4217 code (got "usd")'),
      at(10, 'currency', 'is required'),
      at(11, 'merchant_id', 'must be at most 64 characters (got 65)'),
      at(12, 'description', 'must be at most 512 characters (got 513)'),
    ]);
    expect(issueCount).toBe(11);
  });

  test('one row failing several checks lists each, in column order; long values are cut at 80 characters', async () => {
    const long = `${'x'.repeat(90)} y`;
    const { issues } = await rejected({
      rows: [row(1), row(2, { transaction_id: long, account_id: null, event_date: '2026-02-30', currency: 'XYZ' })],
    });
    expect(issues).toEqual([
      at(3, 'transaction_id', `must be 1–64 chars of [A-Za-z0-9._:-] (got "${'x'.repeat(80)}")`),
      at(3, 'account_id', 'is required'),
      at(3, 'event_date', 'must be a calendar date YYYY-MM-DD (got "2026-02-30")'),
      at(3, 'currency', 'must be an upper-case ISO 4217 code (got "XYZ")'),
    ]);
  });

  test('a date the manifest does not cover, on a row that passes every other check', async () => {
    const { issues } = await rejected({ kind: 'amendment', covers: ['2026-11-19', DAY], rows: [row(1), row(2, { event_date: '2026-11-20' })] });
    expect(issues).toEqual([at(3, 'event_date', '"2026-11-20" is not a date the manifest covers (2026-11-19, 2026-11-21)')]);
  });

  test('dates and timestamps that match the pattern but are not real, or before year 1', async () => {
    const { issues } = await rejected({
      rows: [
        row(1, { event_ts: '2026-02-30T10:00:00Z' }),
        row(2, { event_date: '0000-01-01' }),
        row(3, { event_ts: '0000-12-31T10:00:00Z' }),
        row(4, { event_ts: '2026-11-21T24:00:00Z' }),
        row(5),
      ],
    });
    expect(issues).toEqual([
      at(2, 'event_ts', 'must be an RFC 3339 timestamp with an offset or Z (got "2026-02-30T10:00:00Z")'),
      at(3, 'event_date', 'must be a calendar date YYYY-MM-DD (got "0000-01-01")'),
      at(4, 'event_ts', 'must be an RFC 3339 timestamp with an offset or Z (got "0000-12-31T10:00:00Z")'),
      at(5, 'event_ts', 'must be an RFC 3339 timestamp with an offset or Z (got "2026-11-21T24:00:00Z")'),
    ]);
  });

  test('a timestamp on an impossible date is found even when it is the only problem of its date group', async () => {
    const { issues } = await rejected({ rows: [row(1, { event_ts: '2026-11-31T10:00:00Z' })] });
    expect(issues).toEqual([at(2, 'event_ts', 'must be an RFC 3339 timestamp with an offset or Z (got "2026-11-31T10:00:00Z")')]);
  });

  test('an unknown currency on an otherwise valid row', async () => {
    const { issues } = await rejected({ rows: [row(1), row(2, { currency: 'XYZ' })] });
    expect(issues).toEqual([at(3, 'currency', 'must be an upper-case ISO 4217 code (got "XYZ")')]);
  });

  test('lines are the physical lines: a quoted field spanning lines moves the records after it down', async () => {
    const list = [row(1, { description: 'one\ntwo\nthree' }), row(2), row(3, { amount: '12,50' })];
    const { issues } = await rejected({ rows: list });
    expect(issues).toEqual([
      at(6, 'amount', 'must be an exact decimal with at most 29 integer and 9 fractional digits, no exponent (got "12,50")'),
    ]);
  });

  test('lists maxErrors issues (100 by default) and counts them all', async () => {
    const bad = Array.from({ length: 103 }, (_, i) => row(i + 1, { currency: 'usd' }));
    const byDefault = await rejected({ rows: bad });
    expect(byDefault.issues).toHaveLength(100);
    expect(byDefault.issueCount).toBe(103);
    expect(byDefault.issues.at(-1)).toEqual(at(101, 'currency', 'must be an upper-case ISO 4217 code (got "usd")'));
    const few = await rejected({ rows: bad.slice(0, 5), options: { maxErrors: 2 } });
    expect(few.issues.map((i) => i.line)).toEqual([2, 3]);
    expect(few.issueCount).toBe(5);
  });

  test('a blank line between records is reported at its line, and the rows after it are still checked', async () => {
    const list = [row(1), row(2), row(3, { currency: 'usd' })];
    const text = render(list).replace('\ntx-2,', '\n\ntx-2,');
    const { issues, issueCount } = await rejected({ bytes: text, rows: list });
    expect(issues.map((i) => [i.line, i.field])).toEqual([
      [3, null],
      [5, 'currency'],
    ]);
    expect(issues[0]!.reason).toMatch(/blank line/);
    expect(issueCount).toBe(2);
  });
});

describe('repeated transaction ids', () => {
  test('every repeat is reported at its line with the line of the first', async () => {
    const list = [row(1), row(2), row(3, { transaction_id: 'tx-1' }), row(4), row(5, { transaction_id: 'tx-1' }), row(6, { transaction_id: 'tx-4' })];
    const { issues, issueCount } = await rejected({ rows: list });
    expect(issues).toEqual([
      at(4, 'transaction_id', 'transaction_id "tx-1" appears more than once (first on line 2)'),
      at(6, 'transaction_id', 'transaction_id "tx-1" appears more than once (first on line 2)'),
      at(7, 'transaction_id', 'transaction_id "tx-4" appears more than once (first on line 5)'),
    ]);
    expect(issueCount).toBe(3);
  });

  test('empty ids are missing, not repeated', async () => {
    const { issues } = await rejected({ rows: [row(1, { transaction_id: null }), row(2, { transaction_id: null }), row(3)] });
    expect(issues).toEqual([at(2, 'transaction_id', 'is required'), at(3, 'transaction_id', 'is required')]);
  });

  test('listed up to maxErrors, all counted', async () => {
    const list = Array.from({ length: 6 }, (_, i) => row(i + 1, { transaction_id: 'same' }));
    const { issues, issueCount } = await rejected({ rows: list, options: { maxErrors: 3 } });
    expect(issues.map((i) => i.line)).toEqual([3, 4, 5]);
    expect(issueCount).toBe(5);
  });
});

describe('the structure DuckDB reads', () => {
  test('broken quoting, named at its line and column', async () => {
    const text = render(rows(3)).replace('item 2', '"broken "quote" here"');
    const { issues } = await rejected({ bytes: text, rows: rows(3) });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ source: DATA, line: 3, field: 'description' });
    expect(issues[0]!.reason).toMatch(/^broken quoting: /);
  });

  test('a record with a cell too many or too few', async () => {
    const many = await rejected({ bytes: render(rows(3)).replace('item 2\n', 'item 2,extra\n'), rows: rows(3) });
    expect(many.issues).toHaveLength(1);
    expect(many.issues[0]).toMatchObject({ source: DATA, line: 3 });
    expect(many.issues[0]!.reason).toMatch(/^wrong number of cells: /);
    const few = await rejected({ bytes: render(rows(3)).replace(',item 2\n', '\n'), rows: rows(3) });
    expect(few.issues[0]).toMatchObject({ source: DATA, line: 3, field: 'description' });
    expect(few.issues[0]!.reason).toMatch(/^wrong number of cells: /);
  });

  test('a byte that is not UTF-8 in a row', async () => {
    const text = render(rows(3));
    const cut = text.indexOf('item 2') + 4;
    const bytes = Buffer.concat([Buffer.from(text.slice(0, cut)), Buffer.from([0xe9]), Buffer.from(text.slice(cut))]);
    const { issues } = await rejected({ bytes, rows: rows(3) });
    expect(issues).toEqual([at(3, 'description', 'invalid UTF-8 byte sequence: the file must be UTF-8')]);
  });

  test('with a structure error, other failing rows are announced, not located', async () => {
    const list = [row(1, { currency: 'usd' }), row(2), row(3)];
    const text = render(list).replace('item 2\n', 'item 2,extra\n');
    const { issues, issueCount } = await rejected({ bytes: text, rows: list });
    expect(issues.map((i) => [i.line, i.field])).toEqual([
      [3, null],
      [null, null],
    ]);
    expect(issues[1]!.reason).toBe('other rows also fail field checks; they are located once the file structure is fixed');
    expect(issueCount).toBe(2);
  });

  test('with a structure error and a repeated id, the repeat is announced too', async () => {
    const list = [row(1), row(2), row(3, { transaction_id: 'tx-1' })];
    const text = render(list).replace('item 2\n', 'item 2,extra\n');
    const { issues } = await rejected({ bytes: text, rows: list });
    expect(issues.at(-1)).toEqual(at(null, null, 'other rows also fail field checks; they are located once the file structure is fixed'));
  });

  test('a structure error alone is the only issue', async () => {
    const text = render(rows(3)).replace('item 2\n', 'item 2,extra\n');
    const { issues } = await rejected({ bytes: text, rows: rows(3) });
    expect(issues).toHaveLength(1);
  });
});

describe('the whole file against the manifest', () => {
  test('row_count', async () => {
    const { issues } = await rejected({ manifest: (m) => ({ ...m, row_count: 5 }) });
    expect(issues).toEqual([at(null, 'row_count', 'the file has 4 data rows, the manifest says 5')]);
  });

  test('a control total that differs, one that is missing, one for a currency with no rows', async () => {
    const list = [row(1, { amount: '1.25' }), row(2, { amount: '2.50' }), row(4, { amount: '-0.75' })];
    const { issues } = await rejected({
      rows: list,
      manifest: (m) => ({ ...m, control_totals: { USD: '1.74', CHF: '3.00' } }),
    });
    // The file's currencies come first (in the order DuckDB grouped them), then the manifest's others.
    expect(issues.at(-1)).toEqual(at(null, 'control_totals.CHF', 'CHF amounts sum to 0, the manifest says 3.00'));
    expect(issues.slice(0, 2).sort((a, b) => a.field!.localeCompare(b.field!))).toEqual([
      at(null, 'control_totals.EUR', 'the file has EUR rows (total 1.25) but the manifest has no EUR control total'),
      at(null, 'control_totals.USD', 'USD amounts sum to 1.75, the manifest says 1.74'),
    ]);
    expect(issues).toHaveLength(3);
  });

  test('totals compare as numbers: extra zeros and a zero total for an absent currency agree', async () => {
    const { result } = await deliver({
      manifest: (m) => ({
        ...m,
        control_totals: {
          ...Object.fromEntries(Object.entries(m.control_totals as Record<string, string>).map(([c, t]) => [c, `${t}000`])),
          CHF: '0.00',
        },
      }),
    });
    expect(result.ok).toBe(true);
  });

  test('totals are not compared while rows fail their checks (their amounts are not all known)', async () => {
    const { issues } = await rejected({
      rows: [row(1), row(2, { amount: 'abc' })],
      manifest: (m) => ({ ...m, control_totals: { EUR: '9.99' } }),
    });
    expect(issues.map((i) => i.field)).toEqual(['amount']);
  });

  test('totals are not compared while a group key fails (currency or date)', async () => {
    const { issues } = await rejected({
      rows: [row(1), row(2, { currency: 'XYZ' })],
      manifest: (m) => ({ ...m, control_totals: { EUR: '9.99' } }),
    });
    expect(issues.map((i) => i.field)).toEqual(['currency']);
  });

  test('a sum beyond NUMERIC is a content problem, reported, not thrown', async () => {
    const max = `${'9'.repeat(29)}.${'9'.repeat(9)}`;
    const { issues } = await rejected({ rows: [row(2, { amount: max }), row(4, { amount: max })], manifest: (m) => ({ ...m, control_totals: { USD: '0' } }) });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ source: DATA, line: null, field: null });
    expect(issues[0]!.reason).toMatch(/^the file's content cannot be checked: Out of Range Error: .*overflow/i);
    expect(issues[0]!.reason).not.toContain('\n');
  });
});

describe('an accepted file', () => {
  test('counts rows per covered date (an empty one included) and totals per currency, sorted', async () => {
    const list = [
      row(1, { amount: '10.10' }),
      row(2, { amount: '-3' }),
      row(3, { event_date: '2026-11-19', amount: '0.90' }),
      row(4, { amount: '5.000000001', currency: 'CHF' }),
    ];
    const { result, sha256 } = await deliver({ kind: 'amendment', covers: ['2026-11-21', '2026-11-20', '2026-11-19'], rows: list });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.rows).toBe(4);
    expect(result.perDate).toEqual([
      { date: '2026-11-19', rows: 1 },
      { date: '2026-11-20', rows: 0 },
      { date: '2026-11-21', rows: 3 },
    ]);
    expect(result.totals).toEqual([
      { currency: 'CHF', rows: 1, total: '5.000000001' },
      { currency: 'EUR', rows: 2, total: '11' },
      { currency: 'USD', rows: 1, total: '-3' },
    ]);
    expect(result.sha256).toBe(sha256);
    expect(result.manifest.file_id).toBe(FILE_ID);
    expect(result.normalizedFormat).toBe('csv');
    expect(result.normalizedCsvPath).toBe(result.normalizedPath);
  });

  test('a header-only amendment empties its dates', async () => {
    const { result } = await deliver({ kind: 'amendment', covers: ['2026-11-20', DAY], rows: [] });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.rows).toBe(0);
    expect(result.totals).toEqual([]);
    expect(result.perDate).toEqual([
      { date: '2026-11-20', rows: 0 },
      { date: DAY, rows: 0 },
    ]);
  });

  test('the normalised CSV: column order, canonical amounts, empty cells, quoting kept; only it is left in workDir', async () => {
    const amounts = ['007.10', '-0.00', '0.50', '-1.0', '100', '-0.001', '12345678901234567890123456789.123456789', '20.000'];
    const list = amounts.map((amount, i) => row(i + 1, { amount, description: i === 0 ? 'a, "quoted"\nline' : null }));
    const { result, dir } = await deliver({ rows: list, bytes: render(list, [...FILE_COLUMNS].reverse()) });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const name = result.normalizedPath.slice(join(dir, 'work').length + 1);
    expect(name).toMatch(new RegExp(`^${FILE_ID}\\.${result.sha256.slice(0, 12)}\\.[0-9a-f]{8}\\.normalized\\.csv$`));
    expect(await readdir(join(dir, 'work'))).toEqual([name]);
    const text = await readFile(result.normalizedPath, 'utf8');
    expect(text.split('\n')[0]).toBe(FILE_COLUMNS.join(','));
    expect(text).toContain('tx-1,acct-1,2026-11-21T10:00:01-05:00,2026-11-21,7.1,EUR,m-1,"a, ""quoted""\nline"\n');
    const records = (parseCsv(text, { columns: true }) as Record<string, string>[]).sort((a, b) => Number(a.transaction_id!.slice(3)) - Number(b.transaction_id!.slice(3)));
    expect(records.map((r) => r.amount)).toEqual(amounts.map(canonicalAmount));
    expect(records.map((r) => r.amount)).toEqual(['7.1', '0', '0.5', '-1', '100', '-0.001', '12345678901234567890123456789.123456789', '20']);
    expect(records[1]).toEqual({
      transaction_id: 'tx-2',
      account_id: 'acct-2',
      event_ts: '2026-11-21T10:00:02-05:00',
      event_date: DAY,
      amount: '0',
      currency: 'USD',
      merchant_id: '',
      description: '',
    });
  });

  test('Parquet: the checked file itself, amounts typed, every row ok', async () => {
    const list = rows(3);
    const { result, dir } = await deliver({ rows: list, options: { normalizedFormat: 'parquet' } });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.normalizedFormat).toBe('parquet');
    expect(result.normalizedPath).toMatch(/\.normalized\.parquet$/);
    expect(await readdir(join(dir, 'work'))).toHaveLength(1);
    const columns = await describeParquet(result.normalizedPath);
    expect(columns).toEqual([...FILE_COLUMNS.filter((c) => c !== 'amount').map((c) => [c, 'VARCHAR']), ['amount', 'DECIMAL(38,9)'], ['ok', 'BOOLEAN']]);
    expect(await readParquet(result.normalizedPath, 'transaction_id, amount::VARCHAR AS amount, ok')).toEqual([
      { transaction_id: 'tx-1', amount: '1.250000000', ok: true },
      { transaction_id: 'tx-2', amount: '2.250000000', ok: true },
      { transaction_id: 'tx-3', amount: '3.250000000', ok: true },
    ]);
  });

  test('typed Parquet: FILE_COLUMNS in warehouse types, timestamps in UTC to the microsecond', async () => {
    const list = [row(1, { event_ts: '2026-11-21T23:59:58.1234567+14:00' }), row(2)];
    const { result } = await deliver({ rows: list, options: { normalizedFormat: 'typed-parquet' } });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.normalizedFormat).toBe('typed-parquet');
    expect(result.normalizedPath).toMatch(/\.normalized\.parquet$/);
    const columns = await describeParquet(result.normalizedPath);
    expect(columns).toEqual(
      FILE_COLUMNS.map((c) => [c, c === 'event_ts' ? 'TIMESTAMP WITH TIME ZONE' : c === 'event_date' ? 'DATE' : c === 'amount' ? 'DECIMAL(38,9)' : 'VARCHAR']),
    );
    expect(await readParquet(result.normalizedPath, "strftime(event_ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f') AS ts, event_date::VARCHAR AS d")).toEqual([
      { ts: '2026-11-21T09:59:58.123456', d: DAY },
      { ts: '2026-11-21T15:00:02.000000', d: DAY },
    ]);
  });

  test('reports progress: bytes while hashing, then percent per DuckDB phase, ending at 100', async () => {
    const seen: ValidationProgress[] = [];
    const { result } = await deliver({ options: { onProgress: (p) => seen.push(p) } });
    expect(result.ok).toBe(true);
    const size = Buffer.byteLength(render(rows(4)));
    expect(seen.filter((p) => p.phase === 'hashing').at(-1)).toEqual({ phase: 'hashing', done: size, total: size });
    expect(seen.filter((p) => p.phase === 'checking').at(-1)).toEqual({ phase: 'checking', done: 100, total: 100 });
    expect(seen.filter((p) => p.phase === 'writing').at(-1)).toEqual({ phase: 'writing', done: 100, total: 100 });
    expect([...new Set(seen.map((p) => p.phase))]).toEqual(['hashing', 'checking', 'writing']);

    const located: ValidationProgress[] = [];
    await deliver({ rows: [row(1, { currency: 'usd' })], options: { onProgress: (p) => located.push(p) } });
    expect([...new Set(located.map((p) => p.phase))]).toEqual(['hashing', 'checking', 'locating']);
    expect(located.at(-1)).toEqual({ phase: 'locating', done: 100, total: 100 });
  });
});

const describeParquet = async (path: string): Promise<string[][]> =>
  (await queryParquet(`DESCRIBE SELECT * FROM read_parquet('${path}')`)).map((r) => [String(r.column_name), String(r.column_type)]);
const readParquet = async (path: string, select: string): Promise<Record<string, unknown>[]> =>
  queryParquet(`SELECT ${select} FROM read_parquet('${path}') ORDER BY transaction_id`);
const queryParquet = async (sql: string): Promise<Record<string, unknown>[]> => {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
};

describe('more of what a client reads', () => {
  test('maxErrors caps the listed issues wherever they come from: the manifest, the rows', async () => {
    const later = rows(2).map((r) => ({ ...r, event_date: '2026-11-22' }));
    const future = await rejected({ kind: 'amendment', covers: ['2026-11-22', '2026-11-23'], rows: later, options: { today: DAY, maxErrors: 1 } });
    expect(future.issues.map((i) => i.reason)).toEqual([
      "covers 2026-11-22, after the client's current business date 2026-11-21: a day cannot be restated before it happens",
    ]);
    expect(future.issueCount).toBe(2);
    const mixed = await rejected({
      kind: 'amendment',
      covers: [DAY, '2026-11-22'],
      rows: [row(1, { currency: 'usd' }), row(2, { currency: 'usd' }), row(3, { currency: 'usd' })],
      options: { today: DAY, maxErrors: 2 },
    });
    expect(mixed.issues.map((i) => [i.line, i.field])).toEqual([
      [null, 'covers'],
      [2, 'currency'],
    ]);
    expect(mixed.issueCount).toBe(4);
  });

  test('gzip is told by both signature bytes', async () => {
    const notGzip = `${DATA}.gz is named .csv.gz but is not gzip data (it does not start with the gzip signature 1f 8b)`;
    for (const first of [Buffer.from([0x1f, 0x00]), Buffer.from([0x00, 0x8b])]) {
      const { issues } = await rejected({ bytes: Buffer.concat([first, Buffer.from('xyz\n')]), gzip: true });
      expect(issues).toEqual([at(null, null, notGzip, `${DATA}.gz`)]);
    }
  });

  test('a file id with .csv inside it is matched to its data file whole', async () => {
    const { result } = await deliver({ fileId: 'acme.csv-1', gzip: true });
    expect(result.ok).toBe(true);
    const other = await deliver({ fileId: 'acme.csv-2', manifest: (m) => ({ ...m, file_id: 'acme-2' }) });
    expect(other.result.ok).toBe(false);
    if (!other.result.ok) expect(other.result.issues.map((i) => i.field)).toEqual(['file_id']);
  });

  test('a missing required column stops before the rows: no issue per row for the absent column', async () => {
    const header = FILE_COLUMNS.filter((c) => c !== 'currency');
    const { issues } = await rejected({ bytes: render(rows(3), header), rows: rows(3) });
    expect(issues).toEqual([at(1, 'currency', 'required column "currency" is missing')]);
  });

  test('without a manifest the rows are still checked (against no covered dates)', async () => {
    const { issues } = await rejected({ manifestText: null, rows: [row(1, { event_date: '2026-11-20' }), row(2, { amount: 'x' })] });
    expect(issues).toEqual([
      inManifest(null, 'manifest is missing'),
      at(3, 'amount', 'must be an exact decimal with at most 29 integer and 9 fractional digits, no exponent (got "x")'),
    ]);
  });

  test('without a manifest an impossible date is still found (no covered dates to catch it)', async () => {
    const { issues } = await rejected({ manifestText: null, rows: [row(1), row(2, { event_date: '2026-02-30' })] });
    expect(issues).toEqual([inManifest(null, 'manifest is missing'), at(3, 'event_date', 'must be a calendar date YYYY-MM-DD (got "2026-02-30")')]);
  });

  test('structure problems beyond the 100 listed are counted', async () => {
    const list = rows(2);
    const text = render(list).replace('\ntx-2,', `${'\n'.repeat(103)}tx-2,`);
    const { issues, issueCount } = await rejected({ bytes: text, rows: list });
    expect(issues).toHaveLength(100);
    expect(issues[0]).toMatchObject({ line: 3, field: null });
    expect(issueCount).toBe(102);
  });

  test('a structure problem other than blank lines stops before the rows are read', async () => {
    const list = [row(1), row(2, { amount: 'x' })];
    const { issues } = await rejected({ bytes: render(list).replace('item 1\n', 'item 1\r\n'), rows: list });
    expect(issues.map((i) => [i.line, i.field])).toEqual([[2, null]]);
    expect(issues[0]!.reason).toMatch(/line-end/);
  });

  test('a workDir that does not exist yet is made, parents included', async () => {
    const dir = join(root, 'nested-work');
    const { result } = await deliver({ options: { workDir: join(dir, 'a', 'b') } });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.normalizedPath.startsWith(join(dir, 'a', 'b'))).toBe(true);
  });

  test('over 1000 repeated ids: a sample is located, every repeat counted', async () => {
    const list = Array.from({ length: 1003 }, (_, i) => row(i + 1, { transaction_id: `dup-${i}` }));
    const { issues, issueCount } = await rejected({ rows: [...list, ...list.map((r, i) => ({ ...r, transaction_id: `dup-${i}` }))] });
    expect(issues).toHaveLength(100);
    expect(issues.every((i) => i.field === 'transaction_id' && /appears more than once \(first on line \d+\)$/.test(i.reason))).toBe(true);
    expect(issueCount).toBe(1003);
  });

  test('an empty date or currency alone, on rows that pass the per-row checks, is found and located', async () => {
    expect((await rejected({ rows: [row(1), row(2, { event_date: null })] })).issues).toEqual([at(3, 'event_date', 'is required')]);
    expect((await rejected({ rows: [row(1), row(2, { currency: null })] })).issues).toEqual([at(3, 'currency', 'is required')]);
    expect((await rejected({ rows: [row(1), row(2, { event_date: '2026-02-30' })] })).issues).toEqual([
      at(3, 'event_date', 'must be a calendar date YYYY-MM-DD (got "2026-02-30")'),
    ]);
  });

  test('typed Parquet reports its writing phase', async () => {
    const phases: string[] = [];
    const { result } = await deliver({ options: { normalizedFormat: 'typed-parquet', onProgress: (p) => phases.push(p.phase) } });
    expect(result.ok).toBe(true);
    expect(phases.at(-1)).toBe('writing');
  });
});
