// Every statement of the BigQuery stream sink, checked as text: each read of a partitioned table filters on its
// partitioning column with constants (so BigQuery prunes), DML per table per run stays at one, and appends are cut
// by bytes under the request limit.
import { describe, expect, it } from 'vitest';
import {
  PARTITION_COLUMN,
  classifyScript,
  crossDates,
  dmlTargets,
  emptyWindowStatement,
  freshnessViewStatement,
  lastMergeStatement,
  pendingDatesStatement,
  sealedDatesStatement,
} from '../../src/warehouse/bigquery/stream-sql.js';
import { APPEND_REQUEST_LIMIT_BYTES, encodedRowBytes, splitByBytes } from '../../src/warehouse/bigquery/storage-write.js';
import { BigQueryStreamSink, epochMicros } from '../../src/warehouse/bigquery/stream-sink.js';
import { loadConfig } from '../../src/config.js';
import { batchOf, tx } from '../support/warehouse-contract.js';

const t = (name: string): string => `\`proj.ds.${name}\``;
const window = { mergeId: 'm1', from: '2026-11-21T10:00:00.000000Z', to: '2026-11-21T10:01:00.000000Z', dates: ['2026-11-20', '2026-11-21'], sealedDates: [] };

/** Every statement the sink, the classification and the view send (the cost model prices the same list). */
const allStatements: Array<[string, string]> = [
  ['pending dates', pendingDatesStatement(t, window.from, window.to)],
  ['last merge', lastMergeStatement(t)],
  ['sealed dates', sealedDatesStatement(t, window.dates)],
  ['classification script with a sealed date', classifyScript(t, { ...window, sealedDates: ['2026-11-20'] })],
  ['classification script with only sealed dates', classifyScript(t, { ...window, sealedDates: window.dates })],
  ['classification script', classifyScript(t, window)],
  ['empty window', emptyWindowStatement(t, window)],
  ['freshness view', freshnessViewStatement(t)],
];

/** Partition filter after a partitioned table's alias: `alias.column` compared with constants only. */
const constantFilter = (alias: string, column: string): RegExp =>
  new RegExp(`WHERE ${alias}\\.${column} (?:IN UNNEST\\(\\[(?:DATE '[0-9-]+'(?:, )?)+\\]\\)|>= (?:TIMESTAMP_SUB|TIMESTAMP|DATE_SUB|DATE)[ (][^()]*(?:\\([^()]*\\)[^()]*)*)`);

