/**
 * Validates one delivered file (data + manifest) against the client's contract and, when it passes,
 * writes the normalised CSV that `Warehouse.stageFile` loads. A file is accepted whole or rejected whole.
 *
 * Memory does not grow with the file: bytes are hashed and scanned as a stream, and every row check is a
 * set-based query that DuckDB runs (spilling to `workDir`), never a JavaScript loop over rows. The valid
 * path parses the CSV once, into a Parquet file that the checks then read by column and that DuckDB stages
 * directly (a CSV for BigQuery is written from it); locating bad rows by line re-reads the CSV, which only a
 * rejected file pays for.
 *
 * "line" in an issue is the physical line (1-based, the header is line 1) where the offending record
 * starts, as an editor shows it: a record whose quoted field spans lines moves the following records down.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parse as parseCsv } from 'csv-parse/sync';
import {
  AMOUNT_PATTERN,
  DATE_PATTERN,
  FILE_COLUMNS,
  ID_PATTERN,
  ISO_4217,
  MAX_DESCRIPTION_CHARS,
  MAX_MERCHANT_ID_CHARS,
  MIN_DATE,
  REQUIRED_FILE_COLUMNS,
  STRICT_TIMESTAMP_PATTERN,
  isRealDate,
  manifestSchema,
  zodIssues,
  type FileColumn,
  type InputIssue,
  type Manifest,
} from '../domain/contract.js';
import { formatDecimal, parseDecimal } from '../domain/decimal.js';
import type { CurrencyTotal } from '../warehouse/port.js';
import { MAX_RECORD_BYTES, scanDataFile, type DataFileScan } from './digest.js';

export type ValidationPhase = 'hashing' | 'checking' | 'locating' | 'writing';

/** `done`/`total` are bytes while hashing and percent (0–100) in DuckDB phases. */
export interface ValidationProgress {
  phase: ValidationPhase;
  done: number;
  total: number;
}

export interface ValidateFileInput {
  /** Local path of the data file (`<file_id>.csv` or `.csv.gz`; a bucket adapter downloads it first). */
  dataPath: string;
  /** The data file's name as delivered, if `dataPath` is a temporary name. Decides gzip by its `.gz` suffix. */
  dataName?: string;
  /** Manifest JSON text; null when the manifest is missing. */
  manifestText: string | null;
  manifestName: string;
  /** Scratch directory: DuckDB spills here, and the normalised CSV is written here. */
  workDir: string;
  /** Issues listed in the result (all are counted in `issueCount`). */
  maxErrors?: number;
  /**
   * The client's current business date. A manifest covering a later date is rejected: reconciling a
   * day that has not happened would seal it against the stream. Omitted: no such check.
   */
  today?: string;
  /**
   * The client the landing area and the worker serve. A manifest naming another client is rejected: one
   * client's file must never change another's table. Omitted: no such check (tests of the contract alone).
   */
  clientId?: string;
  /**
   * Format of the normalised file: CSV (default), Parquet (what DuckDB reads fastest: the validation pass writes it
   * anyway, so a valid file costs no further write), or typed Parquet (what a BigQuery load job reads: every column
   * in its warehouse type, so the load converts nothing).
   */
  normalizedFormat?: NormalizedFormat;
  /** DuckDB memory cap; it spills to `workDir` beyond it. */
  memoryLimit?: string;
  threads?: number;
  onProgress?: (progress: ValidationProgress) => void;
}

export type ValidationResult =
  | {
      ok: true;
      manifest: Manifest;
      rows: number;
      totals: CurrencyTotal[];
      /** Every covered date, including those with no rows (the file says they are empty). */
      perDate: Array<{ date: string; rows: number }>;
      /**
       * The rows to stage; the caller deletes it. CSV: FILE_COLUMNS order, header line, LF, canonical amounts,
       * empty cell = null. Parquet: the FILE_COLUMNS as text except `amount` (DECIMAL(38, 9)), plus `ok` (all true).
       * Typed Parquet: the FILE_COLUMNS only, `event_ts` a UTC timestamp in microseconds (digits beyond the sixth
       * dropped, as both warehouses store it), `event_date` a DATE, `amount` DECIMAL(38, 9), the rest text.
       */
      normalizedPath: string;
      normalizedFormat: NormalizedFormat;
      /** Same as `normalizedPath` (kept for callers written when only CSV existed). */
      normalizedCsvPath: string;
      sha256: string;
    }
  | {
      ok: false;
      manifest: Manifest | null;
      issues: InputIssue[];
      /** All issues found, listed or not. */
      issueCount: number;
      sha256: string | null;
    };

