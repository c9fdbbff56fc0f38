import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, test } from 'vitest';
import { FILE_COLUMNS, fileRowSchema, formatIssue, isRealDate } from '../../src/domain/contract.js';
import { canonicalAmount, parseDecimal } from '../../src/domain/decimal.js';
import { CsvByteScanner, MAX_RECORD_BYTES } from '../../src/files/digest.js';
import { csvLine, generateFile, manifestFor, type GeneratedRow } from '../../src/files/generate.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { validateFile, type ValidationProgress } from '../../src/files/validate.js';

const root = await mkdtemp(join(tmpdir(), 'validate-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const readRows = async (path: string, gzip: boolean): Promise<Record<string, string>[]> => {
  const bytes = await readFile(path);
  return parse(gzip ? gunzipSync(bytes) : bytes, { columns: true, bom: true }) as Record<string, string>[];
};

describe('validateFile on generated files', () => {
  test.each([false, true])('a valid two-date amendment (gzip %s): rows, totals, per date, normalised CSV', async (gzip) => {
    const dir = join(root, `valid-${gzip}`);
    const file = await generateFile({
      dir,
      kind: 'amendment',
      covers: ['2026-11-19', '2026-11-20', '2026-11-21'],
      rows: 2_001,
      seed: 42,
      gzip,
      // Exercise quoting and a multi-line value, and leave one covered date empty.
      transform: (row, at) =>
        at.date === '2026-11-21' ? null : at.indexInDate === 5 ? { ...row, description: 'two\nlines, "quoted"' } : row,
    });
    const phases = new Set<string>();
    const result = await validateFile({
      dataPath: file.dataPath,
      manifestText: await readFile(file.manifestPath, 'utf8'),
      manifestName: `${file.fileId}.manifest.json`,
      workDir: join(dir, 'work'),
      onProgress: (p: ValidationProgress) => phases.add(p.phase),
    });
    expect(result.ok, result.ok ? '' : result.issues.map(formatIssue).join('\n')).toBe(true);
    if (!result.ok) return;

    expect(result.rows).toBe(1_334);
    expect(result.perDate).toEqual([
      { date: '2026-11-19', rows: 667 },
      { date: '2026-11-20', rows: 667 },
      { date: '2026-11-21', rows: 0 },
    ]);
    const source = await readRows(file.dataPath, gzip);
    const expectedTotals = new Map<string, { rows: number; total: bigint }>();
    for (const r of source) {
      const t = expectedTotals.get(r.currency!) ?? { rows: 0, total: 0n };
      t.rows++;
      t.total += parseDecimal(r.amount!);
      expectedTotals.set(r.currency!, t);
    }
    expect(result.totals.map((t) => [t.currency, t.rows, parseDecimal(t.total)])).toEqual(
      [...expectedTotals.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([c, t]) => [c, t.rows, t.total]),
    );
    for (const t of result.totals) expect(parseDecimal(t.total)).toBe(parseDecimal(file.manifest.control_totals[t.currency]!));
    expect(phases).toEqual(new Set(['hashing', 'checking', 'writing']));

    // The normalised CSV holds the same rows: FILE_COLUMNS order, canonical amounts, empty cell = null.
    const text = await readFile(result.normalizedCsvPath, 'utf8');
    expect(text.split('\n')[0]).toBe(FILE_COLUMNS.join(','));
    const normalized = parse(text, { columns: true }) as Record<string, string>[];
    const key = (r: Record<string, string>): string => FILE_COLUMNS.map((c) => r[c] ?? '').join('\u0001');
    const expected = source.map((r) => key({ ...r, amount: canonicalAmount(r.amount!) })).sort();
    expect(normalized.map(key).sort()).toEqual(expected);
    expect(normalized.some((r) => r.description === 'two\nlines, "quoted"')).toBe(true);
    expect(normalized.some((r) => r.amount!.endsWith('0') && r.amount!.includes('.'))).toBe(false);
  });

  test('lists at most maxErrors issues and counts them all', async () => {
    const dir = join(root, 'many-errors');
    const file = await generateFile({
      dir,
      kind: 'reconciliation',
      covers: ['2026-11-21'],
      rows: 500,
      transform: (row, at) => (at.indexInDate % 2 === 1 ? { ...row, currency: 'usd' } : row),
    });
    const result = await validateFile({
      dataPath: file.dataPath,
      manifestText: await readFile(file.manifestPath, 'utf8'),
      manifestName: `${file.fileId}.manifest.json`,
      workDir: join(dir, 'work'),
      maxErrors: 10,
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toHaveLength(10);
    // 250 bad rows, plus the manifest's own 'usd' control total, which the manifest schema refuses first.
    expect(result.issueCount).toBe(251);
    expect(result.issues[0]?.field).toBe('control_totals.usd');
    const rowIssues = result.issues.slice(1);
    expect(rowIssues.map((i) => i.line)).toEqual([3, 5, 7, 9, 11, 13, 15, 17, 19]);
    expect(rowIssues.every((i) => i.field === 'currency' && i.source === `${file.fileId}.csv`)).toBe(true);
  });

  test('the set-based SQL checks agree with the zod row schema, value by value', async () => {
    const values: Record<string, string[]> = {
      event_ts: [
        '2026-11-21T23:59:58.120-05:00', '2026-11-21T23:59:58Z', '2026-11-21T23:59:58.123456789+14:00', '2026-11-21T24:00:00Z',
        '2026-11-21T23:60:00Z', '2026-11-21T23:59:60Z', '2026-02-29T10:00:00Z', '2024-02-29T10:00:00Z', '2026-11-21T10:00:00+24:00',
        '2026-11-21T10:00:00+23:59', '2026-11-21T10:00:00', '2026-11-21 10:00:00Z', '2026-11-21T10:00:00z', '0000-01-01T00:00:00Z',
        '2026-11-21T10:00:00.Z', '2026-11-21T10:00:00.1234567890Z',
      ],
      amount: ['0', '-0', '-0.00', '1.5', '007.10', '1.000000000', '1.0000000001', '.5', '5.', '+5', '1e3', '1,5', ` ${'1'}`, `${'9'.repeat(29)}`, `${'9'.repeat(30)}`, '-'],
      currency: ['USD', 'usd', 'XYZ', 'US', 'USDD', 'EUR', 'JPY'],
      transaction_id: ['a', 'a'.repeat(64), 'a'.repeat(65), 'a b', 'a:b.c_d-e', 'é', 'a/b'],
      event_date: ['2026-11-21', '2026-11-21 ', '2026-1-21', '2026-02-29', '0000-01-01', '0001-01-01'],
    };
    const base: GeneratedRow = {
      transaction_id: 'x',
      account_id: 'acct-1',
      event_ts: '2026-11-21T10:00:00Z',
      event_date: '2026-11-21',
      amount: '1.00',
      currency: 'USD',
      merchant_id: null,
      description: null,
    };
    const rows: GeneratedRow[] = [];
    for (const [field, list] of Object.entries(values)) {
      for (const v of list) rows.push({ ...base, [field]: v, transaction_id: field === 'transaction_id' ? v : `id-${rows.length}` });
    }
    const covers = [...new Set(rows.map((r) => r.event_date!))].filter(isRealDate);
    const expectedBadLines = rows
      .map((r, i) => ({ line: i + 2, ok: fileRowSchema.safeParse(r).success }))
      .filter((x) => !x.ok)
      .map((x) => x.line);

    const dir = join(root, 'agreement');
    await mkdir(dir, { recursive: true });
    const text = csvLine(FILE_COLUMNS) + rows.map((r) => csvLine(FILE_COLUMNS.map((c) => r[c]))).join('');
    const sha256 = createHash('sha256').update(text).digest('hex');
    const manifest = manifestFor({
      fileId: 'acme-agreement',
      clientId: 'acme',
      kind: 'amendment',
      covers,
      sequence: 1,
      rowCount: rows.length,
      totals: new Map(),
      sha256,
      createdAt: '2026-11-22T00:00:00Z',
    });
    await writeFile(join(dir, 'acme-agreement.csv'), text);
    const result = await validateFile({
      dataPath: join(dir, 'acme-agreement.csv'),
      manifestText: JSON.stringify(manifest),
      manifestName: 'acme-agreement.manifest.json',
      workDir: join(dir, 'work'),
      maxErrors: 1_000,
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const rowLines = [...new Set(result.issues.filter((i) => i.line !== null).map((i) => i.line))].sort((a, b) => a! - b!);
    expect(rowLines).toEqual(expectedBadLines);
  });
});

test('a resource failure is thrown (for the activity to retry), never reported as a bad file', async () => {
  const dir = join(root, 'no-memory');
  const file = await generateFile({ dir, kind: 'reconciliation', covers: ['2026-11-21'], rows: 50_000 });
  await expect(
    validateFile({
      dataPath: file.dataPath,
      manifestText: await readFile(file.manifestPath, 'utf8'),
      manifestName: `${file.fileId}.manifest.json`,
      workDir: join(dir, 'work'),
      memoryLimit: '1MB',
    }),
  ).rejects.toThrow(/Out of Memory/);
});

describe('CsvByteScanner', () => {
  const text =
    'a,b\n1,"x\ny"\n2,z\n3,"p\r\nq\r\nr"\n4,w\n\n\n';
  const scanWhole = (chunkSize: number) => {
    const scanner = new CsvByteScanner();
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += chunkSize) scanner.push(bytes.subarray(i, i + chunkSize));
    const end = scanner.finish();
    return { end, problems: scanner.problems, lines: [0, 1, 2, 3].map((r) => end.lines.lineOfRecord(r)) };
  };

  test('maps records to the physical line they start on, whatever the chunking', () => {
    const whole = scanWhole(1 << 20);
    expect(whole.lines).toEqual([2, 4, 5, 8]);
    expect(whole.end.records).toBe(5);
    // Trailing blank lines are not problems.
    expect(whole.problems).toEqual([]);
    for (const size of [1, 2, 3, 7]) expect(scanWhole(size)).toEqual(whole);
  });

  test('maps DuckDB reader lines (a multi-line record counts once) to physical lines', () => {
    const { end } = scanWhole(64);
    // Reader line 4 is data record 2 ("3,..."), which starts on physical line 5.
    expect(end.lines.lineOfLogical(4)).toBe(5);
    expect(end.lines.lineOfLogical(5)).toBe(8);
  });

  test('flags a blank line between records, mixed line ends and a bare CR', () => {
    const scanner = new CsvByteScanner();
    scanner.push(Buffer.from('a,b\n1,2\n\n3,4\r\n5\r6\n'));
    scanner.finish();
    expect(scanner.problems.map((p) => [p.kind, p.line])).toEqual([
      ['blank_line', 3],
      ['mixed_line_ends', 4],
      ['bare_cr', 5],
    ]);
  });

  test('flags every data record longer than MAX_RECORD_BYTES at the line it starts on, whatever the chunking', () => {
    const long = 'x'.repeat(MAX_RECORD_BYTES);
    // Record at line 3: exactly the limit (allowed). Line 4: a quoted multi-line record one byte over, CRLF ends.
    // Line 7: one byte over, the last record, with no line end.
    const text = `a,b\r\n1,2\r\n${long.slice(2)},9\r\n"${long.slice(0, 10)}\r\n${long.slice(15)}",1\r\n4,5\r\n${long}x`;
    const bytes = Buffer.from(text);
    for (const chunk of [1 << 20, 4096, 7]) {
      const scanner = new CsvByteScanner();
      for (let i = 0; i < bytes.length; i += chunk) scanner.push(bytes.subarray(i, i + chunk));
      scanner.finish();
      expect(scanner.problems.map((p) => [p.kind, p.line])).toEqual([
        ['long_record', 4],
        ['long_record', 7],
      ]);
      expect(scanner.problems[0]!.reason).toContain(`${MAX_RECORD_BYTES + 1} bytes`);
      expect([...scanner.problemKinds]).toEqual(['long_record']);
    }
  });
});

describe('generateFile', () => {
  test('is deterministic for a seed and writes the manifest it computed', async () => {
    const a = await generateFile({ dir: join(root, 'gen-a'), kind: 'reconciliation', covers: ['2026-11-21'], rows: 300, seed: 5 });
    const b = await generateFile({ dir: join(root, 'gen-b'), kind: 'reconciliation', covers: ['2026-11-21'], rows: 300, seed: 5 });
    const c = await generateFile({ dir: join(root, 'gen-c'), kind: 'reconciliation', covers: ['2026-11-21'], rows: 300, seed: 6 });
    expect(a.manifest.sha256).toBe(b.manifest.sha256);
    expect(a.manifest.sha256).not.toBe(c.manifest.sha256);
    expect(JSON.parse(await readFile(a.manifestPath, 'utf8'))).toEqual(a.manifest);
    expect(createHash('sha256').update(await readFile(a.dataPath)).digest('hex')).toBe(a.manifest.sha256);
    expect(a.manifest.row_count).toBe(300);
    expect((await readdir(join(root, 'gen-a'))).sort()).toEqual([
      'acme-recon-2026-11-21-1.csv',
      'acme-recon-2026-11-21-1.manifest.json',
    ]);
  });
});

describe('LocalDirLanding', () => {
  test('lists only complete pairs, reads them, and moves them idempotently', async () => {
    const dir = join(root, 'landing');
    const landing = new LocalDirLanding(dir);
    const done = await generateFile({ dir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 3, sequence: 1 });
    const gz = await generateFile({ dir, kind: 'amendment', covers: ['2026-11-19'], rows: 3, sequence: 2, gzip: true });
    await writeFile(join(dir, 'acme-orphan.csv'), 'no manifest yet\n');
    await writeFile(join(dir, 'acme-upload.csv.part'), 'partial\n');

    const ready = await landing.listReady();
    expect(ready.map((r) => [r.fileId, r.dataName, r.problem])).toEqual(
      expect.arrayContaining([
        [done.fileId, `${done.fileId}.csv`, null],
        [gz.fileId, `${gz.fileId}.csv.gz`, null],
      ]),
    );
    expect(ready).toHaveLength(2);
    expect(JSON.parse((await landing.readManifest(done.fileId))!)).toEqual(done.manifest);
    const opened = await landing.openData(gz.fileId);
    expect(opened?.dataName).toBe(`${gz.fileId}.csv.gz`);

    const moved = await landing.moveTo({ fileId: done.fileId, area: 'processed', sha256: done.manifest.sha256 });
    const again = await landing.moveTo({ fileId: done.fileId, area: 'processed', sha256: done.manifest.sha256 });
    expect(again.location).toBe(moved.location);
    expect((await readdir(moved.location)).sort()).toEqual([`${done.fileId}.csv`, `${done.fileId}.manifest.json`]);
    // A kept copy can be read again (operator replay).
    const kept = { area: 'processed', sha256: done.manifest.sha256 } as const;
    expect(await landing.openData(done.fileId)).toBeNull();
    expect((await landing.openData(done.fileId, kept))?.path).toBe(join(moved.location, `${done.fileId}.csv`));
    expect(JSON.parse((await landing.readManifest(done.fileId, kept))!)).toEqual(done.manifest);

    const report = {
      fileId: gz.fileId,
      sha256: gz.manifest.sha256,
      reason: 'row_count mismatch',
      issues: [{ source: `${gz.fileId}.csv.gz`, line: null, field: 'row_count', reason: 'off by one' }],
      issueCount: 1,
      quarantinedAt: '2026-11-22T06:00:00Z',
    };
    const q = await landing.moveTo({ fileId: gz.fileId, area: 'quarantine', sha256: gz.manifest.sha256, report });
    expect((await readdir(q.location)).sort()).toEqual([`${gz.fileId}.csv.gz`, `${gz.fileId}.errors.json`, `${gz.fileId}.manifest.json`]);
    expect(JSON.parse(await readFile(join(q.location, `${gz.fileId}.errors.json`), 'utf8'))).toEqual(report);
    expect(await landing.listReady()).toEqual([]);
    expect(await landing.readManifest(gz.fileId)).toBeNull();
    expect(await landing.openData(gz.fileId)).toBeNull();
  });

  test('flags a delivery with both .csv and .csv.gz instead of guessing', async () => {
    const dir = join(root, 'landing-both');
    const file = await generateFile({ dir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 2 });
    await writeFile(join(dir, `${file.fileId}.csv.gz`), 'x');
    const [ready] = await new LocalDirLanding(dir).listReady();
    expect(ready?.problem).toMatch(/both/);
  });
});
