/**
 * Writes valid client files (data + manifest) for tests, the demo and benchmarks. Deterministic for a
 * seed; streams rows with backpressure so 10M rows take seconds and constant memory. The manifest is
 * computed from what was written (row count, exact totals per currency, sha256 of the delivered bytes)
 * and written last, as a client must, so a landing watcher never sees a manifest before its data.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { FILE_COLUMNS, type FileColumn, type FileKind, type Manifest } from '../domain/contract.js';
import { formatDecimal, parseDecimal } from '../domain/decimal.js';

/** One data row as text cells; null is written as an empty cell. */
export type GeneratedRow = Record<FileColumn, string | null>;

export interface GenerateFileOptions {
  dir: string;
  kind: FileKind;
  /** Dates the file restates; rows are spread evenly over them, in this order. */
  covers: string[];
  /** Total data rows (0 writes a header-only file). */
  rows: number;
  seed?: number;
  sequence?: number;
  clientId?: string;
  /** Defaults to `<client>-<recon|amend>-<first date>-<sequence>`. */
  fileId?: string;
  gzip?: boolean;
  /** zlib level; 1 by default (fast; the ratio does not matter here). */
  gzipLevel?: number;
  /** Offset written in event_ts, standing for the client's zone. */
  utcOffset?: string;
  createdAt?: string;
  /** transaction_id prefix; ids are `<prefix><yyyymmdd>-<n>` so a restated date reuses the same ids. */
  idPrefix?: string;
  lineEnd?: '\n' | '\r\n';
  /** The rows of a date, instead of generated ones (e.g. the simulated feed's transactions); `rows` is then ignored. */
  rowsOf?: (date: string) => Iterable<GeneratedRow>;
  /** Rewrites or drops a generated row (e.g. one changed amount for an amendment); the manifest follows. */
  transform?: (row: GeneratedRow, position: { date: string; indexInDate: number }) => GeneratedRow | null;
  /** Called every ~1 MB written with the rows written so far. */
  onProgress?: (rowsWritten: number) => void;
}

export interface GeneratedFile {
  fileId: string;
  dataPath: string;
  manifestPath: string;
  manifest: Manifest;
}

/** A small, fast, seedable PRNG (mulberry32): deterministic test data without a dependency. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** One CSV cell per RFC 4180: quoted only when it must be. */
export const csvCell = (value: string | null): string =>
  value === null
    ? ''
    : value.includes('"') || value.includes(',') || value.includes('\n') || value.includes('\r')
      ? `"${value.replaceAll('"', '""')}"`
      : value;
export const csvLine = (cells: ReadonlyArray<string | null>, lineEnd = '\n'): string =>
  cells.map(csvCell).join(',') + lineEnd;
/** csvLine for a row in FILE_COLUMNS order, without intermediate arrays (the generator's hot path). */
export const rowLine = (r: GeneratedRow, lineEnd = '\n'): string =>
  `${csvCell(r.transaction_id)},${csvCell(r.account_id)},${csvCell(r.event_ts)},${csvCell(r.event_date)},` +
  `${csvCell(r.amount)},${csvCell(r.currency)},${csvCell(r.merchant_id)},${csvCell(r.description)}${lineEnd}`;

const CURRENCIES = ['USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP', 'JPY'] as const;
const DESCRIPTIONS = ['Coffee', 'Groceries', 'Fuel, station 12', 'Refund "damaged"', 'Online order', 'Café crème'];
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** The rows of one date, deterministic for (seed, date, count). */
export function* generateDateRows(input: {
  date: string;
  count: number;
  seed: number;
  utcOffset: string;
  idPrefix: string;
}): Generator<GeneratedRow> {
  const random = seededRandom(input.seed ^ Number(input.date.replaceAll('-', '')));
  const compact = input.date.replaceAll('-', '');
  for (let i = 0; i < input.count; i++) {
    const second = Math.floor((i * 86_400) / Math.max(input.count, 1));
    const ms = Math.floor(random() * 1000);
    const currency = CURRENCIES[Math.floor(random() * CURRENCIES.length)]!;
    const negative = random() < 0.05;
    const units = Math.floor(random() * 200_000) + 1;
    const amount =
      currency === 'JPY'
        ? `${negative ? '-' : ''}${units}`
        : `${negative ? '-' : ''}${Math.floor(units / 100)}.${pad2(units % 100)}`;
    const r = random();
    yield {
      transaction_id: `${input.idPrefix}${compact}-${String(i).padStart(8, '0')}`,
      account_id: `acct-${Math.floor(random() * 50_000)}`,
      event_ts: `${input.date}T${pad2(Math.floor(second / 3600))}:${pad2(Math.floor(second / 60) % 60)}:${pad2(second % 60)}.${String(ms).padStart(3, '0')}${input.utcOffset}`,
      event_date: input.date,
      amount,
      currency,
      merchant_id: r < 0.1 ? null : `m-${Math.floor(r * 9000)}`,
      description: r < 0.3 ? null : DESCRIPTIONS[Math.floor(r * 1000) % DESCRIPTIONS.length]!,
    };
  }
}

const CENT_AMOUNT = /^-?\d{1,13}(\.\d\d)?$/;
const CENTS_TO_SCALED = 10_000_000n;
const FLUSH_AT = 2 ** 50;

/** Exact per-currency sums; whole-cent amounts are added as JS integers (exact below 2^53) and flushed to BigInt. */
export class CurrencyTotals {
  private readonly scaled = new Map<string, bigint>();
  private readonly cents = new Map<string, number>();