const HEADER_LIMIT = 64 * 1024;
/**
 * Memory: DuckDB's memory_limit bounds its buffer pool, not the CSV reader's buffers nor the Parquet writer's open
 * row groups. Small row groups keep validation within about 200 MB above the process, whatever the file's size
 * (docs/files.md). The reader's buffer stays at DuckDB's default of 16 MB. DuckDB drops a record longer than its
 * buffer without a reject (it then shows only as a row-count mismatch), which is why the byte scan, not the reader,
 * rejects every record over MAX_RECORD_BYTES (DuckDB's default max_line_size) at its line before the reader runs.
 */
const CSV_BUFFER_BYTES = 16 * 1024 * 1024;
const PARQUET_ROW_GROUP_ROWS = 16_384;

export type NormalizedFormat = 'csv' | 'parquet' | 'typed-parquet';
export const DEFAULT_VALIDATE_MEMORY_LIMIT = '96MB';
const MAX_LOCATED_DUPLICATE_IDS = 1000;

/** A JS regex literal (`^...$`) as the RE2 pattern DuckDB's regexp_full_match expects. */
const re2 = (pattern: RegExp): string => pattern.source.replace(/^\^/, '').replace(/\$$/, '');
const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;
const sqlList = (values: Iterable<string>): string => [...values].map(sqlString).join(', ');

/** Collects issues, keeping the first `max` and counting the rest. */
class IssueList {
  readonly listed: InputIssue[] = [];
  count = 0;
  constructor(private readonly max: number) {}
  add(issue: InputIssue): void {
    this.count++;
    if (this.listed.length < this.max) this.listed.push(issue);
  }
  addCounted(issues: InputIssue[], total: number): void {
    for (const i of issues) if (this.listed.length < this.max) this.listed.push(i);
    this.count += total;
  }
}

/** Parses and checks the manifest; issues name the manifest field. */
export const parseManifest = (
  text: string | null,
  manifestName: string,
): { manifest: Manifest | null; issues: InputIssue[] } => {
  if (text === null) {
    return { manifest: null, issues: [{ source: manifestName, line: null, field: null, reason: 'manifest is missing' }] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return {
      manifest: null,
      issues: [{ source: manifestName, line: null, field: null, reason: `manifest is not valid JSON: ${(error as Error).message}` }],
    };
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error, manifestName, null).map((issue, i) => {
      const raw = parsed.error.issues[i];
      // An unknown key is named as the field, like an unknown column.
      return raw?.code === 'unrecognized_keys' && raw.keys.length > 0 ? { ...issue, field: raw.keys.join(', ') } : issue;
    });
    return { manifest: null, issues };
  }
  return { manifest: parsed.data, issues: [] };
};

/** Every gzip stream starts with these two bytes (RFC 1952). */
const GZIP_MAGIC = [0x1f, 0x8b] as const;

const startsWithGzipMagic = async (path: string): Promise<boolean> => {
  const handle = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === GZIP_MAGIC[0] && buffer[1] === GZIP_MAGIC[1];
  } finally {
    await handle.close();
  }
};

/**
 * A data file whose name and bytes disagree about compression: gzip bytes named `.csv` (read as text they are
 * "not UTF-8", which hides the cause), or a `.csv.gz` that is not gzip at all. Null when they agree.
 */
const compressionMismatch = async (path: string, dataName: string, gzip: boolean): Promise<string | null> => {
  const magic = await startsWithGzipMagic(path);
  if (gzip && !magic) {
    return `${dataName} is named .csv.gz but is not gzip data (it does not start with the gzip signature 1f 8b)`;
  }
  if (!gzip && magic) {
    const asGzip = await scanDataFile({ path, gzip: true });
    const broken = asGzip.gzipError === null ? '' : `, and ${asGzip.gzipError}`;
    return `${dataName} holds gzip-compressed data but is named .csv${broken}: deliver it as ${fileStem(dataName)}.csv.gz`;
  }
  return null;
};

const fileStem = (name: string): string => name.replace(/\.csv(\.gz)?$/, '').replace(/\.manifest\.json$/, '');

/** A header line longer than HEADER_LIMIT bytes: not read further (its text is not needed to reject it). */
const HEADER_TOO_LONG = { line: '', complete: false, error: null } as const;

