/**
 * SQL both engines run as written: the "same content" predicate, the differing ids of a change, the per-kind counts
 * of a report, the re-admission of late arrivals, the consumer views' names. An engine passes its own table quoting
 * and date filter where they differ.
 */
import { WarehouseError, type ConsumerView } from '../port.js';

/** Two stream events are the same transaction when every field matches (nulls equal); both dialects accept this. */
export const sameContent = (a: string, b: string): string =>
  [
    `${a}.account_id = ${b}.account_id`,
    `${a}.event_ts = ${b}.event_ts`,
    `${a}.event_date = ${b}.event_date`,
    `${a}.amount = ${b}.amount`,
    `${a}.currency = ${b}.currency`,
    `${a}.merchant_id IS NOT DISTINCT FROM ${b}.merchant_id`,
    `${a}.description IS NOT DISTINCT FROM ${b}.description`,
  ].join(' AND ');

/**
 * The ids a change made differ, one row each (event_date, transaction_id, kind, before_amount, after_amount), from
 * the rows it archived (`before`) and the rows it wrote (`after`); both dialects accept this.
 */
export const differingIds = (before: string, after: string): string =>
  `SELECT COALESCE(b.event_date, a.event_date) AS event_date, COALESCE(b.transaction_id, a.transaction_id) AS transaction_id,
          CASE WHEN a.transaction_id IS NULL THEN 'only_in_stream' WHEN b.transaction_id IS NULL THEN 'only_in_file'
               ELSE 'amount_changed' END AS kind,
          b.amount AS before_amount, a.amount AS after_amount
   FROM ${before} b FULL OUTER JOIN ${after} a ON a.event_date = b.event_date AND a.transaction_id = b.transaction_id
   WHERE a.transaction_id IS NULL OR b.transaction_id IS NULL OR a.amount <> b.amount`;

/** SQL aggregates counting the rows of `differingIds` by kind, as the summary's columns; both dialects accept this. */
export const DIFF_KIND_COUNTS = `COUNT(*) AS n,
  SUM(CASE WHEN kind = 'only_in_stream' THEN 1 ELSE 0 END) AS only_in_stream,
  SUM(CASE WHEN kind = 'only_in_file' THEN 1 ELSE 0 END) AS only_in_file,
  SUM(CASE WHEN kind = 'amount_changed' THEN 1 ELSE 0 END) AS amount_changed`;

/** The columns of `reconciliation_summaries`, in this order (the kind counts were added later, hence last). */
export const SUMMARY_COLUMNS = 'change_id, event_date, diff_count, late_arrivals, only_in_stream, only_in_file, amount_changed';

const CONSUMER_VIEWS: readonly ConsumerView[] = ['finance_transactions', 'operations_transactions'];

/** The view's name, checked against the known views before it is spliced into SQL. */
export const consumerView = (view: ConsumerView): string => {
  if (!CONSUMER_VIEWS.includes(view)) throw new WarehouseError(`unknown consumer view ${JSON.stringify(view)}`, 'INVARIANT');
  return view;
};

/**
 * Statements that re-admit the late arrivals of dates a reverted change had sealed, so the dates end as if the change
 * had never happened: an event no row holds becomes a provisional row, one that differs from the row kept is a
 * conflict, one equal to it is a duplicate; all leave `late_arrivals`. Dates still sealed after the revert (an earlier
 * file sealed them) keep their late arrivals. Run after the ledger is restored; `t` quotes a table, `inDates` filters a
 * date column by the reverted dates. Both dialects accept these.
 */
export const readmitLateStatements = (
  t: (table: string) => string,
  inDates: (column: string) => string,
  /** A partition filter on the lookup of stored rows (alias `x`), for an engine that requires one on every read. */
  storedFilter?: (column: string) => string,
): string[] => {
  const reopened = `${inDates('la.event_date')} AND la.event_date NOT IN (SELECT event_date FROM ${t('partition_ledger')} WHERE sealed)`;
  const stored = storedFilter ? ` AND ${storedFilter('x.event_date')}` : '';
  const eventColumns = 'transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description';
  return [
    `INSERT INTO ${t('transactions')} (${eventColumns}, status, partition_version, source_kind, source_id, change_id, written_at)
     SELECT ${eventColumns.split(', ').map((c) => `la.${c}`).join(', ')}, 'provisional', 0, 'stream', la.batch_id, NULL, la.received_at
     FROM ${t('late_arrivals')} la
     WHERE ${reopened} AND NOT EXISTS (SELECT 1 FROM ${t('transactions')} x WHERE x.transaction_id = la.transaction_id${stored})`,
    `INSERT INTO ${t('stream_conflicts')} (${eventColumns}, source_id, batch_id, stream_offset, received_at)
     SELECT ${eventColumns.split(', ').map((c) => `la.${c}`).join(', ')}, la.source_id, la.batch_id, la.stream_offset, la.received_at
     FROM ${t('late_arrivals')} la JOIN ${t('transactions')} x ON x.transaction_id = la.transaction_id
     WHERE ${reopened}${stored} AND NOT (${sameContent('la', 'x')})`,
    `DELETE FROM ${t('late_arrivals')} la WHERE ${reopened}`,
  ];
};

const STAGING_ID = /^[a-z0-9_]{1,100}$/;

/** The staging table of a staging id, checked before it is spliced into SQL. */
export const stagingTable = (stagingId: string): string => {
  if (!STAGING_ID.test(stagingId)) throw new WarehouseError(`invalid staging id ${JSON.stringify(stagingId)}`, 'INVARIANT');
  return `staging_${stagingId}`;
};

/** The tables holding a change's published reports (cleared before a publish, and by an unpublish). */
export const REPORT_TABLES = ['reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries'] as const;

/** The tables holding what a change recorded by its id (cleared by a revert). */
export const CHANGE_TABLES = ['partition_changes', ...REPORT_TABLES] as const;
