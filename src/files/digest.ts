/**
 * One streaming pass over a delivered data file: the sha256 of its bytes as delivered, and a byte-level
 * scan of the CSV text (after gunzip) that finds what DuckDB's reader skips silently or cannot locate
 * (blank lines, mixed or bare-CR line ends) and maps record numbers to physical lines. Memory is bounded:
 * the scan keeps counters and one anchor per record that spans several lines, never the rows.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
/**
 * A data record longer than this is rejected at its line. DuckDB's reader would report it only while it fits the
 * reader's buffer and drop a longer one without a reject, so the scan finds every one, whatever its size.
 */
export const MAX_RECORD_BYTES = 2 * 1024 * 1024;
/** Anchors beyond this many stop being recorded (an adversarial file); lines then become approximate. */
const MAX_ANCHORS = 1_000_000;
const MAX_LISTED = 100;

/** A problem the byte scan found, at a physical line (1-based, header = 1). */
export interface ScanProblem {
  line: number;
  kind: 'blank_line' | 'mixed_line_ends' | 'bare_cr' | 'long_record';
  reason: string;
}

/**
 * Where data records start. Record numbers are 0-based over data records (the header is not one);
 * DuckDB's "logical" lines count every line end outside quotes (multi-line records count once, blank lines count).
 */
export class LineMap {
  constructor(
    private readonly index: number[],
    private readonly physical: number[],
    private readonly logical: number[],
    /** False when the anchor cap was hit: lines after it are approximate. */
    readonly exact: boolean,
  ) {}

  /** Physical line (1-based, header = 1) where data record `recordIndex` starts. */
  lineOfRecord(recordIndex: number): number {
    const a = lastAtOrBefore(this.index, recordIndex);
    return a < 0 ? recordIndex + 2 : this.physical[a]! + (recordIndex - this.index[a]!);
  }

  /** Physical line of a DuckDB reader line number (its `line` in the rejects table). */
  lineOfLogical(logicalLine: number): number {
    const a = lastAtOrBefore(this.logical, logicalLine);
    return a < 0 ? logicalLine : this.physical[a]! + (logicalLine - this.logical[a]!);
  }
}

const lastAtOrBefore = (sorted: number[], value: number): number => {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= value) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
};

/** Incremental RFC 4180 structure scanner; feed it the decompressed bytes in order. */
export class CsvByteScanner {
  private inQuotes = false;
  private crPending = false;
  private recordHasBytes = false;
  private physLine = 1;
  private logicalLine = 1;
  private recordStartLine = 1;
  private recordLogical = 1;
  /** Byte offset (in the text) of the current record's first byte. */
  private recordStart = 0;
  /** Non-blank records started, header included. */
  private records = 0;
  private lineEnd: 'lf' | 'crlf' | null = null;
  private pendingBlanks: number[] = [];
  private pendingBlankCount = 0;
  private readonly anchorIndex: number[] = [];
  private readonly anchorPhysical: number[] = [];
  private readonly anchorLogical: number[] = [];
  private anchorsExact = true;
  private lastPhysOffset = 0;
  private lastLogicalOffset = 0;
  readonly problems: ScanProblem[] = [];
  problemCount = 0;
  /** Every kind of problem found, listed or not. */
  readonly problemKinds = new Set<ScanProblem['kind']>();
  private sawMixed = false;
  private sawBareCr = false;
  bytes = 0;

  push(buf: Buffer): void {
    const base = this.bytes;
    this.bytes += buf.length;
    let pos = 0;
    const len = buf.length;
    let nq = buf.indexOf(QUOTE, 0);
    let nl = buf.indexOf(LF, 0);
    let nc = buf.indexOf(CR, 0);
    for (;;) {
      let next = len;
      if (nq !== -1 && nq < next) next = nq;
      if (nl !== -1 && nl < next) next = nl;
      if (nc !== -1 && nc < next) next = nc;
      if (next > pos) this.ordinary(base + pos);
      if (next === len) break;
      const byte = buf[next]!;
      if (byte === QUOTE) {
        if (this.crPending) this.bareCr();
        this.ordinary(base + next);
        this.inQuotes = !this.inQuotes;
        nq = buf.indexOf(QUOTE, next + 1);
      } else if (byte === LF) {
        if (this.inQuotes) this.physLine++;
        else this.endOfLine(base + next);
        nl = buf.indexOf(LF, next + 1);
      } else {
        if (!this.inQuotes) {
          if (this.crPending) this.bareCr();
          this.crPending = true;
        }
        nc = buf.indexOf(CR, next + 1);
      }
      pos = next + 1;
    }
  }

  /** Call after the last byte. */
  finish(): { records: number; lineEnd: 'lf' | 'crlf' | null; endsInsideQuotes: boolean; lines: LineMap } {
    if (this.crPending) this.bareCr();
    this.endOfRecord(this.bytes);
    return {
      records: this.records,
      lineEnd: this.lineEnd,
      endsInsideQuotes: this.inQuotes,
      lines: new LineMap(this.anchorIndex, this.anchorPhysical, this.anchorLogical, this.anchorsExact),
    };
  }

  /** A byte that is part of a record's content, at text offset `at`. */
  private ordinary(at: number): void {
    if (this.crPending && !this.inQuotes) this.bareCr();
    if (this.recordHasBytes) return;
    this.recordHasBytes = true;
    this.recordStart = at;
    this.records++;
    if (this.pendingBlankCount > 0) this.flushBlanks();
    const dataIndex = this.records - 2;
    if (dataIndex < 0) return;
    const physOffset = this.recordStartLine - (dataIndex + 2);
    const logicalOffset = this.recordLogical - (dataIndex + 2);
    if (physOffset !== this.lastPhysOffset || logicalOffset !== this.lastLogicalOffset) {
      if (this.anchorIndex.length >= MAX_ANCHORS) {
        this.anchorsExact = false;
        return;
      }
      this.anchorIndex.push(dataIndex);
      this.anchorPhysical.push(this.recordStartLine);
      this.anchorLogical.push(this.recordLogical);
      this.lastPhysOffset = physOffset;
      this.lastLogicalOffset = logicalOffset;
    }
  }