/** First line of the CSV text (decompressed), or null for an empty file. */
const readFirstLine = async (
  path: string,
  gzip: boolean,
): Promise<{ line: string | null; complete: boolean; error: string | null }> => {
  const source = createReadStream(path, { highWaterMark: HEADER_LIMIT });
  const stream = gzip ? source.pipe(createGunzip()) : source;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      const nl = buf.indexOf(0x0a);
      if (nl !== -1) {
        // The line's length decides, wherever the chunks happen to end.
        if (size + nl > HEADER_LIMIT) return HEADER_TOO_LONG;
        chunks.push(buf.subarray(0, nl));
        return { line: decodeHeader(Buffer.concat(chunks)), complete: true, error: null };
      }
      chunks.push(buf);
      size += buf.length;
      if (size > HEADER_LIMIT) return HEADER_TOO_LONG;
    }
  } catch (error) {
    // A broken gzip stream is reported by the byte scan; the header is then simply unavailable.
    if (!((error as NodeJS.ErrnoException).code ?? '').startsWith('Z_')) throw error;
    return { line: null, complete: false, error: (error as Error).message };
  } finally {
    source.destroy();
  }
  const all = Buffer.concat(chunks);
  return { line: all.length === 0 ? null : decodeHeader(all), complete: true, error: null };
};

const decodeHeader = (bytes: Buffer): string => {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  return text.replace(/^\uFEFF/, '').replace(/\r$/, '');
};

/** Checks the header line; returns the columns in file order when they are usable. */
const checkHeader = (line: string, source: string, issues: IssueList): FileColumn[] | null => {
  let names: string[];
  try {
    const records = parseCsv(line, { relax_column_count: false }) as string[][];
    names = records[0] ?? [];
  } catch (error) {
    issues.add({ source, line: 1, field: null, reason: `header line is not valid CSV: ${(error as Error).message}` });
    return null;
  }
  const known = new Set<string>(FILE_COLUMNS);
  const seen = new Set<string>();
  let usable = true;
  for (const [i, name] of names.entries()) {
    if (!known.has(name)) {
      usable = false;
      issues.add({
        source,
        line: 1,
        field: name === '' ? null : name,
        reason:
          name === ''
            ? `column ${i + 1} has an empty name`
            : `unknown column "${name}" (a renamed or extra column is a breaking change; expected ${FILE_COLUMNS.join(', ')})`,
      });
    } else if (seen.has(name)) {
      usable = false;
      issues.add({ source, line: 1, field: name, reason: `column "${name}" appears twice in the header` });
    }
    seen.add(name);
  }
  for (const required of REQUIRED_FILE_COLUMNS) {
    if (!seen.has(required)) {
      usable = false;
      issues.add({ source, line: 1, field: required, reason: `required column "${required}" is missing` });
    }
  }
  return usable ? (names as FileColumn[]) : null;
};

/** SQL for one row's issues: a list of {field, reason}, empty when the row is valid. */
const rowIssuesSql = (covers: string[] | null): string => {
  const id = sqlString(re2(ID_PATTERN));
  const idCheck = (c: string): string =>
    `CASE WHEN ${c} IS NULL THEN 'is required' WHEN NOT regexp_full_match(${c}, ${id}) ` +
    `THEN concat('must be 1–64 chars of [A-Za-z0-9._:-] (got "', left(${c}, 80), '")') END`;
  const dateOk = `(regexp_full_match(event_date, ${sqlString(re2(DATE_PATTERN))}) AND event_date >= '${MIN_DATE}' AND try_cast(event_date AS DATE) IS NOT NULL)`;
  const checks: Array<[string, string]> = [
    ['transaction_id', idCheck('transaction_id')],
    ['account_id', idCheck('account_id')],
    [
      'event_ts',
      `CASE WHEN event_ts IS NULL THEN 'is required' WHEN NOT (regexp_full_match(event_ts, ${sqlString(re2(STRICT_TIMESTAMP_PATTERN))}) ` +
        `AND left(event_ts, 10) >= '${MIN_DATE}' AND try_cast(left(event_ts, 10) AS DATE) IS NOT NULL) ` +
        `THEN concat('must be an RFC 3339 timestamp with an offset or Z (got "', left(event_ts, 80), '")') END`,
    ],
    [
      'event_date',
      `CASE WHEN event_date IS NULL THEN 'is required' WHEN NOT ${dateOk} ` +
        `THEN concat('must be a calendar date YYYY-MM-DD (got "', left(event_date, 80), '")') ` +
        (covers === null
          ? ''
          : `WHEN event_date NOT IN (${sqlList(covers)}) THEN concat('"', event_date, '" is not a date the manifest covers (${covers.join(', ')})') `) +
        'END',
    ],
    [
      'amount',
      `CASE WHEN amount IS NULL THEN 'is required' WHEN NOT regexp_full_match(amount, ${sqlString(re2(AMOUNT_PATTERN))}) ` +
        `THEN concat('must be an exact decimal with at most 29 integer and 9 fractional digits, no exponent (got "', left(amount, 80), '")') END`,
    ],
    [
      'currency',
      `CASE WHEN currency IS NULL THEN 'is required' WHEN currency NOT IN (${sqlList(ISO_4217)}) ` +
        `THEN concat('must be an upper-case ISO 4217 code (got "', left(currency, 80), '")') END`,
    ],
    [
      'merchant_id',
      `CASE WHEN length(merchant_id) > ${MAX_MERCHANT_ID_CHARS} THEN concat('must be at most ${MAX_MERCHANT_ID_CHARS} characters (got ', length(merchant_id), ')') END`,
    ],
    [
      'description',
      `CASE WHEN length(description) > ${MAX_DESCRIPTION_CHARS} THEN concat('must be at most ${MAX_DESCRIPTION_CHARS} characters (got ', length(description), ')') END`,
    ],
  ];
  return `list_filter([${checks.map(([f, e]) => `{'field': '${f}', 'reason': ${e}}`).join(', ')}], x -> x.reason IS NOT NULL)`;
};

