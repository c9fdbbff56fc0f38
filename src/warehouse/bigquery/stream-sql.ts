/**
 * Statements of the BigQuery stream sink (docs/bigquery-cost.md): the append-only `stream_events` table, the periodic
 * classification script into `transactions` / `late_arrivals` / `stream_conflicts` (duplicates counted), and the
 * operations freshness view. Pure builders: the sink runs them, the cost model (scripts/bq-cost.ts) prices them, and
 * a test checks that every read of a partitioned table filters on its partitioning column.
 *
 * Scripts carry only validated literals (dates, timestamps, ids), never query parameters, so the same text runs on
 * the emulator and on BigQuery.
 */
import { sameContent } from '../core/sql.js';
import { GUARD_MARKER } from './sql.js';
import type { TableMetadata } from '@google-cloud/bigquery';
import type { FieldSpec, TableSpec } from '../core/model.js';
import { tableMetadata } from './schema.js';

const f = (name: string, type: FieldSpec['type'], mode: FieldSpec['mode'] = 'REQUIRED'): FieldSpec => ({ name, type, mode });

/** Columns of an event as the client sent it (the content compared for duplicates and conflicts). */
const EVENT_CONTENT = ['transaction_id', 'account_id', 'event_ts', 'event_date', 'amount', 'currency', 'merchant_id', 'description'];
const EVENT_COLUMNS = EVENT_CONTENT.join(', ');

export const STREAM_TABLES: TableSpec[] = [
  {
    name: 'stream_events',
    fields: [
      f('transaction_id', 'STRING'), f('account_id', 'STRING'), f('event_ts', 'TIMESTAMP'), f('event_date', 'DATE'),
      f('amount', 'NUMERIC'), f('currency', 'STRING'), f('merchant_id', 'STRING', 'NULLABLE'), f('description', 'STRING', 'NULLABLE'),
      f('source_id', 'STRING'), f('batch_id', 'STRING'), f('stream_offset', 'INT64'), f('received_at', 'TIMESTAMP'),
    ],
    // By arrival hour (streamTableMetadata), so a classification window reads only the hour(s) it spans, whatever
    // event dates it carries; classified events are kept STREAM_EVENTS_EXPIRATION_DAYS, then the partition expires.
    partitionBy: 'received_at',
    clusterBy: ['event_date', 'transaction_id'],
    description: 'Append-only stream events (Storage Write API default stream); classified by the periodic merge.',
  },
  {
    name: 'stream_merges',
    fields: [
      f('merge_id', 'STRING'), f('window_from', 'TIMESTAMP'), f('window_to', 'TIMESTAMP'), f('event_dates', 'STRING'),
      f('events', 'INT64'), f('inserted', 'INT64'), f('duplicates', 'INT64'), f('conflicts', 'INT64'), f('late', 'INT64'),
      f('merged_at', 'TIMESTAMP'),
    ],
    // Partitioned by day with an expiration (streamTableMetadata): read whole, it holds at most 30 days of runs.
    description: 'One row per classification run: its arrival window (the next run starts at window_to) and counts.',
  },
];

export const STREAM_EVENTS_EXPIRATION_DAYS = 7;
/** Runs are kept this long: the log (read whole for its last window) stays the same size whatever the table's age. */
export const STREAM_MERGES_EXPIRATION_DAYS = 30;

/** Table metadata of the sink's tables: `stream_events` by the hour of arrival, with an expiration. */
export const streamTableMetadata = (spec: TableSpec): TableMetadata => {
  const metadata = tableMetadata(spec);
  if (spec.name === 'stream_merges') {
    return { ...metadata, timePartitioning: { type: 'DAY', field: 'merged_at', expirationMs: String(STREAM_MERGES_EXPIRATION_DAYS * 86_400_000) } };
  }
  if (spec.name !== 'stream_events') return metadata;
  return {
    ...metadata,
    timePartitioning: { type: 'HOUR', field: 'received_at', expirationMs: String(STREAM_EVENTS_EXPIRATION_DAYS * 86_400_000) },
  };
};

