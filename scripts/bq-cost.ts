/**
 * Cost and quota model of the BigQuery stream sink, from the code's own statements (docs/bigquery-cost.md).
 *
 *   npm run bq:cost -- [--rows-per-day 10000000] [--days 30] [--rate 20000] [--merge-every 60] [--batch-events 5000]
 *                      [--worker-rate 20000] [--sample 20000] [--cross-date-days 2]
 *
 * Row sizes are measured on events of the simulated client feed, turned into the sink's rows; the statements are
 * the builders the sink runs (stream-sql.ts), split into the statements BigQuery bills one by one. Each statement is
 * billed for the columns it names of each table it reads, over the partitions its filters keep, and at least 10 MB
 * per table referenced. Prices and limits: the table `LIMITS` below, as documented (docs/bigquery-cost.md).
 */
import { parseArgs } from 'node:util';
import { streamBatchOf } from '../src/activities/stream-activities.js';
import { parseStreamRecords } from '../src/domain/stream-event.js';
import { SimulatedFeed } from '../src/sources/simulated-feed.js';
import type { FieldSpec } from '../src/warehouse/core/model.js';
import { TABLES } from '../src/warehouse/bigquery/schema.js';
import { encodedRowBytes, DEFAULT_APPEND_REQUEST_BYTES, APPEND_REQUEST_LIMIT_BYTES } from '../src/warehouse/bigquery/storage-write.js';
import { BigQueryStreamSink } from '../src/warehouse/bigquery/stream-sink.js';
import {
  CROSS_DATE_DAYS,
  STREAM_MERGES_EXPIRATION_DAYS,
  STREAM_TABLES,
  classifyScript,
  dmlTargets,
  lastMergeStatement,
  pendingDatesStatement,
  sealedDatesStatement,
} from '../src/warehouse/bigquery/stream-sql.js';

