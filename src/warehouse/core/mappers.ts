/**
 * Stored rows to the port's types. Both engines return plain objects with the same column names; only the date
 * column's alias differs (`rowMappers(dateKey)`).
 */
import type { InputIssue, Transaction } from '../../domain/contract.js';
import { canonicalAmount } from '../../domain/decimal.js';
import type {
  ConsumerViewRow,
  CurrencyTotal,
  DailyTotal,
  DateChange,
  DiffKindCounts,
  FileOutcome,
  FileRegistryEntry,
  PartitionState,
  RowStatus,
  StreamBatchResult,
} from '../port.js';

export type Row = Record<string, unknown>;

export const num = (v: unknown): number => Number(v ?? 0);
export const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Totals stored as JSON text; amounts come back canonical whatever scale the engine printed. */
export const parseTotals = (text: unknown): CurrencyTotal[] =>
  (JSON.parse(String(text ?? '[]')) as Array<{ currency: string; rows: number | string; total: string | number }>).map((t) => ({
    currency: String(t.currency),
    rows: Number(t.rows),
    total: canonicalAmount(String(t.total)),
  }));

export const toDiffKinds = (r: Row): DiffKindCounts => ({
  onlyInStream: num(r.only_in_stream),
  onlyInFile: num(r.only_in_file),
  amountChanged: num(r.amount_changed),
});

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


/** A `stream_batches` row as the result of the batch it recorded. */
export const toBatchResult = (r: Row): Omit<StreamBatchResult, 'alreadyApplied'> => ({
  inserted: num(r.inserted),
  duplicates: num(r.duplicates),
  conflicts: num(r.conflicts),
  late: num(r.late),
  rejected: num(r.rejected),
  toCursor: num(r.to_cursor),
});

/** A `daily_totals` row read as (d, date_status, date_version, currency, row_count, total). */
export const toDailyTotal = (r: Row): DailyTotal => ({
  eventDate: String(r.d),
  status: r.date_status as RowStatus,
  version: num(r.date_version),
  currency: String(r.currency),
  rows: num(r.row_count),
  total: canonicalAmount(String(r.total)),
});

/** Totals per date from rows of (d, currency, n, total) in date order. */
export const totalsByDate = (rows: Row[]): Map<string, CurrencyTotal[]> => {
  const map = new Map<string, CurrencyTotal[]>();
  for (const r of rows) {
    const list = map.get(String(r.d)) ?? [];
    list.push({ currency: String(r.currency), rows: num(r.n), total: canonicalAmount(String(r.total)) });
    map.set(String(r.d), list);
  }
  return map;
};

/** Counts of the side tables from one row of (late, conflicts, rejects, batches). */
export const toSideTableCounts = (r: Row | undefined): { lateArrivals: number; conflicts: number; rejects: number; batches: number } => ({
  lateArrivals: num(r?.late),
  conflicts: num(r?.conflicts),
  rejects: num(r?.rejects),
  batches: num(r?.batches),
});
