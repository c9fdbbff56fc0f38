/**
 * A corpus of bad and edge-case client files, each with the outcome the contract demands. The corpus
 * test runs the validator over every case; `scripts/gen-bad-files.ts` writes it out for manual runs.
 * Each case lives in its own folder as `<file_id>.csv[.gz]` + `<file_id>.manifest.json`.
 *
 * Decisions the contract leaves open are recorded on the case that exercises them (see `decision`).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { AMOUNT_PATTERN, FILE_COLUMNS, ISO_4217, type FileKind } from '../src/domain/contract.js';
import { formatDecimal, parseDecimal } from '../src/domain/decimal.js';
import { csvLine, generateDateRows, manifestFor, type GeneratedRow } from '../src/files/generate.js';

/** The client's business date the corpus is validated at (for the future-date cases). */
export const CORPUS_TODAY = '2026-11-25';
const DAY = '2026-11-21';

export type CorpusExpectation =
  | { outcome: 'accept'; rows: number }
  /** `field`/`line`: some listed issue has exactly these; `undefined` = not asserted (said why on the case). */
  | { outcome: 'reject'; field: string | null | undefined; line: number | null | undefined; reason?: RegExp; issueCount?: number };

export interface CorpusCase {
  name: string;
  description: string;
  /** Why the outcome is what it is, where the contract does not say it outright. */
  decision?: string;
  dataPath: string;
  dataName: string;
  /** Null when the case is a missing manifest. */
  manifestText: string | null;
  manifestName: string;
  expect: CorpusExpectation;
  /** Text that must appear verbatim in the normalised CSV of an accepted case. */
  verbatim?: string[];
}

interface CaseSpec {
  name: string;
  description: string;
  decision?: string;
  kind?: FileKind;
  covers?: string[];
  header?: string[];
  rows?: GeneratedRow[];
  lineEnd?: '\n' | '\r\n';
  bom?: boolean;
  gzip?: boolean;
  /** Rewrites the CSV text after rendering (raw quoting, stray bytes...). */
  text?: (text: string) => string | Buffer;
  /** Rewrites the bytes as delivered (after gzip). */
  bytes?: (bytes: Buffer) => Buffer;
  /** Rewrites the manifest the client would have sent; may return any JSON or raw text. */
  manifest?: (m: Record<string, unknown>) => unknown;
  manifestText?: string | null;
  expect: CorpusExpectation;
  verbatim?: string[];
}

const reject = (
  field: string | null | undefined,
  line: number | null | undefined,
  extra: { reason?: RegExp; issueCount?: number } = {},
): CorpusExpectation => ({ outcome: 'reject', field, line, ...extra });
const accept = (rows: number): CorpusExpectation => ({ outcome: 'accept', rows });

/**
 * Deterministic base rows on one date: currencies alternate USD/EUR so both totals exist, and
 * descriptions are plain words so the raw-text edits below know where the last cell starts.
 */
export const baseRows = (count: number, date = DAY, seed = 11): GeneratedRow[] =>
  [...generateDateRows({ date, count, seed, utcOffset: '-05:00', idPrefix: 'tx-' })].map((r, i) => ({
    ...r,
    currency: i % 2 === 0 ? 'USD' : 'EUR',
    amount: r.amount!.replace(/^(-?\d+)$/, '$1.00'),
    description: i % 3 === 0 ? null : `item ${i}`,
  }));
const withRow = (rows: GeneratedRow[], index: number, patch: Partial<GeneratedRow>): GeneratedRow[] =>
  rows.map((r, i) => (i === index ? { ...r, ...patch } : r));
/** Line of data row `index` in a file without multi-line records (header = line 1). */
const lineOf = (index: number): number => index + 2;

const render = (header: string[], rows: GeneratedRow[], lineEnd: string): string =>
  csvLine(header, lineEnd) +
  rows.map((r) => csvLine(header.map((c) => (r as Record<string, string | null>)[c] ?? null), lineEnd)).join('');

const totalsOf = (rows: GeneratedRow[]): Map<string, bigint> => {
  const totals = new Map<string, bigint>();
  for (const r of rows) {
    if (r.amount === null || r.currency === null || !AMOUNT_PATTERN.test(r.amount) || !ISO_4217.has(r.currency)) continue;
    totals.set(r.currency, (totals.get(r.currency) ?? 0n) + parseDecimal(r.amount));
  }
  return totals;
};