/** The cheap per-row test of the checks pass; date, currency and covers are checked on group keys instead. */
const rowOkSql = (): string => {
  const id = re2(ID_PATTERN);
  const combined = `${id}\\|${id}\\|${re2(STRICT_TIMESTAMP_PATTERN)}\\|${re2(AMOUNT_PATTERN)}`;
  return (
    `(coalesce(regexp_full_match(concat(transaction_id, '|', account_id, '|', event_ts, '|', amount), ${sqlString(combined)}), false)` +
    ` AND coalesce(length(merchant_id) <= ${MAX_MERCHANT_ID_CHARS}, true) AND coalesce(length(description) <= ${MAX_DESCRIPTION_CHARS}, true))`
  );
};

/** Canonical decimal text in SQL (no leading zeros, no trailing fractional zeros, no '-0'); matches domain/decimal. */
const CANONICAL_AMOUNT_MACRO = `CREATE OR REPLACE TEMP MACRO canonical_amount(a) AS (
  CASE WHEN (CASE WHEN ltrim(split_part(ltrim(a, '-'), '.', 1), '0') = '' THEN '0' ELSE ltrim(split_part(ltrim(a, '-'), '.', 1), '0') END)
            || (CASE WHEN rtrim(split_part(a, '.', 2), '0') = '' THEN '' ELSE '.' || rtrim(split_part(a, '.', 2), '0') END) = '0' THEN '0'
       ELSE (CASE WHEN starts_with(a, '-') THEN '-' ELSE '' END)
            || (CASE WHEN ltrim(split_part(ltrim(a, '-'), '.', 1), '0') = '' THEN '0' ELSE ltrim(split_part(ltrim(a, '-'), '.', 1), '0') END)
            || (CASE WHEN rtrim(split_part(a, '.', 2), '0') = '' THEN '' ELSE '.' || rtrim(split_part(a, '.', 2), '0') END)
  END)`;

interface GroupRow {
  event_date: string | null;
  currency: string | null;
  ts_date: string | null;
  n: string;
  bad: string;
  total: string | null;
  h: string | null;
  grp: number;
}

/**
 * Runs a statement while reporting DuckDB's progress. It reports even while DuckDB has no estimate (-1, as for
 * an aggregate's final phase): the report is the activity's heartbeat, and silence would read as a dead worker.
 */
const runWithProgress = async (
  connection: DuckDBConnection,
  sql: string,
  phase: ValidationPhase,
  onProgress: ((p: ValidationProgress) => void) | undefined,
): Promise<Record<string, unknown>[]> => {
  let done = 0;
  const timer =
    onProgress === undefined
      ? undefined
      : setInterval(() => {
          const p = connection.progress.percentage;
          if (p >= 0) done = Math.min(100, p);
          onProgress({ phase, done, total: 100 });
        }, 250);
  try {
    const reader = await connection.runAndReadAll(sql);
    onProgress?.({ phase, done: 100, total: 100 });
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    if (timer !== undefined) clearInterval(timer);
  }
};

/** DuckDB errors caused by the file's content (its error classes name them), as opposed to resources. */
const isInputError = (error: unknown): boolean =>
  /^(Invalid Input Error|Conversion Error|Out of Range Error): /.test(String((error as Error).message ?? ''));

const firstLineOf = (error: unknown): string => String((error as Error).message ?? error).split('\n')[0] ?? '';

