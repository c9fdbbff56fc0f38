/**
 * What both adapters share: the SQL predicate for "same content" and the mapping of stored rows to the port's
 * types. Both engines return plain objects with the same column names; only the date column's alias differs.
 */
import type { InputIssue, Transaction } from '../domain/contract.js';
import { canonicalAmount } from '../domain/decimal.js';
import {
  WarehouseError,
  type ConsumerView,
  type ConsumerViewRow,
  type CurrencyTotal,
  type DateChange,
  type DiffKindCounts,
  type FileOutcome,
  type FileRegistryEntry,
  type PartitionState,
  type ReplaceInput,
  type ReplaceResult,
  type RowStatus,
} from './port.js';

export type Row = Record<string, unknown>;

export const num = (v: unknown): number => Number(v ?? 0);
export const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

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

/** Totals stored as JSON text; amounts come back canonical whatever scale the engine printed. */
export const parseTotals = (text: unknown): CurrencyTotal[] =>
  (JSON.parse(String(text ?? '[]')) as Array<{ currency: string; rows: number | string; total: string | number }>).map((t) => ({
    currency: String(t.currency),
    rows: Number(t.rows),
    total: canonicalAmount(String(t.total)),
  }));

/** SQL aggregates counting the rows of `differingIds` by kind, as the summary's columns; both dialects accept this. */
export const DIFF_KIND_COUNTS = `COUNT(*) AS n,
  SUM(CASE WHEN kind = 'only_in_stream' THEN 1 ELSE 0 END) AS only_in_stream,
  SUM(CASE WHEN kind = 'only_in_file' THEN 1 ELSE 0 END) AS only_in_file,
  SUM(CASE WHEN kind = 'amount_changed' THEN 1 ELSE 0 END) AS amount_changed`;

/** The columns of `reconciliation_summaries`, in this order (the kind counts were added later, hence last). */
export const SUMMARY_COLUMNS = 'change_id, event_date, diff_count, late_arrivals, only_in_stream, only_in_file, amount_changed';

export const toDiffKinds = (r: Row): DiffKindCounts => ({
  onlyInStream: num(r.only_in_stream),
  onlyInFile: num(r.only_in_file),
  amountChanged: num(r.amount_changed),
});

const CONSUMER_VIEWS: readonly ConsumerView[] = ['finance_transactions', 'operations_transactions'];

/** The view's name, checked against the known views before it is spliced into SQL. */
export const consumerView = (view: ConsumerView): string => {
  if (!CONSUMER_VIEWS.includes(view)) throw new WarehouseError(`unknown consumer view ${JSON.stringify(view)}`, 'INVARIANT');
  return view;
};

export const toConsumerViewRow = (r: Row): ConsumerViewRow => ({
  transactionId: String(r.transaction_id),
  amount: canonicalAmount(String(r.amount)),
  status: r.status as RowStatus,
  version: num(r.partition_version),
});

export const toFileEntry = (r: Row): FileRegistryEntry => ({
  fileId: String(r.file_id),
  sha256: String(r.sha256),
  clientId: String(r.client_id),
  kind: r.kind as FileRegistryEntry['kind'],
  covers: JSON.parse(String(r.covers)) as string[],
  sequence: num(r.sequence),
  rowCount: num(r.row_count),
  dataPath: String(r.data_path),
  workflowId: String(r.workflow_id),
  runId: String(r.run_id),
  replay: Boolean(r.replay),
  outcome: r.outcome as FileOutcome,
  reason: str(r.reason),
  errors: JSON.parse(String(r.errors)) as InputIssue[],
  changeId: str(r.change_id),
  receivedAt: String(r.received),
  updatedAt: String(r.updated),
});

/** Mappers for rows whose event date is in column `dateKey`. */
export const rowMappers = (dateKey: string) => ({
  toDateChange: (r: Row): DateChange => ({
    eventDate: String(r[dateKey]),
    fromVersion: num(r.from_version),
    toVersion: num(r.to_version),
    fromStatus: r.from_status as RowStatus,
    rowsBefore: num(r.rows_before),
    rowsAfter: num(r.rows_after),
    totalsBefore: parseTotals(r.totals_before),
    totalsAfter: parseTotals(r.totals_after),
  }),
  toPartitionState: (r: Row): PartitionState => ({
    eventDate: String(r[dateKey]),
    status: r.status as RowStatus,
    version: num(r.version),
    sequence: r.sequence === null || r.sequence === undefined ? null : num(r.sequence),
    fileId: str(r.file_id),
    changeId: str(r.change_id),
    rowCount: num(r.row_count),
    totals: parseTotals(r.totals),
    updatedAt: str(r.updated),
  }),
  toTransaction: (r: Row): Transaction => ({
    transactionId: String(r.transaction_id),
    accountId: String(r.account_id),
    eventTs: String(r.ts),
    eventDate: String(r[dateKey]),
    amount: canonicalAmount(String(r.amount)),
    currency: String(r.currency),
    merchantId: str(r.merchant_id),
    description: str(r.description),
  }),
});