const bumpTotal = (currency: string, by: bigint) => (m: Record<string, unknown>) => {
  const totals = { ...(m.control_totals as Record<string, string>) };
  totals[currency] = formatDecimal(parseDecimal(totals[currency] ?? '0') + by, 2);
  return { ...m, control_totals: totals };
};

const specs = (): CaseSpec[] => {
  const rows = baseRows(6);
  const usd = rows[0]!;
  const multiline = withRow(rows, 0, { description: 'first\nsecond\nthird' });
  const twoDates = [...baseRows(3, '2026-11-20'), ...baseRows(3, DAY, 12).map((r) => ({ ...r, transaction_id: `${r.transaction_id}-b` }))];
  const noOptional = FILE_COLUMNS.filter((c) => c !== 'merchant_id' && c !== 'description');
  const halfNull = baseRows(20).map((r, i) => (i % 2 === 0 ? { ...r, transaction_id: null } : r));
  return [
    // Valid shapes.
    { name: 'valid-baseline', description: 'a plain valid reconciliation', expect: accept(6) },
    { name: 'valid-gzip', description: 'the same, delivered as .csv.gz', gzip: true, expect: accept(6) },
    {
      name: 'valid-amendment-two-dates',
      description: 'an amendment covering two dates, rows on both',
      kind: 'amendment',
      covers: ['2026-11-20', DAY],
      rows: twoDates,
      expect: accept(6),
    },
    {
      name: 'header-only-amendment',
      description: 'an amendment with a header and no rows: both covered dates are now empty',
      decision: 'valid when row_count is 0 and covers lists the dates: the contract says a covered date with no rows has no transactions',
      kind: 'amendment',
      covers: ['2026-11-18', '2026-11-19'],
      rows: [],
      expect: accept(0),
    },
    { name: 'bom', description: 'UTF-8 byte order mark before the header (stripped)', bom: true, expect: accept(6) },
    { name: 'crlf', description: 'CRLF line ends', lineEnd: '\r\n', expect: accept(6) },
    { name: 'crlf-bom-gzip', description: 'CRLF, BOM and gzip together', lineEnd: '\r\n', bom: true, gzip: true, expect: accept(6) },
    {
      name: 'columns-reordered',
      description: 'columns in another order (the header names them)',
      header: [...FILE_COLUMNS].reverse(),
      expect: accept(6),
    },
    { name: 'optional-columns-absent', description: 'no merchant_id or description column', header: noOptional, expect: accept(6) },
    {
      name: 'embedded-newline',
      description: 'a quoted description spanning three lines',
      rows: multiline,
      expect: accept(6),
      verbatim: ['"first\nsecond\nthird"'],
    },
    { name: 'no-trailing-newline', description: 'the last record has no line end', text: (t) => t.slice(0, -1), expect: accept(6) },
    {
      name: 'trailing-blank-lines',
      description: 'blank lines after the last record',
      decision: 'accepted: they carry no data and many writers add them; a blank line between records is rejected',
      text: (t) => `${t}\n\n`,
      expect: accept(6),
    },
    {
      name: 'negative-zero',
      description: 'amount -0.00',
      decision: 'accepted: it matches the contract pattern and equals zero; it is normalised to 0',
      rows: withRow(rows, 1, { amount: '-0.00' }),
      expect: accept(6),
    },
    {
      name: 'max-amount',
      description: 'the largest NUMERIC amount, 29 integer and 9 fractional digits',
      rows: [{ ...usd, amount: `${'9'.repeat(29)}.${'9'.repeat(9)}` }],
      expect: accept(1),
      verbatim: [`${'9'.repeat(29)}.${'9'.repeat(9)}`],
    },
    {
      name: 'control-total-overflow',
      description: 'two largest amounts in one currency: their sum does not fit NUMERIC',
      decision: 'rejected: the total cannot be stored or even stated in a manifest (29 integer digits at most)',
      rows: [usd, { ...usd, transaction_id: 'tx-second' }].map((r) => ({ ...r, amount: `${'9'.repeat(29)}.${'9'.repeat(9)}` })),
      expect: reject(null, null, { reason: /overflow|out of range/i }),
    },
    {
      name: 'description-512-emoji',
      description: '512 four-byte characters: at the limit, which counts characters, not bytes',
      rows: withRow(rows, 2, { description: '😀'.repeat(512) }),
      expect: accept(6),
    },
    {
      name: 'formula-and-sql-text',
      description: 'spreadsheet formulas and SQL in descriptions',
      decision: 'accepted and stored verbatim: the contract allows any UTF-8 text; escaping is the job of whoever exports to a spreadsheet',
      rows: rows.map((r, i) => ({
        ...r,
        description: ['=HYPERLINK("http://x.example","click")', '+1+1', '-2+3', '@SUM(A1:A9)', "'; DROP TABLE transactions; --", 'Robert\'); DELETE FROM x;--'][i]!,
      })),
      expect: accept(6),
      verbatim: ['"=HYPERLINK(""http://x.example"",""click"")"', '@SUM(A1:A9)', "'; DROP TABLE transactions; --"],
    },
    {
      name: 'control-total-trailing-zeros',
      description: "control totals written with extra zeros ('10.5' equals '10.50')",
      manifest: (m) => ({
        ...m,
        control_totals: Object.fromEntries(Object.entries(m.control_totals as Record<string, string>).map(([c, t]) => [c, `${t}000`])),
      }),
      expect: accept(6),
    },
    {
      name: 'control-total-zero-for-absent-currency',
      description: 'a control total of 0.00 for a currency with no rows',
      decision: 'accepted: the sum over no rows is zero, which is what the manifest says',
      manifest: (m) => ({ ...m, control_totals: { ...(m.control_totals as object), CHF: '0.00' } }),
      expect: accept(6),
    },
    {
      name: 'covers-today',
      description: "a reconciliation of the client's current business date",
      decision: "accepted: around midnight the client's clock may be ahead of ours; only dates after today are refused",
      covers: [CORPUS_TODAY],
      rows: baseRows(6, CORPUS_TODAY),
      expect: accept(6),
    },

    // Manifest problems.
    { name: 'manifest-missing', description: 'no manifest at all', manifestText: null, expect: reject(null, null, { reason: /missing/ }) },
    { name: 'manifest-unparseable', description: 'manifest is not JSON', manifestText: '{"file_id": "x",', expect: reject(null, null, { reason: /JSON/ }) },
    { name: 'manifest-wrong-kind', description: "kind 'restatement'", manifest: (m) => ({ ...m, kind: 'restatement' }), expect: reject('kind', null) },
    { name: 'manifest-unknown-key', description: 'an extra manifest key', manifest: (m) => ({ ...m, note: 'hi' }), expect: reject('note', null) },
    {
      name: 'reconciliation-two-dates',
      description: 'a reconciliation covering two dates',
      covers: ['2026-11-20', DAY],
      rows: twoDates,
      expect: reject('covers', null),
    },
    { name: 'manifest-covers-empty', description: 'covers is empty', kind: 'amendment', manifest: (m) => ({ ...m, covers: [] }), expect: reject('covers', null) },
    {
      name: 'manifest-covers-twice',
      description: 'an amendment listing a date twice',
      kind: 'amendment',
      manifest: (m) => ({ ...m, covers: [DAY, DAY] }),
      expect: reject('covers', null),
    },
    { name: 'manifest-file-id-mismatch', description: 'file_id differs from the file name', manifest: (m) => ({ ...m, file_id: 'acme-other' }), expect: reject('file_id', null) },
    {
      name: 'manifest-sha256-uppercase',
      description: 'the digest in upper-case hex',
      manifest: (m) => ({ ...m, sha256: (m.sha256 as string).toUpperCase() }),
      expect: reject('sha256', null),
    },
    { name: 'manifest-row-count-string', description: 'row_count as a string', manifest: (m) => ({ ...m, row_count: String(m.row_count) }), expect: reject('row_count', null) },
    {
      name: 'manifest-total-as-number',
      description: 'a control total as a JSON number (floating point)',
      manifest: (m) => ({ ...m, control_totals: { ...(m.control_totals as object), USD: 10.5 } }),
      expect: reject('control_totals.USD', null),
    },
    {
      name: 'future-covered-date',
      description: 'a reconciliation for a date after the current business date',
      decision:
        "rejected when the caller passes the client's current date: sealing a future day would turn every stream event for it into a late arrival",
      covers: ['2026-12-25'],
      rows: baseRows(6, '2026-12-25'),
      expect: reject('covers', null, { reason: /after the client's current business date/ }),
    },

    // Manifest versus content.
    { name: 'wrong-sha256', description: 'one hex digit of the digest changed', manifest: (m) => ({ ...m, sha256: flipHex(m.sha256 as string) }), expect: reject('sha256', null) },
    { name: 'row-count-off-by-one', description: 'row_count one higher', manifest: (m) => ({ ...m, row_count: (m.row_count as number) + 1 }), expect: reject('row_count', null) },
    {
      name: 'header-only-row-count-mismatch',
      description: 'a header-only file whose manifest promises rows',
      kind: 'amendment',
      rows: [],
      manifest: (m) => ({ ...m, row_count: 6 }),
      expect: reject('row_count', null),
    },
    {
      name: 'control-total-off-by-smallest-unit',
      description: 'USD total 0.000000001 off',
      manifest: bumpTotal('USD', 1n),
      expect: reject('control_totals.USD', null),
    },
    {
      name: 'control-total-currency-missing',
      description: 'the file has EUR rows, the manifest no EUR total',
      manifest: (m) => {
        const { EUR: _eur, ...rest } = m.control_totals as Record<string, string>;
        return { ...m, control_totals: rest };
      },
      expect: reject('control_totals.EUR', null),
    },
    {
      name: 'control-total-extra-currency',
      description: 'a CHF total with no CHF rows',
      manifest: (m) => ({ ...m, control_totals: { ...(m.control_totals as object), CHF: '1.00' } }),
      expect: reject('control_totals.CHF', null),
    },

    // Header.
    {
      name: 'renamed-column',
      description: 'amount renamed to amt',
      header: FILE_COLUMNS.map((c) => (c === 'amount' ? 'amt' : c)),
      rows: rows.map((r) => ({ ...r, amt: r.amount }) as GeneratedRow),
      expect: reject('amt', 1),
    },
    { name: 'missing-required-column', description: 'no currency column', header: FILE_COLUMNS.filter((c) => c !== 'currency'), expect: reject('currency', 1) },
    { name: 'extra-column', description: 'an extra note column', header: [...FILE_COLUMNS, 'note'], expect: reject('note', 1) },
    { name: 'duplicate-column', description: 'description twice', header: [...FILE_COLUMNS, 'description'], expect: reject('description', 1) },
    {
      name: 'header-case-changed',
      description: 'Transaction_ID instead of transaction_id',
      header: FILE_COLUMNS.map((c) => (c === 'transaction_id' ? 'Transaction_ID' : c)),
      rows: rows.map((r) => ({ ...r, Transaction_ID: r.transaction_id }) as GeneratedRow),
      expect: reject('Transaction_ID', 1),
    },
    {
      name: 'semicolon-delimited',
      description: 'semicolons instead of commas',
      text: (t) => t.replaceAll(',', ';'),
      expect: reject(FILE_COLUMNS.join(';'), 1),
    },

    // Structure.
    { name: 'empty-file', description: 'zero bytes', text: () => '', expect: reject(null, null, { reason: /empty/ }) },
    {
      name: 'broken-quoting',
      description: 'a quote inside a quoted description that is not doubled',
      text: (t) => replaceLine(t, 3, (l) => l.replace(/,[^,]*$/, ',"broken "quote" here"')),
      expect: reject('description', lineOf(1), { reason: /quot/ }),
    },
    {
      name: 'unterminated-quote-at-eof',
      description: 'the last description opens a quote that never closes',
      text: (t) => replaceLine(t, 7, (l) => l.replace(/,[^,]*$/, ',"never closed')),
      expect: reject('description', lineOf(5), { reason: /quot/ }),
    },
    {
      name: 'too-many-cells',
      description: 'a record with one cell too many',
      text: (t) => replaceLine(t, 4, (l) => `${l},extra`),
      // DuckDB does not name a column for a cell beyond the header.
      expect: reject(null, lineOf(2), { reason: /number of cells/ }),
    },
    {
      name: 'too-few-cells',
      description: 'a record with one cell missing',
      text: (t) => replaceLine(t, 5, (l) => l.replace(/,[^,]*$/, '')),
      expect: reject('description', lineOf(3), { reason: /number of cells/ }),
    },
    {
      name: 'blank-line-between-records',
      description: 'an empty line between two records',
      text: (t) => replaceLine(t, 4, (l) => `${l}\n`),
      expect: reject(null, 5, { reason: /blank line/ }),
    },
    {
      name: 'mixed-line-ends',
      description: 'LF lines with one CRLF line',
      text: (t) => replaceLine(t, 3, (l) => `${l}\r`),
      expect: reject(null, 3, { reason: /line-end/ }),
    },
    {
      name: 'bare-cr',
      description: 'old Mac line ends (CR only)',
      text: (t) => t.replaceAll('\n', '\r'),
      // The whole file is one "line" to a reader: the header check fails too.
      expect: reject(null, 1, { reason: /carriage return/ }),
    },
    {
      name: 'error-after-multiline-record',
      description: 'a bad amount three records after a description spanning three lines',
      rows: withRow(multiline, 3, { amount: '12,50' }),
      expect: reject('amount', 7),
    },
    {
      name: 'truncated-gzip',
      description: 'a gzip stream cut short (the digest is of the truncated bytes, as delivered)',
      gzip: true,
      bytes: (b) => b.subarray(0, Math.floor(b.length * 0.6)),
      expect: reject(null, null, { reason: /truncated/ }),
    },
    {
      name: 'not-gzip',
      description: 'plain CSV named .csv.gz',
      gzip: true,
      bytes: (_b) => Buffer.from(render([...FILE_COLUMNS], rows, '\n')),
      expect: reject(null, null, { reason: /gzip/ }),
    },
    {
      name: 'non-utf8-byte',
      description: 'a 0xFF byte in a description',
      text: (t) => Buffer.concat([Buffer.from(t.slice(0, nthLineStart(t, 3))), Buffer.from('t-bad,acct-1,2026-11-21T10:00:00Z,2026-11-21,1.00,USD,,caf'), Buffer.from([0xff]), Buffer.from(`\n${t.slice(nthLineStart(t, 3))}`)]),
      manifest: (m) => ({ ...m, row_count: 7, control_totals: bumpTotal('USD', 1_000_000_000n)(m).control_totals }),
      expect: reject('description', 3, { reason: /UTF-8/ }),
    },
    {
      name: 'latin1-description',
      description: 'a description encoded as Latin-1 (é as 0xE9)',
      text: (t) => Buffer.from(replaceLine(t, 4, (l) => `${l.replace(/,[^,]*$/, ',')}Caf\u00e9`), 'latin1'),
      rows: rows.map((r) => ({ ...r, description: 'plain' })),
      expect: reject('description', lineOf(2), { reason: /UTF-8/ }),
    },
    {
      name: 'non-utf8-header',
      description: 'a Latin-1 byte in the header',
      text: (t) => Buffer.from(t.replace('description', 'descripci\u00f3n'), 'latin1'),
      expect: reject(null, 1, { reason: /UTF-8/ }),
    },
    {
      name: 'ten-mb-field',
      description: 'a 10 MB description',
      rows: withRow(rows, 1, { description: 'x'.repeat(10 * 1024 * 1024) }),
      // The record is refused before its cells are split, so no field is known.
      expect: reject(null, lineOf(1), { reason: /longer than/ }),
    },
    {
      name: 'twenty-mb-field',
      description: "a 20 MB description: longer than DuckDB's CSV buffer, which would drop the record unreported",
      rows: withRow(rows, 3, { description: 'y'.repeat(20 * 1024 * 1024) }),
      expect: reject(null, lineOf(3), { reason: /longer than/ }),
    },

    // Rows.
    { name: 'null-transaction-id', description: 'an empty transaction_id', rows: withRow(rows, 2, { transaction_id: null }), expect: reject('transaction_id', lineOf(2), { reason: /required/ }) },
    {
      name: 'quoted-empty-transaction-id',
      description: 'transaction_id as ""',
      text: (t) => replaceLine(t, 3, (l) => l.replace(/^[^,]*/, '""')),
      expect: reject('transaction_id', lineOf(1), { reason: /required/ }),
    },
    {
      name: 'half-ids-null',
      description: 'every other transaction_id empty',
      rows: halfNull,
      expect: reject('transaction_id', lineOf(0), { issueCount: 10 }),
    },
    {
      name: 'duplicate-transaction-id',
      description: 'row 5 repeats the id of row 2',
      rows: withRow(rows, 4, { transaction_id: rows[1]!.transaction_id }),
      expect: reject('transaction_id', lineOf(4), { reason: /first on line 3/ }),
    },
    { name: 'id-too-long', description: 'a 65-character transaction_id', rows: withRow(rows, 0, { transaction_id: 'a'.repeat(65) }), expect: reject('transaction_id', lineOf(0)) },
    { name: 'id-invalid-chars', description: 'an account_id with a space', rows: withRow(rows, 3, { account_id: 'acct 3' }), expect: reject('account_id', lineOf(3)) },
    { name: 'malformed-date', description: 'event_date 2026/11/21', rows: withRow(rows, 1, { event_date: '2026/11/21' }), expect: reject('event_date', lineOf(1)) },
    { name: 'impossible-date', description: 'event_date 2026-02-30', rows: withRow(rows, 1, { event_date: '2026-02-30' }), expect: reject('event_date', lineOf(1), { reason: /calendar/ }) },
    { name: 'year-zero-date', description: 'event_date 0000-01-01 (outside BigQuery DATE)', rows: withRow(rows, 1, { event_date: '0000-01-01' }), expect: reject('event_date', lineOf(1)) },
    {
      name: 'event-date-outside-covers',
      description: 'a row dated the day before the covered date',
      rows: withRow(rows, 5, { event_date: '2026-11-20' }),
      expect: reject('event_date', lineOf(5), { reason: /covers/ }),
    },
    { name: 'amount-exponent', description: 'amount 1e3', rows: withRow(rows, 0, { amount: '1e3' }), expect: reject('amount', lineOf(0)) },
    { name: 'amount-leading-dot', description: 'amount .50', rows: withRow(rows, 0, { amount: '.50' }), expect: reject('amount', lineOf(0)) },
    { name: 'amount-too-many-decimals', description: 'ten fractional digits', rows: withRow(rows, 0, { amount: '1.0000000001' }), expect: reject('amount', lineOf(0)) },
    { name: 'amount-too-many-digits', description: 'thirty integer digits', rows: withRow(rows, 0, { amount: `1${'0'.repeat(29)}` }), expect: reject('amount', lineOf(0)) },
    { name: 'amount-thousands-separator', description: 'amount "1,000.00"', rows: withRow(rows, 2, { amount: '1,000.00' }), expect: reject('amount', lineOf(2)) },
    { name: 'amount-plus-sign', description: 'amount +5.00', rows: withRow(rows, 2, { amount: '+5.00' }), expect: reject('amount', lineOf(2)) },
    { name: 'amount-padded', description: 'amount with a leading space', rows: withRow(rows, 2, { amount: ' 5.00' }), expect: reject('amount', lineOf(2)) },
    { name: 'unknown-currency', description: 'currency XYZ', rows: withRow(rows, 4, { currency: 'XYZ' }), expect: reject('currency', lineOf(4)) },
    { name: 'lower-case-currency', description: 'currency usd', rows: withRow(rows, 4, { currency: 'usd' }), expect: reject('currency', lineOf(4)) },
    {
      name: 'missing-currency',
      description: 'an empty currency (never defaulted to USD)',
      rows: withRow(rows, 4, { currency: null }),
      expect: reject('currency', lineOf(4), { reason: /required/ }),
    },
    { name: 'timestamp-without-offset', description: 'event_ts with no offset', rows: withRow(rows, 3, { event_ts: '2026-11-21T10:00:00' }), expect: reject('event_ts', lineOf(3)) },
    { name: 'timestamp-hour-25', description: 'event_ts at 25:00', rows: withRow(rows, 3, { event_ts: '2026-11-21T25:00:00Z' }), expect: reject('event_ts', lineOf(3)) },
    { name: 'timestamp-feb-30', description: 'event_ts on 2026-02-30', rows: withRow(rows, 3, { event_ts: '2026-02-30T10:00:00Z' }), expect: reject('event_ts', lineOf(3)) },
    { name: 'timestamp-leap-second', description: 'event_ts at 23:59:60', rows: withRow(rows, 3, { event_ts: '2026-11-21T23:59:60Z' }), expect: reject('event_ts', lineOf(3)) },
    {
      name: 'description-513-chars',
      description: 'one character over the description limit',
      rows: withRow(rows, 5, { description: 'd'.repeat(513) }),
      expect: reject('description', lineOf(5), { reason: /512/ }),
    },
    { name: 'merchant-65-chars', description: 'merchant_id over 64 characters', rows: withRow(rows, 5, { merchant_id: 'm'.repeat(65) }), expect: reject('merchant_id', lineOf(5)) },
  ];
};

const flipHex = (hex: string): string => (hex[0] === '0' ? '1' : '0') + hex.slice(1);
/** Offset where 1-based line `n` of the text starts. */
const nthLineStart = (text: string, n: number): number => {
  let at = 0;
  for (let i = 1; i < n; i++) at = text.indexOf('\n', at) + 1;
  return at;
};
/** Rewrites 1-based line `n` (without its line end). */
const replaceLine = (text: string, n: number, edit: (line: string) => string): string => {
  const start = nthLineStart(text, n);
  const end = text.indexOf('\n', start);
  return text.slice(0, start) + edit(text.slice(start, end === -1 ? undefined : end)) + (end === -1 ? '' : text.slice(end));
};

/** Writes every case under `dir/<case>/` and returns them with their expectations. */
export const writeBadCorpus = async (dir: string): Promise<CorpusCase[]> => {
  const cases: CorpusCase[] = [];
  for (const spec of specs()) {
    const caseDir = join(dir, spec.name);
    await mkdir(caseDir, { recursive: true });
    const fileId = `acme-${spec.name}`;
    const kind = spec.kind ?? 'reconciliation';
    const covers = spec.covers ?? [DAY];
    const header = spec.header ?? [...FILE_COLUMNS];
    const rows = spec.rows ?? baseRows(6);
    const lineEnd = spec.lineEnd ?? '\n';
    const rendered = (spec.bom === true ? '\uFEFF' : '') + render(header, rows, lineEnd);
    const text = spec.text === undefined ? rendered : spec.text(rendered);
    const plain = typeof text === 'string' ? Buffer.from(text) : text;
    const packed = spec.gzip === true ? gzipSync(plain) : plain;
    const bytes = spec.bytes === undefined ? packed : spec.bytes(packed);
    const dataName = `${fileId}.csv${spec.gzip === true ? '.gz' : ''}`;
    const manifestName = `${fileId}.manifest.json`;
    const dataPath = join(caseDir, dataName);
    await writeFile(dataPath, bytes);

    const computed = manifestFor({
      fileId,
      clientId: 'acme',
      kind,
      covers,
      sequence: 100,
      rowCount: rows.length,
      totals: totalsOf(rows),
      sha256: createHash('sha256').update(bytes).digest('hex'),
      createdAt: '2026-11-22T05:41:07Z',
    }) as unknown as Record<string, unknown>;
    const manifestText =
      spec.manifestText !== undefined
        ? spec.manifestText
        : `${JSON.stringify(spec.manifest === undefined ? computed : spec.manifest(computed), null, 2)}\n`;
    if (manifestText !== null) await writeFile(join(caseDir, manifestName), manifestText);
    cases.push({
      name: spec.name,
      description: spec.description,
      ...(spec.decision === undefined ? {} : { decision: spec.decision }),
      dataPath,
      dataName,
      manifestText,
      manifestName,
      expect: spec.expect,
      ...(spec.verbatim === undefined ? {} : { verbatim: spec.verbatim }),
    });
  }
  return cases;
};