/** The partitioning column of each table the sink reads; every read must filter on it. */
export const PARTITION_COLUMN: Record<string, string> = {
  transactions: 'event_date',
  late_arrivals: 'event_date',
  stream_conflicts: 'event_date',
  stream_events: 'received_at',
};

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

const dateLit = (d: string): string => {
  if (!DATE_RE.test(d)) throw new Error(`not a date literal: ${JSON.stringify(d)}`);
  return `DATE '${d}'`;
};
export const tsLit = (ts: string): string => {
  if (!TS_RE.test(ts)) throw new Error(`not a UTC timestamp literal: ${JSON.stringify(ts)}`);
  return `TIMESTAMP '${ts}'`;
};
const idLit = (id: string): string => {
  if (!ID_RE.test(id)) throw new Error(`not an id literal: ${JSON.stringify(id)}`);
  return `'${id}'`;
};
const datesLit = (dates: string[]): string => `UNNEST([${dates.map(dateLit).join(', ')}])`;

/** Fully qualified, quoted table reference (project and dataset validated by the adapter). */
export type TableRef = (name: string) => string;

/**
 * The outcome of one event (insert / duplicate / conflict / late), as the DuckDB adapter decides it. Aliases: `st` a
 * stored row with the event's id, `la` a kept-aside late arrival, `fi` the first occurrence in the same batch or
 * window; `sealed` a ledger row of the event's date when sealed; `elsewhere` (optional) the event's id stored on a
 * date `st` does not read: another date, so other content, so a conflict. Shared by the DML path and the
 * classification.
 */
export const outcomeCase = (a: { event: string; isRepeat: string; sealed: string; elsewhere?: string }): string => {
  const onOtherDate = a.elsewhere ? `\n               WHEN ${a.elsewhere}.transaction_id IS NOT NULL THEN 'conflict'` : '';
  return `CASE
        -- A repeat within the batch or window is judged against the accepted version: stored, kept aside, or the first.
        WHEN ${a.isRepeat} THEN
          CASE WHEN st.transaction_id IS NOT NULL THEN IF(${sameContent(a.event, 'st')}, 'duplicate', 'conflict')${onOtherDate}
               WHEN la.transaction_id IS NOT NULL THEN IF(${sameContent(a.event, 'la')}, 'duplicate', 'conflict')
               ELSE IF(${sameContent(a.event, 'fi')}, 'duplicate', 'conflict') END
        WHEN ${a.sealed}.event_date IS NOT NULL THEN
          CASE WHEN la.transaction_id IS NULL THEN 'late' WHEN ${sameContent(a.event, 'la')} THEN 'duplicate' ELSE 'conflict' END
        WHEN st.transaction_id IS NOT NULL THEN IF(${sameContent(a.event, 'st')}, 'duplicate', 'conflict')${a.elsewhere ? `\n        WHEN ${a.elsewhere}.transaction_id IS NOT NULL THEN 'conflict'` : ''}
        ELSE 'insert'
      END`;
};

/**
 * How far (in days of `event_date`, both ways) an id is looked for on other dates than its event's: the same id
 * re-sent with a business date this close to its first version's (a day: the slip at midnight or across time zones)
 * is a conflict with the first version. Each further day makes every run read one more day of ids; docs/bigquery-cost.md
 * prices it.
 */
export const CROSS_DATE_DAYS = 1;

const DAY_MS = 86_400_000;

/** Every date within `days` of one of `dates` (both ways), sorted: the partitions an id lookup reads. */
export const crossDates = (dates: string[], days: number = CROSS_DATE_DAYS): string[] => {
  if (!Number.isInteger(days) || days < 0 || days > 31) throw new Error(`cross-date days out of range: ${days}`);
  const out = new Set<string>();
  for (const d of dates) {
    if (!DATE_RE.test(d)) throw new Error(`not a date: ${JSON.stringify(d)}`);
    const at = Date.parse(`${d}T00:00:00Z`);
    for (let k = -days; k <= days; k++) out.add(new Date(at + k * DAY_MS).toISOString().slice(0, 10));
  }
  return [...out].sort();
};