  add(currency: string, amount: string): void {
    if (CENT_AMOUNT.test(amount)) {
      const dot = amount.length - 3;
      const c = amount.charCodeAt(dot) === 46 ? Number(amount.slice(0, dot) + amount.slice(dot + 1)) : Number(amount) * 100;
      const sum = (this.cents.get(currency) ?? 0) + c;
      if (Math.abs(sum) < FLUSH_AT) {
        this.cents.set(currency, sum);
        return;
      }
      this.cents.set(currency, 0);
      this.scaled.set(currency, (this.scaled.get(currency) ?? 0n) + BigInt(sum) * CENTS_TO_SCALED);
      return;
    }
    this.scaled.set(currency, (this.scaled.get(currency) ?? 0n) + parseDecimal(amount));
  }

  /** Sums scaled by 10^9 (see domain/decimal). */
  result(): Map<string, bigint> {
    const out = new Map(this.scaled);
    for (const [currency, c] of this.cents) out.set(currency, (out.get(currency) ?? 0n) + BigInt(c) * CENTS_TO_SCALED);
    return out;
  }
}

const nextDay = (date: string): string => {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
};

/** Manifest fields computed from content; the caller supplies the identity fields. */
export const manifestFor = (input: {
  fileId: string;
  clientId: string;
  kind: FileKind;
  covers: string[];
  sequence: number;
  rowCount: number;
  totals: Map<string, bigint>;
  sha256: string;
  createdAt: string;
}): Manifest => ({
  file_id: input.fileId,
  client_id: input.clientId,
  kind: input.kind,
  covers: input.covers,
  sequence: input.sequence,
  row_count: input.rowCount,
  control_totals: Object.fromEntries(
    [...input.totals.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([c, t]) => [c, formatDecimal(t, 2)]),
  ),
  sha256: input.sha256,
  created_at: input.createdAt,
});

/** Writes `<fileId>.csv[.gz]` then `<fileId>.manifest.json` into `dir`. */
export const generateFile = async (options: GenerateFileOptions): Promise<GeneratedFile> => {
  const seed = options.seed ?? 1;
  const sequence = options.sequence ?? 1;
  const clientId = options.clientId ?? 'acme';
  const first = options.covers[0] ?? '1970-01-01';
  const fileId =
    options.fileId ?? `${clientId}-${options.kind === 'reconciliation' ? 'recon' : 'amend'}-${first}-${sequence}`;
  const lineEnd = options.lineEnd ?? '\n';
  const utcOffset = options.utcOffset ?? '-05:00';
  const idPrefix = options.idPrefix ?? 'tx-';
  const lastCover = [...options.covers].sort().at(-1) ?? first;
  const createdAt = options.createdAt ?? `${nextDay(lastCover)}T05:41:07Z`;

  await mkdir(options.dir, { recursive: true });
  const dataPath = join(options.dir, `${fileId}.csv${options.gzip === true ? '.gz' : ''}`);
  const manifestPath = join(options.dir, `${fileId}.manifest.json`);
  const partPath = `${dataPath}.part`;

  const totals = new CurrencyTotals();
  let rowCount = 0;
  const n = options.covers.length;
  const transform = options.transform;

  const CHUNK = 1 << 20;
  async function* text(): AsyncGenerator<Buffer> {
    // Lines are encoded straight into a buffer: concatenating a 1 MB string per chunk costs more in GC than the rows.
    let buf = Buffer.allocUnsafe(CHUNK);
    let used = buf.write(csvLine(FILE_COLUMNS, lineEnd));
    for (const [k, date] of options.covers.entries()) {
      const count = Math.floor(options.rows / n) + (k < options.rows % n ? 1 : 0);
      let indexInDate = 0;
      const source = options.rowsOf ? options.rowsOf(date) : generateDateRows({ date, count, seed, utcOffset, idPrefix });
      for (const generated of source) {
        const row = transform === undefined ? generated : transform(generated, { date, indexInDate });
        indexInDate++;
        if (row === null) continue;
        rowCount++;
        if (row.currency !== null && row.amount !== null) totals.add(row.currency, row.amount);
        const line = rowLine(row, lineEnd);
        // A UTF-16 unit is at most 3 UTF-8 bytes, so this bound never truncates a write.
        if (used + line.length * 3 > CHUNK) {
          yield buf.subarray(0, used);
          options.onProgress?.(rowCount);
          buf = Buffer.allocUnsafe(Math.max(CHUNK, line.length * 3));
          used = 0;
        }
        used += buf.write(line, used);
      }
    }
    yield buf.subarray(0, used);
    options.onProgress?.(rowCount);
  }

  const hash = createHash('sha256');
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const out = createWriteStream(partPath);
  if (options.gzip === true) {
    await pipeline(Readable.from(text()), createGzip({ level: options.gzipLevel ?? 1 }), hasher, out);
  } else {
    await pipeline(Readable.from(text()), hasher, out);
  }
  await rename(partPath, dataPath);

  const manifest = manifestFor({
    fileId,
    clientId,
    kind: options.kind,
    covers: options.covers,
    sequence,
    rowCount,
    totals: totals.result(),
    sha256: hash.digest('hex'),
    createdAt,
  });
  await writeFile(`${manifestPath}.part`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${manifestPath}.part`, manifestPath);
  return { fileId, dataPath, manifestPath, manifest };
};
