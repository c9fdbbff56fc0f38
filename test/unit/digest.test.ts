/**
 * The one-pass digest and byte scan of a delivered data file (src/files/digest.ts): what it reports about a file's
 * structure, the reasons an operator reads, the lines it maps records to, and the digest of plain and gzip files.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, test } from 'vitest';
import { CsvByteScanner, MAX_RECORD_BYTES, scanDataFile, sha256File } from '../../src/files/digest.js';

const scan = (text: string, chunk = 1 << 20) => {
  const scanner = new CsvByteScanner();
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunk) scanner.push(bytes.subarray(i, i + chunk));
  const end = scanner.finish();
  return { scanner, end };
};

describe('CsvByteScanner: what it reports', () => {
  test('counts non-blank records (header included), the line-end style, and an unclosed quote', () => {
    expect(scan('a,b\n1,2\n3,4\n').end).toMatchObject({ records: 3, lineEnd: 'lf', endsInsideQuotes: false });
    expect(scan('a,b\r\n1,2\r\n').end).toMatchObject({ records: 2, lineEnd: 'crlf', endsInsideQuotes: false });
    expect(scan('a,b').end).toMatchObject({ records: 1, lineEnd: null, endsInsideQuotes: false });
    expect(scan('a,b\n1,"open\n').end).toMatchObject({ records: 2, lineEnd: 'lf', endsInsideQuotes: true });
    expect(scan('').end).toMatchObject({ records: 0, lineEnd: null });
    expect(scan('a,b\n1,2\n').scanner.bytes).toBe(8);
  });

  test('names each problem with its line and a reason', () => {
    const { scanner } = scan('a,b\n1,2\n\n3,4\r\n5\r6\n');
    expect(scanner.problems).toEqual([
      { line: 3, kind: 'blank_line', reason: 'blank line inside the file: every record must have all columns' },
      { line: 4, kind: 'mixed_line_ends', reason: 'line ends with CRLF but earlier lines end with LF: one line-end style per file' },
      { line: 5, kind: 'bare_cr', reason: 'carriage return not followed by a line feed outside quotes' },
    ]);
    expect(scan('a,b\r\n1,2\n').scanner.problems).toEqual([
      { line: 2, kind: 'mixed_line_ends', reason: 'line ends with LF but earlier lines end with CRLF: one line-end style per file' },
    ]);
    expect(scanner.problemCount).toBe(3);
    expect([...scanner.problemKinds].sort()).toEqual(['bare_cr', 'blank_line', 'mixed_line_ends']);
  });

  test('a clean file has no problem of any kind', () => {
    const { scanner } = scan('a,b\n1,"x\ny"\n2,3\n');
    expect(scanner.problems).toEqual([]);
    expect(scanner.problemCount).toBe(0);
    expect([...scanner.problemKinds]).toEqual([]);
  });

  test('names every blank line inside the file at its own line, consecutive ones included', () => {
    expect(scan('h\n1\n\n2\n\n\n3\n').scanner.problems.map((p) => [p.kind, p.line])).toEqual([
      ['blank_line', 3],
      ['blank_line', 5],
      ['blank_line', 6],
    ]);
  });

  test('a CR right after a CR is bare', () => {
    expect(scan('a,b\r\n1\r\r\n').scanner.problems.map((p) => [p.kind, p.line])).toEqual([['bare_cr', 2]]);
  });

  test('reports mixed line ends and a bare CR once each, however often they recur', () => {
    const { scanner } = scan('a,b\n1\r\n2\r\n3\n4\r5\r6\r\n');
    expect(scanner.problems.map((p) => [p.kind, p.line])).toEqual([
      ['mixed_line_ends', 2],
      ['bare_cr', 5],
    ]);
  });

  test('finds a bare CR before a quote, before content and at the end of the text', () => {
    expect(scan('a,b\n1,\r"x"\n').scanner.problems.map((p) => [p.kind, p.line])).toEqual([['bare_cr', 2]]);
    expect(scan('a,b\n\rx\n').scanner.problems.map((p) => p.kind)).toEqual(['bare_cr']);
    expect(scan('a,b\n1,2\r').scanner.problems.map((p) => p.kind)).toEqual(['bare_cr']);
    // A CR inside quotes is content.
    expect(scan('a,b\n1,"x\ry"\n').scanner.problems).toEqual([]);
  });

  test('lists at most 100 problems and counts them all; trailing blank lines are no problem', () => {
    const { scanner } = scan(`a,b\n1,2\n${'\n'.repeat(150)}3,4\n\n\n`);
    expect(scanner.problems).toHaveLength(100);
    expect(scanner.problems[99]).toMatchObject({ line: 102, kind: 'blank_line' });
    expect(scanner.problemCount).toBe(150);
    expect([...scanner.problemKinds]).toEqual(['blank_line']);
  });

  test('lists at most 100 problems of any kinds together', () => {
    const { scanner } = scan(`a,b\n1,2\n${'\n'.repeat(100)}3,4\r\n5\r6\n`);
    expect(scanner.problems).toHaveLength(100);
    expect(scanner.problemCount).toBe(102);
    expect([...scanner.problemKinds].sort()).toEqual(['bare_cr', 'blank_line', 'mixed_line_ends']);
  });

  test('allows a record of exactly MAX_RECORD_BYTES (its CRLF excluded) and flags one byte more', () => {
    const at = (n: number) => scan(`a,b\r\n${'x'.repeat(n)}\r\n1,2\r\n`).scanner.problems;
    expect(at(MAX_RECORD_BYTES)).toEqual([]);
    expect(at(MAX_RECORD_BYTES + 1)).toEqual([
      {
        line: 2,
        kind: 'long_record',
        reason: `record is ${MAX_RECORD_BYTES + 1} bytes, longer than ${MAX_RECORD_BYTES} (no valid record comes close)`,
      },
    ]);
    // A record that starts with a quote is measured from the quote.
    const quoted = (n: number) => scan(`a,b\n1,2\n"${'q'.repeat(n - 2)}"\n`).scanner.problems.map((p) => [p.kind, p.line]);
    expect(quoted(MAX_RECORD_BYTES)).toEqual([]);
    expect(quoted(MAX_RECORD_BYTES + 1)).toEqual([['long_record', 3]]);
    // The header is not a data record: a long header is left to the header check.
    expect(scan(`${'h'.repeat(MAX_RECORD_BYTES + 1)}\n1\n`).scanner.problems).toEqual([]);
  });
});

describe('CsvByteScanner: lines', () => {
  // Records: header (line 1), r0 (2), r1 spans 3-4, blank 5, r2 (6), r3 spans 7-9, r4 (10).
  const text = 'h\nr0\n"r1\nx"\n\nr2\n"r3\r\ny\r\nz"\nr4\n';

  test('maps each data record to the physical line it starts on, in any chunking', () => {
    for (const chunk of [1 << 20, 1, 2, 5]) {
      const { lines } = scan(text, chunk).end;
      expect([0, 1, 2, 3, 4].map((r) => lines.lineOfRecord(r)), `chunk ${chunk}`).toEqual([2, 3, 6, 7, 10]);
      expect(lines.exact).toBe(true);
    }
  });

  test('maps the reader\'s logical lines (a multi-line record counts once, a blank line counts) to physical lines', () => {
    const { lines } = scan(text).end;
    // Logical: header 1, r0 2, r1 3, blank 4, r2 5, r3 6, r4 7.
    expect([1, 2, 3, 5, 6, 7].map((l) => lines.lineOfLogical(l))).toEqual([1, 2, 3, 6, 7, 10]);
  });

  test('a first record after a blank line starts on the line after it', () => {
    const { lines } = scan('h\n\nr0\nr1\n').end;
    expect([0, 1].map((r) => lines.lineOfRecord(r))).toEqual([3, 4]);
  });

  test('stays exact up to a million anchors and says when it no longer is', () => {
    // Every two-line quoted record after the first moves the line offset: one anchor each.
    const records = (n: number): string => `h\n${'"a\nb"\n'.repeat(n)}`;
    expect(scan(records(1_000_001)).end.lines.exact).toBe(true);
    const over = scan(records(1_000_002)).end.lines;
    expect(over.exact).toBe(false);
    expect(over.lineOfRecord(999_999)).toBe(2 + 2 * 999_999);
  });

  test('without anchors, records follow the header line by line', () => {
    const { lines } = scan('h\na\nb\nc\n').end;
    expect([0, 1, 2].map((r) => lines.lineOfRecord(r))).toEqual([2, 3, 4]);
    expect(lines.lineOfLogical(3)).toBe(3);
  });
});

describe('scanDataFile and sha256File', () => {
  const dir = mkdtempSync(join(tmpdir(), 'digest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const csv = 'a,b\n1,2\n3,4\n';
  const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

  test('a plain file: digest of its bytes, sizes, records, no gzip error, progress in delivered bytes', async () => {
    const path = join(dir, 'plain.csv');
    writeFileSync(path, csv);
    const seen: number[] = [];
    const result = await scanDataFile({ path, gzip: false, onBytes: (n) => seen.push(n) });
    expect(result).toMatchObject({ sha256: sha(csv), deliveredBytes: 12, textBytes: 12, records: 3, lineEnd: 'lf', gzipError: null, problemCount: 0 });
    expect(seen.at(-1)).toBe(12);
    const hashed: number[] = [];
    expect(await sha256File(path, (n) => hashed.push(n))).toBe(sha(csv));
    expect(hashed.at(-1)).toBe(12);
  });

  test('a gzip file: digest of the compressed bytes, scan of the text', async () => {
    const path = join(dir, 'data.csv.gz');
    const gz = gzipSync(csv);
    writeFileSync(path, gz);
    const result = await scanDataFile({ path, gzip: true });
    expect(result).toMatchObject({ sha256: sha(gz), deliveredBytes: gz.length, textBytes: 12, records: 3, gzipError: null });
  });

  test('a truncated gzip stream and bytes that are not gzip are named, with the digest of what was delivered', async () => {
    const truncated = join(dir, 'cut.csv.gz');
    const gz = gzipSync(csv.repeat(100)).subarray(0, 40);
    writeFileSync(truncated, gz);
    expect(await scanDataFile({ path: truncated, gzip: true })).toMatchObject({
      sha256: sha(gz),
      gzipError: 'the gzip stream is truncated (unexpected end of file)',
    });
    const notGzip = join(dir, 'plain.csv.gz');
    writeFileSync(notGzip, csv);
    const result = await scanDataFile({ path: notGzip, gzip: true });
    expect(result.sha256).toBe(sha(csv));
    expect(result.gzipError).toMatch(/^the file is not a valid gzip stream \(.+\)$/);
  });

  test('a read failure is thrown, not reported as a bad file', async () => {
    await expect(scanDataFile({ path: join(dir, 'missing.csv'), gzip: false })).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(scanDataFile({ path: join(dir, 'missing.csv.gz'), gzip: true })).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