export interface MergeWindow {
  mergeId: string;
  /** Arrival window [from, to) of this run; `from` is the previous run's `to`. */
  from: string;
  to: string;
  /**
   * Event dates of the window's events (from `pendingDatesStatement`): the only partitions written; those read are
   * these and the dates within the cross-date bound (`crossDates`).
   */
  dates: string[];
  /**
   * Those of `dates` sealed by a file when the run was planned: their `transactions` partitions are not read (their
   * events are late arrivals). The script's guard fails the run if the ledger says otherwise by the time it runs.
   */
  sealedDates: string[];
}

/** A date whose partition holds nothing: the read of an empty date set, still a constant partition filter. */
const NO_DATE = '1970-01-01';

/** The event dates that arrived in [from, to): a small read of the window's partitions of `stream_events`. */
export const pendingDatesStatement = (t: TableRef, from: string, to: string): string =>
  `SELECT DISTINCT CAST(e.event_date AS STRING) AS event_date
   FROM ${t('stream_events')} e WHERE e.received_at >= ${tsLit(from)} AND e.received_at < ${tsLit(to)}`;

/** Which of a window's event dates are sealed (the ledger is small and not partitioned). */
export const sealedDatesStatement = (t: TableRef, dates: string[]): string =>
  `SELECT CAST(event_date AS STRING) AS event_date FROM ${t('partition_ledger')} WHERE sealed AND event_date IN ${datesLit(dates)}`;

/** Where the last classification run stopped (the start of the next window). */
export const lastMergeStatement = (t: TableRef): string =>
  `SELECT FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', MAX(window_to), 'UTC') AS window_to FROM ${t('stream_merges')}`;

/**
 * The classification of one window, as one transaction script. The write fence goes first, so this script and a
 * file's replacement (which touches the fence too) never interleave: a file's replace is atomic against the stream.
 * A guard fails the script if another run already classified from `from` (two classifiers never merge one window
 * twice). The first accepted version of an id wins; within the window the earliest arrival is first. Stored rows are
 * read whole in the window's open event dates; on the dates within `crossDateDays` of those (`crossDates`), sealed
 * window dates included, only the ids are read (`elsewhere`): an id found there was accepted with another date, so a
 * later event is a conflict. Kept-aside late arrivals are read in all those dates. Every read names its partitions.
 */