const { values: args } = parseArgs({
  options: {
    'rows-per-day': { type: 'string', default: '10000000' },
    days: { type: 'string', default: '30' },
    rate: { type: 'string', default: '20000' },
    'merge-every': { type: 'string', default: '60' },
    'batch-events': { type: 'string', default: '5000' },
    'worker-rate': { type: 'string', default: '20000' },
    sample: { type: 'string', default: '20000' },
    'cross-date-days': { type: 'string', default: String(CROSS_DATE_DAYS) },
  },
});
const num = (name: keyof typeof args): number => {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number, got ${String(args[name])}`);
  return v;
};

const TiB = 2 ** 40;
const GB = 1e9;
const MB = 2 ** 20;
const DAY_S = 86_400;

/** Documented prices and limits (docs/bigquery-cost.md gives the source of each). */
export const LIMITS = {
  onDemandPerTiB: 6.25,
  minBilledPerTablePerStatement: 10 * MB,
  queryBytesPerDay: 200 * TiB,
  storageWritePerGB: 0.025,
  storageWriteFreePerMonth: 2 * TiB,
  storageWriteBytesPerSecond: 3 * GB, // us / eu multi-regions; 300 MB/s in other regions
  storageWriteConnections: 10_000, // multi-regions; 1,000 in other regions
  appendRequestBytes: APPEND_REQUEST_LIMIT_BYTES,
  dmlPerTablePer10s: 25,
  tableMetadataUpdatesPer10s: 5,
  partitionModificationsPerDay: 30_000,
  concurrentInteractiveQueries: 100,
};

// ------------------------------------------------------------------ measured row sizes

/** BigQuery's logical size of a value (what on-demand queries are billed on). */
const logicalBytes = (type: FieldSpec['type'], value: unknown): number => {
  if (value === null || value === undefined) return 0;
  switch (type) {
    case 'STRING':
      return 2 + Buffer.byteLength(String(value));
    case 'NUMERIC':
      return 16;
    case 'BOOL':
      return 1;
    default:
      return 8;
  }
};

const sampleRows = (n: number): Array<Record<string, unknown>> => {
  const feed = new SimulatedFeed({ seed: 7, rate: 'unbounded', businessDate: '2026-11-21', startMs: 0 });
  const records = Array.from({ length: n }, (_, offset) => ({ offset, payload: feed.payloadAt(offset), emittedAtMs: 0 }));
  const parsed = parseStreamRecords({ sourceId: feed.id, records, timeZone: 'America/New_York' });
  const batch = streamBatchOf({ sourceId: feed.id, fromCursor: 0, toCursor: n, parsed });
  return BigQueryStreamSink.eventRows(batch, 0);
};

const fieldsOf = (table: string): FieldSpec[] => {
  const spec = [...TABLES, ...STREAM_TABLES].find((t) => t.name === table);
  if (!spec) throw new Error(`no table ${table}`);
  return spec.fields;
};

/** Average logical bytes per column of a stream-event-shaped table, over the sample (transactions add status etc.). */
const columnBytes = (rows: Array<Record<string, unknown>>, table: string): Record<string, number> => {
  const extra: Record<string, unknown> = { status: 'provisional', partition_version: 0, source_kind: 'stream', change_id: null, written_at: 0 };
  const out: Record<string, number> = {};
  for (const f of fieldsOf(table)) {
    let sum = 0;
    for (const r of rows) sum += logicalBytes(f.type, f.name in r ? r[f.name] : f.name === 'source_id' ? r.source_id : extra[f.name] ?? r.batch_id);
    out[f.name] = sum / rows.length;
  }
  return out;
};

// ------------------------------------------------------------------ statements as billed

interface Scenario {
  rowsPerDay: number;
  mergeEvery: number;
  batchEvents: number;
  workerRate: number;
  /** Days either side of an event's date in which its id is looked for (classifyScript's cross-date lookup). */
  crossDateDays: number;
}

interface Statement {
  sql: string;
  /** Rows each partitioned table holds in the partitions this statement's filters keep. */
  rows: Record<string, number>;
}

const t = (name: string): string => `\`p.d.${name}\``;
const TABLE_REF = /`p\.d\.([a-z_]+)`|\bFROM (classified)\b|\bJOIN (elsewhere)\b/g;

/** Billed bytes of one statement: the columns it names of each table it reads, at least 10 MB per table. */
const billed = (s: Statement, bytes: Record<string, Record<string, number>>): number => {
  const tables = new Set<string>();
  for (const m of s.sql.matchAll(TABLE_REF)) tables.add(m[1] ?? m[2] ?? m[3] ?? '');
  // Written, not read: the target of INSERT INTO is not billed as a read.
  const target = /^\s*INSERT INTO `p\.d\.([a-z_]+)`/.exec(s.sql)?.[1];
  const readsTarget = target !== undefined && (s.sql.match(new RegExp(`\\.${target}\``, 'g')) ?? []).length > 1;
  if (target && !readsTarget) tables.delete(target);
  let total = 0;
  for (const table of tables) {
    const perColumn = bytes[table] ?? {};
    const named = Object.entries(perColumn).filter(([column]) => new RegExp(`\\b${column}\\b`).test(s.sql));
    const rowBytes = named.reduce((sum, [, b]) => sum + b, 0);
    total += Math.max(LIMITS.minBilledPerTablePerStatement, rowBytes * (s.rows[table] ?? 0));
  }
  return total;
};

/**
 * One classification run in steady state, averaged over a day: the window holds `rate × mergeEvery` events of the
 * day's date; today's `transactions` partition is half full on average; `stream_events` is read in the hour the
 * window falls in (half full on average, plus the previous hour when the window straddles one). The cross-date
 * lookup (`CREATE TEMP TABLE elsewhere`) reads the ids of the `crossDateDays` full days before today (the days after
 * it are empty); `late_arrivals` is read over those days and today.
 */
const runStatements = (sc: Scenario, dayOfTable: number): Statement[] => {
  const rate = sc.rowsPerDay / DAY_S;
  const windowRows = rate * sc.mergeEvery;
  const eventsHourRows = (sc.rowsPerDay / 24) * (0.5 + Math.min(1, sc.mergeEvery / 3600));
  const rows = {
    transactions: sc.rowsPerDay / 2,
    stream_events: eventsHourRows,
    late_arrivals: sc.rowsPerDay * 0.005 * (1 + sc.crossDateDays),
    classified: windowRows,
    elsewhere: windowRows,
    // One ledger row per sealed date; one run row per run, kept STREAM_MERGES_EXPIRATION_DAYS.
    partition_ledger: dayOfTable,
    stream_merges: (DAY_S / sc.mergeEvery) * Math.min(dayOfTable, STREAM_MERGES_EXPIRATION_DAYS),
    write_fence: 1,
  };
  const window = { mergeId: 'm', from: '2026-11-21T10:00:00.000000Z', to: '2026-11-21T10:01:00.000000Z', dates: ['2026-11-21'], sealedDates: [] };
  const script = classifyScript(t, window, sc.crossDateDays)
    .split(/;\n/)
    .map((x) => x.trim())
    .filter((x) => x && !/^(BEGIN|COMMIT) TRANSACTION|^DROP TABLE/.test(x));
  const lookup = { ...rows, transactions: sc.rowsPerDay * sc.crossDateDays };
  return [lastMergeStatement(t), pendingDatesStatement(t, window.from, window.to), sealedDatesStatement(t, window.dates), ...script].map(
    (sql) => ({ sql, rows: sql.startsWith('CREATE TEMP TABLE elsewhere') ? lookup : rows }),
  );
};

interface DayFigures {
  queryBytes: number;
  queryUsd: number;
  writeBytes: number;
  writeUsdList: number;
  writeUsdAfterFree: number;
  dmlPer10sMax: number;
  dmlPer10sByTable: Record<string, number>;
  storageWriteShare: number;
  connections: number;
  requestBytes: number;
  runsPerDay: number;
}

const day = (sc: Scenario, bytes: Record<string, Record<string, number>>, eventWriteBytes: number, dayOfTable = 1): DayFigures => {
  const runsPerDay = DAY_S / sc.mergeEvery;
  const perRun = runStatements(sc, dayOfTable).reduce((sum, s) => sum + billed(s, bytes), 0);
  const queryBytes = perRun * runsPerDay;
  const batchesPerDay = sc.rowsPerDay / sc.batchEvents;
  // Events, plus one stream_batches row per batch (rejects are a small share of events, counted as events).
  const writeBytes = sc.rowsPerDay * eventWriteBytes + batchesPerDay * 120;
  const freePerDay = LIMITS.storageWriteFreePerMonth / 30;
  const dml = dmlTargets(classifyScript(t, { mergeId: 'm', from: '2026-11-21T10:00:00Z', to: '2026-11-21T10:01:00Z', dates: ['2026-11-21'], sealedDates: [] }));
  const dmlPer10sByTable = Object.fromEntries(Object.entries(dml).map(([table, n]) => [table, (n * 10) / sc.mergeEvery]));
  const rate = sc.rowsPerDay / DAY_S;
  const workers = Math.max(1, Math.ceil(rate / sc.workerRate));
  return {
    queryBytes,
    queryUsd: (queryBytes / TiB) * LIMITS.onDemandPerTiB,
    writeBytes,
    writeUsdList: (writeBytes / GB) * LIMITS.storageWritePerGB,
    writeUsdAfterFree: (Math.max(0, writeBytes - freePerDay) / GB) * LIMITS.storageWritePerGB,
    dmlPer10sMax: Math.max(...Object.values(dmlPer10sByTable)),
    dmlPer10sByTable,
    storageWriteShare: writeBytes / DAY_S / LIMITS.storageWriteBytesPerSecond,
    // Three default-stream connections per worker: stream_events, stream_rejects, stream_batches.
    connections: workers * 3,
    requestBytes: Math.min(DEFAULT_APPEND_REQUEST_BYTES, sc.batchEvents * eventWriteBytes),
    runsPerDay,
  };
};

const shares = (d: DayFigures): Array<[string, number, string]> => [
  ['query bytes per day (on-demand quota)', d.queryBytes / LIMITS.queryBytesPerDay, `${(d.queryBytes / TiB).toFixed(3)} TiB of 200 TiB`],
  ['DML per table per 10 s (busiest table)', d.dmlPer10sMax / LIMITS.dmlPerTablePer10s, `${d.dmlPer10sMax.toFixed(2)} of 25`],
  ['table metadata updates per 10 s (if DML counted)', d.dmlPer10sMax / LIMITS.tableMetadataUpdatesPer10s, `${d.dmlPer10sMax.toFixed(2)} of 5`],
  ['partition modifications per day (transactions)', d.runsPerDay / LIMITS.partitionModificationsPerDay, `${Math.round(d.runsPerDay)} of 30,000`],
  ['Storage Write throughput (multi-region)', d.storageWriteShare, `${((d.writeBytes / DAY_S) / 1e6).toFixed(2)} MB/s of 3 GB/s`],
  ['Storage Write connections (multi-region)', d.connections / LIMITS.storageWriteConnections, `${d.connections} of 10,000`],
  ['AppendRows request size', d.requestBytes / LIMITS.appendRequestBytes, `${(d.requestBytes / MB).toFixed(2)} MiB of 10 MiB (cut at 8 MiB)`],
  ['concurrent interactive queries', 1 / LIMITS.concurrentInteractiveQueries, '1 classification at a time of 100'],
];

const pct = (x: number): string => `${(x * 100).toFixed(x < 0.01 ? 3 : 1)}%`;
const usd = (x: number): string => `$${x.toFixed(2)}`;

const print = (title: string, d: DayFigures): void => {
  console.log(`\n${title}`);
  console.log(`  classification runs/day ${Math.round(d.runsPerDay)}; query bytes ${(d.queryBytes / TiB).toFixed(3)} TiB/day = ${usd(d.queryUsd)}`);
  console.log(
    `  Storage Write ${(d.writeBytes / GB).toFixed(2)} GB/day = ${usd(d.writeUsdList)} list, ${usd(d.writeUsdAfterFree)} after the 2 TiB/month free tier`,
  );
  console.log(`  total (query + ingestion, list) ${usd(d.queryUsd + d.writeUsdList)}/day`);
  console.log(`  DML per 10 s per table: ${Object.entries(d.dmlPer10sByTable).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  for (const [name, share, detail] of shares(d)) console.log(`  ${name.padEnd(50)} ${pct(share).padStart(8)}  (${detail})`);
};

const main = (): void => {
  const sample = sampleRows(num('sample'));
  const bytes: Record<string, Record<string, number>> = {
    transactions: columnBytes(sample, 'transactions'),
    stream_events: columnBytes(sample, 'stream_events'),
    late_arrivals: columnBytes(sample, 'late_arrivals'),
    classified: { ...columnBytes(sample, 'stream_events'), outcome: 9, rk: 8 },
    elsewhere: { transaction_id: columnBytes(sample, 'transactions').transaction_id ?? 0 },
    // merge_id, two timestamps, the dates, five counts, merged_at; ledger: date, status, version, ids, totals JSON.
    stream_merges: { merge_id: 40, window_from: 8, window_to: 8, event_dates: 14, events: 8, inserted: 8, duplicates: 8, conflicts: 8, late: 8, merged_at: 8 },
    partition_ledger: { event_date: 8, status: 12, version: 8, sequence: 8, file_id: 40, change_id: 40, row_count: 8, totals: 120, sealed: 1 },
    write_fence: { id: 8, touched_at: 8 },
  };
  const eventWriteBytes = Math.max(
    sample.reduce((s, r) => s + encodedRowBytes(r as Parameters<typeof encodedRowBytes>[0]), 0) / sample.length,
    Object.values(bytes.stream_events ?? {}).reduce((s, b) => s + b, 0),
  );
  const crossDateDays = Number(args['cross-date-days']);
  if (!Number.isInteger(crossDateDays) || crossDateDays < 0) throw new Error(`--cross-date-days must be a whole number >= 0, got ${String(args['cross-date-days'])}`);
  const base: Scenario = {
    rowsPerDay: num('rows-per-day'), mergeEvery: num('merge-every'), batchEvents: num('batch-events'), workerRate: num('worker-rate'), crossDateDays,
  };
  const days = Math.round(num('days'));
  console.log(`BigQuery stream sink cost model (${sample.length} simulated events measured)`);
  console.log(`  row bytes (logical): transactions ${Object.values(bytes.transactions ?? {}).reduce((s, b) => s + b, 0).toFixed(0)}, stream_events ${eventWriteBytes.toFixed(0)} (ingested)`);
  console.log(`  classification every ${base.mergeEvery} s, ${base.batchEvents} events per append batch, ids looked up ${crossDateDays} day${crossDateDays === 1 ? '' : 's'} either side of their date`);

  // Every statement reads only the dates (and arrival hours) it touches; what grows with the table's age is only the
  // ledger (a row a day) and the run log (capped by its expiration).
  const d1 = day(base, bytes, eventWriteBytes, 1);
  const dn = day(base, bytes, eventWriteBytes, days);
  print(`${base.rowsPerDay.toLocaleString('en-US')} rows/day, day 1`, d1);
  print(`${base.rowsPerDay.toLocaleString('en-US')} rows/day, day ${days} (table holds ${(base.rowsPerDay * days).toLocaleString('en-US')} rows)`, dn);
  const rate = num('rate');
  print(
    `${rate.toLocaleString('en-US')} tx/s sustained (${(rate * DAY_S).toLocaleString('en-US')} rows/day), day ${days}`,
    day({ ...base, rowsPerDay: rate * DAY_S }, bytes, eventWriteBytes, days),
  );
  const change = Math.abs(dn.queryUsd + dn.writeUsdList - (d1.queryUsd + d1.writeUsdList)) / (d1.queryUsd + d1.writeUsdList);
  console.log(`
day ${days} vs day 1 (query + ingestion): ${pct(change)} apart`);

  // Highest sustained rate: every quota at most 80%, over classification cadences up to an hour (the freshness view
  // covers two hours of unclassified arrivals).
  let best = { rate: 0, cadence: 0, binding: '' };
  for (const cadence of [10, 30, 60, 120, 300, 600, 900, 1800, 3600]) {
    let lo = 1;
    let hi = 1e9;
    let binding = '';
    for (let i = 0; i < 60; i++) {
      const mid = Math.sqrt(lo * hi);
      const worst = shares(day({ ...base, mergeEvery: cadence, rowsPerDay: mid * DAY_S }, bytes, eventWriteBytes, days)).reduce((a, b) => (b[1] > a[1] ? b : a));
      if (worst[1] <= 0.8) lo = mid;
      else {
        hi = mid;
        binding = worst[0];
      }
    }
    console.log(`  cadence ${String(cadence).padStart(4)} s: highest sustained rate ${Math.floor(lo).toLocaleString('en-US').padStart(11)} tx/s, bound by ${binding}`);
    if (lo > best.rate) best = { rate: lo, cadence, binding };
  }
  console.log(
    `\nhighest sustained rate with every quota <= 80%: ${Math.floor(best.rate).toLocaleString('en-US')} tx/s (classification every ${best.cadence} s), bound first by ${best.binding}`,
  );
};

main();