/** Tables whose content a rolled-back file must leave exactly as it found it (both engines hold the same). */
export const DATA_TABLES = [
  'transactions',
  'transactions_history',
  'partition_ledger',
  'partition_ledger_history',
  'partition_changes',
  'late_arrivals',
  'stream_conflicts',
  'stream_rejects',
  'stream_batches',
  'reconciliation_reports',
  'reconciliation_diffs',
  'reconciliation_summaries',
  'file_registry',
] as const;

/**
 * The versioning rules of a partition replacement, the same in every engine: a date another file is still
 * publishing is busy (retry later); a date holding a newer sequence refuses an older file unless it is replayed.
 */
export const checkVersions = (
  input: Pick<ReplaceInput, 'fileId' | 'sequence' | 'force'>,
  ledger: Array<Pick<PartitionState, 'eventDate' | 'sequence' | 'changeId'> & { pendingChange: boolean }>,
): Extract<ReplaceResult, { outcome: 'refused_stale' }> | null => {
  const pending = ledger.filter((l) => l.changeId !== null && l.pendingChange);
  if (pending.length > 0) {
    throw new WarehouseError(
      `dates ${pending.map((x) => x.eventDate).join(', ')} are being changed by ${pending[0]?.changeId}; retry later`,
      'CONFLICT',
    );
  }
  const newer = ledger.filter((l) => l.sequence !== null && l.sequence > input.sequence);
  if (newer.length === 0 || input.force) return null;
  return {
    outcome: 'refused_stale',
    reason:
      `file ${input.fileId} has sequence ${input.sequence}, older than ` +
      newer.map((n) => `${n.eventDate} at sequence ${n.sequence}`).join(', ') +
      '; replay it explicitly to apply it anyway',
    newerSequences: newer.map((n) => ({ eventDate: n.eventDate, sequence: n.sequence as number })),
  };
};

/**
 * Statements that re-admit the late arrivals of dates a reverted change had sealed, so the dates end as if the change
 * had never happened: an event no row holds becomes a provisional row, one that differs from the row kept is a
 * conflict, one equal to it is a duplicate; all leave `late_arrivals`. Dates still sealed after the revert (an earlier
 * file sealed them) keep their late arrivals. Run after the ledger is restored; `t` quotes a table, `inDates` filters a
 * date column by the reverted dates. Both dialects accept these.
 */
export const readmitLateStatements = (t: (table: string) => string, inDates: (column: string) => string): string[] => {
  const reopened = `${inDates('la.event_date')} AND la.event_date NOT IN (SELECT event_date FROM ${t('partition_ledger')} WHERE sealed)`;
  const eventColumns = 'transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description';
  return [
    `INSERT INTO ${t('transactions')} (${eventColumns}, status, partition_version, source_kind, source_id, change_id, written_at)
     SELECT ${eventColumns.split(', ').map((c) => `la.${c}`).join(', ')}, 'provisional', 0, 'stream', la.batch_id, NULL, la.received_at
     FROM ${t('late_arrivals')} la
     WHERE ${reopened} AND NOT EXISTS (SELECT 1 FROM ${t('transactions')} x WHERE x.transaction_id = la.transaction_id)`,
    `INSERT INTO ${t('stream_conflicts')} (${eventColumns}, source_id, batch_id, stream_offset, received_at)
     SELECT ${eventColumns.split(', ').map((c) => `la.${c}`).join(', ')}, la.source_id, la.batch_id, la.stream_offset, la.received_at
     FROM ${t('late_arrivals')} la JOIN ${t('transactions')} x ON x.transaction_id = la.transaction_id
     WHERE ${reopened} AND NOT (${sameContent('la', 'x')})`,
    `DELETE FROM ${t('late_arrivals')} la WHERE ${reopened}`,
  ];
};