export const classifyScript = (t: TableRef, w: MergeWindow, crossDateDays: number = CROSS_DATE_DAYS): string => {
  if (w.dates.length === 0) throw new Error('a classification window without events needs no script');
  const dates = datesLit(w.dates);
  const sealedSet = new Set(w.sealedDates);
  const openDates = w.dates.filter((d) => !sealedSet.has(d));
  const open = datesLit(openDates.length > 0 ? openDates : [NO_DATE]);
  const near = crossDates(w.dates, crossDateDays);
  const otherDates = near.filter((d) => !openDates.includes(d));
  const other = datesLit(otherDates.length > 0 ? otherDates : [NO_DATE]);
  const windowIds = `SELECT e.transaction_id FROM ${t('stream_events')} e
        WHERE e.received_at >= ${tsLit(w.from)} AND e.received_at < ${tsLit(w.to)} AND e.event_date IN ${dates}`;
  const assumedSealed = w.dates.filter((d) => sealedSet.has(d)).join(':');
  const from = tsLit(w.from);
  const to = tsLit(w.to);
  const classified = `
    CREATE TEMP TABLE classified AS
    WITH win AS (
      SELECT ${EVENT_COLUMNS}, e.source_id, e.batch_id, e.stream_offset, e.received_at
      FROM ${t('stream_events')} e WHERE e.received_at >= ${from} AND e.received_at < ${to} AND e.event_date IN ${dates}
      -- A retried append of the same source offset counts once.
      QUALIFY ROW_NUMBER() OVER (PARTITION BY e.source_id, e.stream_offset ORDER BY e.received_at, e.batch_id) = 1),
    ranked AS (
      SELECT w.*, ROW_NUMBER() OVER (PARTITION BY w.transaction_id ORDER BY w.received_at, w.source_id, w.stream_offset) AS rk
      FROM win w),
    stored AS (
      SELECT ${EVENT_CONTENT.map((c) => `s.${c}`).join(', ')}
      FROM ${t('transactions')} s WHERE s.event_date IN ${open} AND s.transaction_id IN (SELECT transaction_id FROM win)),
    kept AS (
      SELECT ${EVENT_CONTENT.map((c) => `k.${c}`).join(', ')}
      FROM ${t('late_arrivals')} k WHERE k.event_date IN ${datesLit(near)} AND k.transaction_id IN (SELECT transaction_id FROM win)
      QUALIFY ROW_NUMBER() OVER (PARTITION BY k.transaction_id ORDER BY k.received_at) = 1),
    sealed AS (SELECT event_date FROM ${t('partition_ledger')} WHERE sealed AND event_date IN ${dates})
    SELECT r.*,
      ${outcomeCase({ event: 'r', isRepeat: 'r.rk > 1', sealed: 'sd', elsewhere: 'el' })} AS outcome
    FROM ranked r
    JOIN ranked fi ON fi.transaction_id = r.transaction_id AND fi.rk = 1
    LEFT JOIN sealed sd ON sd.event_date = r.event_date
    LEFT JOIN kept la ON la.transaction_id = r.transaction_id
    LEFT JOIN stored st ON st.transaction_id = r.transaction_id
    LEFT JOIN elsewhere el ON el.transaction_id = r.transaction_id`;
  // Ids only (two narrow columns), on the neighbouring and sealed dates: what the cross-date lookup costs per run.
  const elsewhere = `
    CREATE TEMP TABLE elsewhere AS
    SELECT DISTINCT x.transaction_id FROM ${t('transactions')} x
    WHERE x.event_date IN ${other} AND x.transaction_id IN (
        ${windowIds})`;
  const sideTable = (table: string, outcome: string): string =>
    `INSERT INTO ${t(table)} (${EVENT_COLUMNS}, source_id, batch_id, stream_offset, received_at)
     SELECT ${EVENT_COLUMNS}, source_id, batch_id, stream_offset, received_at FROM classified WHERE outcome = '${outcome}'`;
  return [
    'BEGIN TRANSACTION',
    `UPDATE ${t('write_fence')} SET touched_at = CURRENT_TIMESTAMP() WHERE id = 1`,
    `SELECT IF(COALESCE((SELECT MAX(window_to) FROM ${t('stream_merges')}), TIMESTAMP '1970-01-01T00:00:00Z') <> ${from},
               ERROR('${GUARD_MARKER}: classification window moved'), 0)`,
    `SELECT IF((SELECT COALESCE(STRING_AGG(CAST(event_date AS STRING), ':' ORDER BY event_date), '') FROM ${t('partition_ledger')}
                WHERE sealed AND event_date IN ${dates}) <> '${assumedSealed}', ERROR('${GUARD_MARKER}: sealed dates moved'), 0)`,
    elsewhere,
    classified,
    `INSERT INTO ${t('transactions')} (${EVENT_COLUMNS}, status, partition_version, source_kind, source_id, change_id, written_at)
     SELECT ${EVENT_COLUMNS}, 'provisional', 0, 'stream', batch_id, NULL, CURRENT_TIMESTAMP() FROM classified WHERE outcome = 'insert'`,
    sideTable('late_arrivals', 'late'),
    sideTable('stream_conflicts', 'conflict'),
    `INSERT INTO ${t('stream_merges')} (merge_id, window_from, window_to, event_dates, events, inserted, duplicates, conflicts, late, merged_at)
     SELECT ${idLit(w.mergeId)}, ${from}, ${to}, ${idLit(w.dates.join(':'))}, COUNT(*), COUNTIF(outcome = 'insert'),
            COUNTIF(outcome = 'duplicate'), COUNTIF(outcome = 'conflict'), COUNTIF(outcome = 'late'), CURRENT_TIMESTAMP()
     FROM classified`,
    'DROP TABLE classified',
    'DROP TABLE elsewhere',
    'COMMIT TRANSACTION',
  ].join(';\n') + ';';
};