  /** The current record (if any) ends before text offset `end` (its line end excluded). */
  private endOfRecord(end: number): void {
    if (!this.recordHasBytes || this.records < 2) return;
    const bytes = end - this.recordStart - (this.crPending ? 1 : 0);
    if (bytes > MAX_RECORD_BYTES) {
      this.problem({
        line: this.recordStartLine,
        kind: 'long_record',
        reason: `record is ${bytes} bytes, longer than ${MAX_RECORD_BYTES} (no valid record comes close)`,
      });
    }
  }

  private endOfLine(at: number): void {
    this.endOfRecord(at);
    const kind = this.crPending ? 'crlf' : 'lf';
    this.crPending = false;
    if (this.lineEnd === null) this.lineEnd = kind;
    else if (kind !== this.lineEnd && !this.sawMixed) {
      this.sawMixed = true;
      this.problem({
        line: this.physLine,
        kind: 'mixed_line_ends',
        reason: `line ends with ${kind === 'crlf' ? 'CRLF' : 'LF'} but earlier lines end with ${this.lineEnd === 'crlf' ? 'CRLF' : 'LF'}: one line-end style per file`,
      });
    }
    if (!this.recordHasBytes) {
      // Trailing blank lines are tolerated; a blank line followed by a record is an error (flushBlanks).
      if (this.pendingBlanks.length < MAX_LISTED) this.pendingBlanks.push(this.physLine);
      this.pendingBlankCount++;
    }
    this.physLine++;
    this.logicalLine++;
    this.recordHasBytes = false;
    this.recordStartLine = this.physLine;
    this.recordLogical = this.logicalLine;
  }

  private flushBlanks(): void {
    for (const line of this.pendingBlanks) {
      this.problem({ line, kind: 'blank_line', reason: 'blank line inside the file: every record must have all columns' });
    }
    this.problemCount += this.pendingBlankCount - this.pendingBlanks.length;
    this.problemKinds.add('blank_line');
    this.pendingBlanks = [];
    this.pendingBlankCount = 0;
  }

  private bareCr(): void {
    this.crPending = false;
    if (this.sawBareCr) return;
    this.sawBareCr = true;
    this.problem({ line: this.physLine, kind: 'bare_cr', reason: 'carriage return not followed by a line feed outside quotes' });
  }

  private problem(p: ScanProblem): void {
    this.problemCount++;
    this.problemKinds.add(p.kind);
    if (this.problems.length < MAX_LISTED) this.problems.push(p);
  }
}

export interface DataFileScan {
  /** Hex sha256 of the bytes as delivered (compressed bytes for .csv.gz). */
  sha256: string;
  deliveredBytes: number;
  /** Bytes of CSV text (after gunzip). */
  textBytes: number;
  /** Non-blank records, header included. */
  records: number;
  lineEnd: 'lf' | 'crlf' | null;
  endsInsideQuotes: boolean;
  problems: ScanProblem[];
  problemCount: number;
  /** Every kind of problem found, including those beyond the listed ones. */
  problemKinds: ReadonlySet<ScanProblem['kind']>;
  lines: LineMap;
  /** Set when the gzip stream is corrupt or truncated; the scan results are then partial. */
  gzipError: string | null;
}

/** Hex sha256 of a file's bytes, streamed. */
export const sha256File = async (path: string, onBytes?: (bytes: number) => void): Promise<string> => {
  const hash = createHash('sha256');
  let done = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onBytes?.(done);
  }
  return hash.digest('hex');
};

/** Hashes and scans a data file in one pass (gunzipping when `gzip`). */
export const scanDataFile = async (input: {
  path: string;
  gzip: boolean;
  onBytes?: (deliveredBytes: number) => void;
}): Promise<DataFileScan> => {
  const hash = createHash('sha256');
  const scanner = new CsvByteScanner();
  let delivered = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      delivered += chunk.length;
      input.onBytes?.(delivered);
      callback(null, chunk);
    },
  });
  const sink = async (source: AsyncIterable<Buffer>): Promise<void> => {
    for await (const chunk of source) scanner.push(chunk);
  };
  const source = createReadStream(input.path, { highWaterMark: 1 << 20 });
  let gzipError: string | null = null;
  let sha256: string;
  if (input.gzip) {
    try {
      await pipeline(source, hasher, createGunzip(), sink);
      sha256 = hash.digest('hex');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === undefined || !code.startsWith('Z_')) throw error;
      gzipError =
        code === 'Z_BUF_ERROR'
          ? 'the gzip stream is truncated (unexpected end of file)'
          : `the file is not a valid gzip stream (${(error as Error).message})`;
      sha256 = await sha256File(input.path);
    }
  } else {
    await pipeline(source, hasher, sink);
    sha256 = hash.digest('hex');
  }
  const end = scanner.finish();
  return {
    sha256,
    deliveredBytes: delivered,
    textBytes: scanner.bytes,
    records: end.records,
    lineEnd: end.lineEnd,
    endsInsideQuotes: end.endsInsideQuotes,
    problems: scanner.problems,
    problemCount: scanner.problemCount,
    problemKinds: scanner.problemKinds,
    lines: end.lines,
    gzipError,
  };
};