/** Each `FROM <partitioned table> <alias>` in a statement, with the text that follows it up to the next FROM. */
const partitionedReads = (sql: string): Array<{ table: string; alias: string; rest: string }> =>
  [...sql.matchAll(/FROM `[^`]*\.([a-z_]+)` (\w+)([\s\S]*?)(?=\bFROM\b|$)/g)]
    .filter((m) => (m[1] ?? '') in PARTITION_COLUMN)
    .map((m) => ({ table: m[1] ?? '', alias: m[2] ?? '', rest: m[3] ?? '' }));

describe('bigquery stream sink statements', () => {
  it.each(allStatements)('%s: every read of transactions, stream_events, late_arrivals or stream_conflicts filters its partition column with constants', (_name, sql) => {
    // No unaliased read of a partitioned table slips past the check below.
    for (const table of Object.keys(PARTITION_COLUMN)) {
      for (const m of sql.matchAll(new RegExp(`FROM \`[^\`]*\\.${table}\`(\\s+\\w+)?`, 'g'))) {
        expect(m[1], `${table} read without an alias in: ${sql}`).toBeDefined();
      }
    }
    for (const read of partitionedReads(sql)) {
      expect(read.rest, `${read.table} ${read.alias}`).toMatch(constantFilter(read.alias, PARTITION_COLUMN[read.table] ?? '?'));
    }
  });

  it('the classification reads transactions whole only in the window event dates, ids only within a day of them, late_arrivals in both, stream_events only in the window', () => {
    const reads = partitionedReads(classifyScript(t, window));
    expect(reads.map((r) => `${r.table} ${r.alias}`).sort()).toEqual([
      'late_arrivals k', 'stream_events e', 'stream_events e', 'transactions s', 'transactions x',
    ]);
    const read = (alias: string, table: string) => reads.find((r) => r.alias === alias && r.table === table)?.rest ?? '';
    expect(read('s', 'transactions')).toContain(`s.event_date IN UNNEST([DATE '2026-11-20', DATE '2026-11-21'])`);
    // The neighbouring dates: ids only (the lookup names no other column of transactions).
    expect(read('x', 'transactions')).toContain(
      `x.event_date IN UNNEST([DATE '2026-11-19', DATE '2026-11-22'])`,
    );
    const lookup = classifyScript(t, window).split(';\n').find((s) => s.includes('CREATE TEMP TABLE elsewhere')) ?? '';
    expect(lookup).toMatch(/SELECT DISTINCT x\.transaction_id FROM `proj\.ds\.transactions` x\s+WHERE x\.event_date IN/);
    expect(lookup).not.toMatch(/x\.(account_id|amount|description|event_ts|currency|merchant_id)/);
    expect(read('k', 'late_arrivals')).toContain(
      `k.event_date IN UNNEST([DATE '2026-11-19', DATE '2026-11-20', DATE '2026-11-21', DATE '2026-11-22'])`,
    );
    for (const events of reads.filter((r) => r.table === 'stream_events')) {
      expect(events.rest).toContain(`e.received_at >= TIMESTAMP '${window.from}' AND e.received_at < TIMESTAMP '${window.to}'`);
    }
  });

  it('the cross-date lookup reads as many partitions on day 300 as on day 1: only the dates near the window', () => {
    expect(crossDates(['2026-11-21'])).toEqual(['2026-11-20', '2026-11-21', '2026-11-22']);
    expect(crossDates(['2026-11-21'], 2)).toEqual(['2026-11-19', '2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23']);
    expect(crossDates(['2026-03-01'], 1)).toEqual(['2026-02-28', '2026-03-01', '2026-03-02']);
    expect(crossDates(['2026-11-21', '2026-11-22'], 0)).toEqual(['2026-11-21', '2026-11-22']);
    expect(() => crossDates(['2026-11-21'], -1)).toThrow(/out of range/);
    const oneDay = classifyScript(t, { ...window, dates: ['2026-11-21'] }, 0);
    expect(oneDay).toContain(`x.event_date IN UNNEST([DATE '1970-01-01'])`);
  });

  it('the classification does not read the transactions partition of a sealed date whole (its events are late arrivals), only its ids', () => {
    const reads = partitionedReads(classifyScript(t, { ...window, sealedDates: ['2026-11-20'] }));
    expect(reads.find((r) => r.table === 'transactions' && r.alias === 's')?.rest).toContain(`s.event_date IN UNNEST([DATE '2026-11-21'])`);
    expect(reads.find((r) => r.table === 'transactions' && r.alias === 'x')?.rest).toContain(
      `x.event_date IN UNNEST([DATE '2026-11-19', DATE '2026-11-20', DATE '2026-11-22'])`,
    );
  });

  it('one classification run is one DML statement per table, so the 25-per-10-s limit allows a run every 0.4 s per table', () => {
    const perTable = dmlTargets(classifyScript(t, window));
    expect(perTable).toEqual({ write_fence: 1, transactions: 1, late_arrivals: 1, stream_conflicts: 1, stream_merges: 1 });
  });

  it('refuses anything but validated literals in scripts', () => {
    expect(() => classifyScript(t, { ...window, dates: ["2026-11-21' OR TRUE --"] })).toThrow(/not a date literal/);
    expect(() => classifyScript(t, { ...window, from: '2026-11-21 10:00' })).toThrow(/not a UTC timestamp literal/);
    expect(() => classifyScript(t, { ...window, mergeId: "m'1" })).toThrow(/not an id literal/);
  });

  it('cuts appends by bytes: 60,000 events of 2 KB descriptions give requests all under the 10 MB limit', () => {
    const big = 'd'.repeat(2000);
    const batch = batchOf('b', Array.from({ length: 60_000 }, (_, i) => tx(`id-${i}`, '2026-11-21', '1.25', { description: big })));
    const rows = BigQueryStreamSink.eventRows(batch, 0);
    const groups = splitByBytes(rows, 8 * 1024 * 1024);
    expect(groups.length).toBeGreaterThan(1);
    expect(groups.flat()).toHaveLength(60_000);
    for (const g of groups) expect(g.reduce((s, r) => s + encodedRowBytes(r), 0)).toBeLessThanOrEqual(APPEND_REQUEST_LIMIT_BYTES);
  });

  it('fails a batch whose appends took longer than allowed (so a retry is classified), and passes one that did not', async () => {
    let clock = 0;
    const slow = { append: async (_t: string, rows: unknown[]) => { clock += 6_000; return { requests: 1, rows: rows.length, bytes: 1 }; }, close: async () => {} };
    const sink = new BigQueryStreamSink(slow, () => new Date(clock), 15_000);
    await expect(sink.write(batchOf('slow', [tx('a', '2026-11-21', '1')]))).rejects.toThrow(/appends took 18000 ms, over 15000 ms/);
    const fast = new BigQueryStreamSink(slow, () => new Date(clock), 60_000);
    await expect(fast.write(batchOf('fast', [tx('b', '2026-11-21', '1')]))).resolves.toMatchObject({ inserted: 1 });
  });

  it('keeps six fraction digits of a timestamp and drops the rest, in UTC', () => {
    expect(epochMicros('2026-11-21T23:59:58.123456789-05:00')).toBe(Date.parse('2026-11-22T04:59:58.123Z') * 1000 + 456);
    expect(epochMicros('2026-11-21T00:00:00Z')).toBe(Date.parse('2026-11-21T00:00:00Z') * 1000);
    expect(epochMicros('2026-11-21T00:00:00.5Z')).toBe(Date.parse('2026-11-21T00:00:00Z') * 1000 + 500_000);
  });
});

describe('bigquery stream sink configuration', () => {
  const base = { WAREHOUSE: 'bigquery', BIGQUERY_PROJECT: 'local-project', BIGQUERY_EMULATOR_ENDPOINT: 'http://127.0.0.1:9050' };

  it('defaults to the Storage Write sink, and refuses an emulator without its gRPC endpoint, naming the variable', () => {
    expect(() => loadConfig(base)).toThrow(/BIGQUERY_STORAGE_GRPC_ENDPOINT: is required/);
    expect(loadConfig({ ...base, BIGQUERY_STORAGE_GRPC_ENDPOINT: '127.0.0.1:9060' })).toMatchObject({
      BIGQUERY_STREAM_SINK: 'storage-write',
      BIGQUERY_MERGE_EVERY_MS: 60_000,
    });
    expect(loadConfig({ ...base, BIGQUERY_STREAM_SINK: 'dml' }).BIGQUERY_STREAM_SINK).toBe('dml');
  });
});