/** A window with no events still moves the watermark (one small row), so the next window stays short. */
export const emptyWindowStatement = (t: TableRef, w: Pick<MergeWindow, 'mergeId' | 'from' | 'to'>): string =>
  `INSERT INTO ${t('stream_merges')} (merge_id, window_from, window_to, event_dates, events, inserted, duplicates, conflicts, late, merged_at)
   SELECT ${idLit(w.mergeId)}, ${tsLit(w.from)}, ${tsLit(w.to)}, '', 0, 0, 0, 0, 0, CURRENT_TIMESTAMP()
   FROM UNNEST([1]) WHERE COALESCE((SELECT MAX(window_to) FROM ${t('stream_merges')}), TIMESTAMP '1970-01-01T00:00:00Z') = ${tsLit(w.from)}`;

/**
 * What operations reads: `transactions` plus the events not yet classified, first arrival per id, left out when the
 * id is already stored or the date is sealed. Both sides read only recent partitions (`freshDays` of event dates,
 * `pendingHours` of arrivals: far more than the classification's lag), so a dashboard query costs the same on day 1
 * and day 300; older dates show their classified rows only.
 */
export const freshnessViewStatement = (t: TableRef, freshDays = 2, pendingHours = 2): string => {
  if (!Number.isInteger(freshDays) || freshDays < 1 || freshDays > 7) throw new Error(`freshDays out of range: ${freshDays}`);
  if (!Number.isInteger(pendingHours) || pendingHours < 1 || pendingHours > 48) throw new Error(`pendingHours out of range: ${pendingHours}`);
  const since = `DATE_SUB(CURRENT_DATE(), INTERVAL ${freshDays} DAY)`;
  return `CREATE OR REPLACE VIEW ${t('operations_fresh')} AS
    WITH pending AS (
      SELECT ${EVENT_COLUMNS}, e.batch_id
      FROM ${t('stream_events')} e WHERE e.received_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${pendingHours} HOUR)
        AND e.event_date >= ${since}
        AND e.received_at >= (SELECT COALESCE(MAX(window_to), TIMESTAMP '1970-01-01T00:00:00Z') FROM ${t('stream_merges')})
      QUALIFY ROW_NUMBER() OVER (PARTITION BY e.transaction_id ORDER BY e.received_at, e.source_id, e.stream_offset) = 1),
    recent AS (
      SELECT ${EVENT_COLUMNS}, x.status, x.source_id
      FROM ${t('transactions')} x WHERE x.event_date >= ${since})
    SELECT ${EVENT_COLUMNS}, status, source_id, 'classified' AS freshness FROM recent
    UNION ALL
    SELECT ${EVENT_COLUMNS.split(', ').map((c) => `p.${c}`).join(', ')}, 'provisional', p.batch_id, 'pending' FROM pending p
    WHERE p.transaction_id NOT IN (SELECT transaction_id FROM recent)
      AND p.event_date NOT IN (SELECT event_date FROM ${t('partition_ledger')} WHERE sealed AND event_date >= ${since})`;
};

/** Data-modifying statements per target table in one statement or script: what the 25-per-10-s limit counts. */
export const dmlTargets = (sql: string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const m of sql.matchAll(/\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|MERGE(?:\s+INTO)?)\s+`[^`]*\.([a-z_]+)`/gi)) {
    const table = m[1] ?? '';
    counts[table] = (counts[table] ?? 0) + 1;
  }
  return counts;
};