/** Validates a data file and its manifest; on success writes the normalised CSV under `workDir`. */
export const validateFile = async (input: ValidateFileInput): Promise<ValidationResult> => {
  const dataName = input.dataName ?? basename(input.dataPath);
  const gzip = dataName.endsWith('.gz');
  const issues = new IssueList(input.maxErrors ?? 100);
  const source = dataName;

  // 1. Manifest.
  const { manifest, issues: manifestIssues } = parseManifest(input.manifestText, input.manifestName);
  for (const i of manifestIssues) issues.add(i);
  if (manifest !== null) {
    if (manifest.file_id !== fileStem(dataName)) {
      issues.add({
        source: input.manifestName,
        line: null,
        field: 'file_id',
        reason: `file_id "${manifest.file_id}" does not match the data file name ${dataName}`,
      });
    }
    if (input.clientId !== undefined && manifest.client_id !== input.clientId) {
      issues.add({
        source: input.manifestName,
        line: null,
        field: 'client_id',
        reason: `client_id "${manifest.client_id}" is not the client this landing area serves ("${input.clientId}"): a file for another client is never applied here`,
      });
    }
    if (input.today !== undefined) {
      for (const date of manifest.covers) {
        if (date > input.today) {
          issues.add({
            source: input.manifestName,
            line: null,
            field: 'covers',
            reason: `covers ${date}, after the client's current business date ${input.today}: a day cannot be restated before it happens`,
          });
        }
      }
    }
  }

  // 2. Bytes: sha256 as delivered, plus the structure scan.
  const deliveredBytes = (await stat(input.dataPath)).size;
  const scan: DataFileScan = await scanDataFile({
    path: input.dataPath,
    gzip,
    onBytes: (done) => input.onProgress?.({ phase: 'hashing', done, total: deliveredBytes }),
  });
  const fail = (): ValidationResult => ({ ok: false, manifest, issues: issues.listed, issueCount: issues.count, sha256: scan.sha256 });
  if (manifest !== null && manifest.sha256 !== scan.sha256) {
    issues.add({
      source,
      line: null,
      field: 'sha256',
      reason: `sha256 of the delivered bytes is ${scan.sha256}, the manifest says ${manifest.sha256}`,
    });
  }
  const mismatch = await compressionMismatch(input.dataPath, dataName, gzip);
  if (mismatch !== null) {
    issues.add({ source, line: null, field: null, reason: mismatch });
    return fail();
  }
  if (scan.gzipError !== null) {
    issues.add({ source, line: null, field: null, reason: `${dataName}: ${scan.gzipError}` });
    return fail();
  }
  if (scan.textBytes === 0) {
    issues.add({ source, line: null, field: null, reason: 'the file is empty: the first line must be the header' });
    return fail();
  }

  // 3. Header.
  const first = await readFirstLine(input.dataPath, gzip).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_ENCODING_INVALID_ENCODED_DATA') throw error;
    return { line: null, complete: false, error: 'the header is not valid UTF-8' };
  });
  let columns: FileColumn[] | null = null;
  if (first.error !== null || first.line === null) {
    issues.add({ source, line: 1, field: null, reason: `header line cannot be read: ${first.error ?? 'empty'}` });
  } else if (!first.complete) {
    issues.add({ source, line: 1, field: null, reason: `header line is longer than ${HEADER_LIMIT} bytes` });
  } else {
    columns = checkHeader(first.line, source, issues);
  }
  if (first.error === null && first.line === null) return fail();
  for (const p of scan.problems) issues.add({ source, line: p.line, field: null, reason: p.reason });
  issues.count += scan.problemCount - scan.problems.length;
  // Blank lines are skipped by the reader, which still locates the rest; any other problem stops here.
  const structureBroken = [...scan.problemKinds].some((kind) => kind !== 'blank_line');
  if (columns === null || structureBroken) return fail();

  // 4. Rows, set-based, in an embedded DuckDB that spills under workDir.
  await mkdir(input.workDir, { recursive: true });
  const scratch = await mkdtemp(join(input.workDir, 'validate-'));
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: input.memoryLimit ?? DEFAULT_VALIDATE_MEMORY_LIMIT,
    temp_directory: join(scratch, 'spill'),
    preserve_insertion_order: 'false',
    ...(input.threads === undefined ? {} : { threads: String(input.threads) }),
  });
  const connection = await instance.connect();
  try {
    await connection.run('SET enable_progress_bar = true; SET enable_progress_bar_print = false;');
    const present = new Set<FileColumn>(columns);
    const csv =
      `read_csv(${sqlString(input.dataPath)}, header = true, auto_detect = false, all_varchar = true, strict_mode = true, ` +
      `delim = ',', quote = '"', escape = '"', max_line_size = ${MAX_RECORD_BYTES}, buffer_size = ${CSV_BUFFER_BYTES}, compression = '${gzip ? 'gzip' : 'none'}', ` +
      `columns = {${columns.map((c) => `'${c}': 'VARCHAR'`).join(', ')}}`;
    const projection = FILE_COLUMNS.map((c) => (present.has(c) ? c : `NULL::VARCHAR AS ${c}`)).join(', ');
    const rows = (extra: string): string => `(SELECT ${projection} FROM ${csv}${extra}))`;

    // Pass 1 reads the CSV once (the only full parse on the valid path) into a Parquet file: the file's
    // columns as text, amount already typed for the rows that pass the per-row checks, and that verdict.
    // Pass 2 checks over that file: groups by the low-cardinality keys (validated below, once per distinct
    // value) plus duplicate-id candidates by 64-bit hash, counting rows that fail the per-row checks.
    const covers = manifest?.covers ?? null;
    const checkedPath = join(scratch, 'checked.parquet');
    const checked = `read_parquet(${sqlString(checkedPath)})`;
    let groups: GroupRow[];
    try {
      await runWithProgress(
        connection,
        `COPY (SELECT ${FILE_COLUMNS.filter((c) => c !== 'amount').join(', ')},
                 -- Parsing text as DECIMAL(38,9) is ~20x slower than as DECIMAL(18,9): only wide amounts take that path.
                 CASE WHEN ok THEN coalesce(try_cast(amount AS DECIMAL(18, 9)), try_cast(amount AS DECIMAL(38, 9))) END AS amount, ok
               FROM (SELECT *, ${rowOkSql()} AS ok FROM ${rows(", store_rejects = true, rejects_table = 'csv_errors', rejects_scan = 'csv_scans'")}))
         TO ${sqlString(checkedPath)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${PARQUET_ROW_GROUP_ROWS})`,
        'checking',
        input.onProgress,
      );
      // Two aggregates, not one with grouping sets: the per-id one has a group per row, and only a plain GROUP BY
      // spills to disk under the memory limit (grouping sets ran out of memory on a 10M-row file).
      const keyRows = (await runWithProgress(
        connection,
        `SELECT event_date, currency, left(event_ts, 10) AS ts_date, NULL AS h,
                count(*)::VARCHAR AS n, count(*) FILTER (WHERE NOT ok OR (ok AND amount IS NULL))::VARCHAR AS bad,
                sum(amount)::VARCHAR AS total, 1 AS grp
         FROM ${checked} GROUP BY ALL`,
        'checking',
        input.onProgress,
      )) as unknown as GroupRow[];
      const dupRows = (await runWithProgress(
        connection,
        `SELECT NULL AS event_date, NULL AS currency, NULL AS ts_date, h, n::VARCHAR AS n, '0' AS bad, NULL AS total, 0 AS grp FROM (
           SELECT hash(transaction_id) AS h, count(*) AS n FROM ${checked} WHERE transaction_id IS NOT NULL GROUP BY h HAVING count(*) > 1)`,
        'checking',
        input.onProgress,
      )) as unknown as GroupRow[];
      groups = [...keyRows, ...dupRows];
    } catch (error) {
      // Only a complaint about the bytes rejects the file; out of memory, disk full and the like are retried.
      if (!isInputError(error)) throw error;
      issues.add({ source, line: null, field: null, reason: `the file's content cannot be checked: ${firstLineOf(error)}` });
      return fail();
    }

    // Structure errors DuckDB rejected (quoting, column count, encoding, line size).
    const structural = (await connection.runAndReadAll(
      `SELECT line::BIGINT AS line, column_name, error_type, error_message FROM csv_errors ORDER BY line LIMIT ${input.maxErrors ?? 100}`,
    )).getRowObjectsJson() as Array<{ line: string; column_name: string | null; error_type: string; error_message: string }>;
    const structuralCount = Number(
      (await connection.runAndReadAll('SELECT count(*) AS n FROM csv_errors')).getRowObjectsJson()[0]?.n ?? 0,
    );
    issues.addCounted(
      structural.map((r) => ({
        source,
        line: scan.lines.lineOfLogical(Number(r.line)),
        field: r.column_name,
        reason: structuralReason(r.error_type, r.error_message),
      })),
      structuralCount,
    );

    const keyGroups = groups.filter((g) => g.grp === 1);
    const dupGroups = groups.filter((g) => g.grp !== 1);
    // Beyond this many candidate ids only a sample is located; the count then comes from the hash groups.
    const dupCandidates = dupGroups.slice(0, MAX_LOCATED_DUPLICATE_IDS).map((g) => g.h!);
    const dupTotalByHash = dupGroups.reduce((s, g) => s + Number(g.n) - 1, 0);
    const rowCount = keyGroups.reduce((s, g) => s + Number(g.n), 0);
    const badRows = keyGroups.reduce((s, g) => s + Number(g.bad), 0);
    const keyProblem = keyGroups.some(
      (g) =>
        g.event_date === null ||
        !isRealDate(g.event_date) ||
        (covers !== null && !covers.includes(g.event_date)) ||
        g.currency === null ||
        !ISO_4217.has(g.currency) ||
        (g.ts_date !== null && !isRealDate(g.ts_date) && Number(g.bad) < Number(g.n)),
    );

    if (structuralCount > 0) {
      // Records DuckDB rejected are missing from the row numbering, so bad rows cannot be located exactly.
      if (badRows > 0 || keyProblem || dupCandidates.length > 0) {
        issues.add({
          source,
          line: null,
          field: null,
          reason: 'other rows also fail field checks; they are located once the file structure is fixed',
        });
      }
      return fail();
    }

    // Locate bad rows (rejected files only): a table keeps insertion order, so rowid is the record index.
    if (badRows > 0 || keyProblem) {
      await connection.run('SET preserve_insertion_order = true');
      await runWithProgress(
        connection,
        `CREATE TEMP TABLE row_issues AS SELECT CASE WHEN len(e) > 0 THEN e END AS e FROM (SELECT ${rowIssuesSql(covers)} AS e FROM ${rows('')})`,
        'locating',
        input.onProgress,
      );
      await connection.run('SET preserve_insertion_order = false');
      const located = (await connection.runAndReadAll(
        `SELECT idx, x.field AS field, x.reason AS reason FROM (
           SELECT idx, unnest(e) AS x FROM (SELECT rowid AS idx, e FROM row_issues WHERE e IS NOT NULL ORDER BY rowid LIMIT ${input.maxErrors ?? 100})
         ) ORDER BY idx`,
      )).getRowObjectsJson() as Array<{ idx: string; field: string; reason: string }>;
      const total = Number(
        (await connection.runAndReadAll('SELECT coalesce(sum(len(e)), 0)::BIGINT AS n FROM row_issues')).getRowObjectsJson()[0]?.n ?? 0,
      );
      issues.addCounted(
        located.map((r) => ({ source, line: scan.lines.lineOfRecord(Number(r.idx)), field: r.field, reason: r.reason })),
        total,
      );
      if (total === 0) {
        // The fast checks and the detailed ones disagree: never accept on a disagreement.
        issues.add({ source, line: null, field: null, reason: 'rows fail field checks that could not be located' });
      }
    }

    // Duplicate transaction ids: confirm hash candidates by id and report every repeat with its first line.
    if (dupCandidates.length > 0) {
      const located = (await runWithProgress(
        connection,
        `WITH numbered AS (
           SELECT idx, transaction_id FROM (SELECT row_number() OVER () - 1 AS idx, transaction_id, hash(transaction_id) AS h FROM ${csv}))
           WHERE transaction_id IS NOT NULL AND h IN (${dupCandidates.join(', ')})
         ), firsts AS (
           SELECT transaction_id, min(idx) AS first, count(*) AS n FROM numbered GROUP BY 1 HAVING count(*) > 1
         )
         SELECT numbered.idx::BIGINT AS idx, numbered.transaction_id, firsts.first::BIGINT AS first, (SELECT sum(n - 1) FROM firsts)::BIGINT AS total
         FROM numbered JOIN firsts USING (transaction_id) WHERE numbered.idx <> firsts.first ORDER BY numbered.idx LIMIT ${input.maxErrors ?? 100}`,
        'locating',
        input.onProgress,
      )) as Array<{ idx: string; transaction_id: string; first: string; total: string }>;
      issues.addCounted(
        located.map((r) => ({
          source,
          line: scan.lines.lineOfRecord(Number(r.idx)),
          field: 'transaction_id',
          reason: `transaction_id "${r.transaction_id}" appears more than once (first on line ${scan.lines.lineOfRecord(Number(r.first))})`,
        })),
        dupGroups.length > dupCandidates.length ? dupTotalByHash : Number(located[0]?.total ?? 0),
      );
    }

    // Whole-file checks against the manifest.
    const totals = new Map<string, { rows: number; total: bigint }>();
    for (const g of keyGroups) {
      if (g.currency === null) continue;
      const t = totals.get(g.currency) ?? { rows: 0, total: 0n };
      t.rows += Number(g.n);
      if (g.total !== null) t.total += parseDecimal(g.total);
      totals.set(g.currency, t);
    }
    if (manifest !== null) {
      if (manifest.row_count !== rowCount) {
        issues.add({
          source,
          line: null,
          field: 'row_count',
          reason: `the file has ${rowCount} data rows, the manifest says ${manifest.row_count}`,
        });
      }
      if (badRows === 0 && !keyProblem) {
        for (const currency of new Set([...totals.keys(), ...Object.keys(manifest.control_totals)])) {
          const fileTotal = totals.get(currency)?.total ?? 0n;
          const declared = manifest.control_totals[currency];
          if (declared === undefined) {
            issues.add({
              source,
              line: null,
              field: `control_totals.${currency}`,
              reason: `the file has ${currency} rows (total ${formatDecimal(fileTotal)}) but the manifest has no ${currency} control total`,
            });
          } else if (parseDecimal(declared) !== fileTotal) {
            issues.add({
              source,
              line: null,
              field: `control_totals.${currency}`,
              reason: `${currency} amounts sum to ${formatDecimal(fileTotal)}, the manifest says ${declared}`,
            });
          }
        }
      }
    }
    if (issues.count > 0 || manifest === null) return fail();

    // 5. The normalised file for staging: the checked Parquet itself, or a CSV written from it.
    const stem = join(input.workDir, `${fileStem(dataName)}.${scan.sha256.slice(0, 12)}.${randomUUID().slice(0, 8)}.normalized`);
    let normalizedPath: string;
    if (input.normalizedFormat === 'parquet') {
      normalizedPath = `${stem}.parquet`;
      await rename(checkedPath, normalizedPath);
    } else if (input.normalizedFormat === 'typed-parquet') {
      normalizedPath = `${stem}.parquet`;
      // DuckDB's TIMESTAMPTZ keeps microseconds and drops further digits; Parquet stores it as TIMESTAMP(MICROS, UTC).
      const typed = FILE_COLUMNS.map((c) =>
        c === 'event_ts' ? 'CAST(event_ts AS TIMESTAMPTZ) AS event_ts' : c === 'event_date' ? 'CAST(event_date AS DATE) AS event_date' : c,
      );
      await runWithProgress(
        connection,
        `COPY (SELECT ${typed.join(', ')} FROM ${checked})
         TO ${sqlString(normalizedPath)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${PARQUET_ROW_GROUP_ROWS})`,
        'writing',
        input.onProgress,
      );
    } else {
      normalizedPath = `${stem}.csv`;
      await connection.run(CANONICAL_AMOUNT_MACRO);
      await runWithProgress(
        connection,
        `COPY (SELECT ${FILE_COLUMNS.map((c) => (c === 'amount' ? 'canonical_amount(amount::VARCHAR) AS amount' : c)).join(', ')} FROM ${checked})
         TO ${sqlString(normalizedPath)} (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '"', ESCAPE '"')`,
        'writing',
        input.onProgress,
      );
    }

    const perDateMap = new Map<string, number>(manifest.covers.map((d) => [d, 0]));
    for (const g of keyGroups) perDateMap.set(g.event_date!, (perDateMap.get(g.event_date!) ?? 0) + Number(g.n));
    return {
      ok: true,
      manifest,
      rows: rowCount,
      totals: [...totals.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([currency, t]) => ({ currency, rows: t.rows, total: formatDecimal(t.total) })),
      perDate: [...perDateMap.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([date, n]) => ({ date, rows: n })),
      normalizedPath,
      normalizedFormat: input.normalizedFormat ?? 'csv',
      normalizedCsvPath: normalizedPath,
      sha256: scan.sha256,
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(scratch, { recursive: true, force: true });
  }
};

const structuralReason = (type: string, message: string): string => {
  switch (type) {
    case 'INVALID ENCODING':
    case 'INVALID UNICODE':
      return 'invalid UTF-8 byte sequence: the file must be UTF-8';
    case 'UNQUOTED VALUE':
      return `broken quoting: ${message}`;
    case 'TOO MANY COLUMNS':
    case 'MISSING COLUMNS':
      return `wrong number of cells: ${message}`;
    case 'LINE SIZE OVER MAXIMUM':
      return `record is longer than ${MAX_RECORD_BYTES} bytes (no valid record comes close)`;
    default:
      return `${type.toLowerCase()}: ${message}`;
  }
};
