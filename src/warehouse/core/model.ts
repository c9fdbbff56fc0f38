/**
 * The table model, written once for both engines (docs/warehouse.md): columns in GoogleSQL types, partitioning,
 * clustering and the consumer views. DuckDB renders its DDL from it (duckdb/schema.ts), BigQuery its table metadata
 * (bigquery/schema.ts).
 */

type Mode = 'REQUIRED' | 'NULLABLE';
export interface FieldSpec {
  name: string;
  /**
   * GoogleSQL type. BIGNUMERIC means BIGNUMERIC(47, 9): 38 integer and 9 fraction digits, for sums of amounts (a
   * day of 29-digit amounts overflows NUMERIC). Each engine says how it holds one (bigquery/schema.ts, duckdb/schema.ts).
   */
  type: 'STRING' | 'INT64' | 'NUMERIC' | 'BIGNUMERIC' | 'DATE' | 'TIMESTAMP' | 'BOOL';
  mode: Mode;
}

const f = (name: string, type: FieldSpec['type'], mode: Mode = 'REQUIRED'): FieldSpec => ({ name, type, mode });
const nullable = (name: string, type: FieldSpec['type']): FieldSpec => f(name, type, 'NULLABLE');

/** Columns of `transactions` and (first) of `transactions_history`, in this order. */
export const TRANSACTION_FIELDS: FieldSpec[] = [
  f('transaction_id', 'STRING'),
  f('account_id', 'STRING'),
  f('event_ts', 'TIMESTAMP'),
  f('event_date', 'DATE'),
  f('amount', 'NUMERIC'),
  f('currency', 'STRING'),
  nullable('merchant_id', 'STRING'),
  nullable('description', 'STRING'),
  f('status', 'STRING'),
  f('partition_version', 'INT64'),
  f('source_kind', 'STRING'),
  f('source_id', 'STRING'),
  nullable('change_id', 'STRING'),
  f('written_at', 'TIMESTAMP'),
];
export const TRANSACTION_COLUMN_NAMES = TRANSACTION_FIELDS.map((c) => c.name).join(', ');

const LEDGER_FIELDS: FieldSpec[] = [
  f('event_date', 'DATE'),
  f('status', 'STRING'),
  f('version', 'INT64'),
  nullable('sequence', 'INT64'),
  nullable('file_id', 'STRING'),
  nullable('change_id', 'STRING'),
  f('row_count', 'INT64'),
  // JSON text of CurrencyTotal[], as in the DuckDB adapter.
  f('totals', 'STRING'),
  f('sealed', 'BOOL'),
  nullable('workflow_id', 'STRING'),
  nullable('run_id', 'STRING'),
  f('updated_at', 'TIMESTAMP'),
];
export const LEDGER_COLUMN_NAMES = LEDGER_FIELDS.map((c) => c.name).join(', ');

const EVENT_FIELDS: FieldSpec[] = [
  f('transaction_id', 'STRING'),
  f('account_id', 'STRING'),
  f('event_ts', 'TIMESTAMP'),
  f('event_date', 'DATE'),
  f('amount', 'NUMERIC'),
  f('currency', 'STRING'),
  nullable('merchant_id', 'STRING'),
  nullable('description', 'STRING'),
  f('source_id', 'STRING'),
  f('batch_id', 'STRING'),
  f('stream_offset', 'INT64'),
  f('received_at', 'TIMESTAMP'),
];

/** The normalised staging CSV (FILE_COLUMNS order): loaded with this explicit schema, never auto-detected. */
export const STAGING_FIELDS: FieldSpec[] = [
  f('transaction_id', 'STRING'),
  f('account_id', 'STRING'),
  f('event_ts', 'TIMESTAMP'),
  f('event_date', 'DATE'),
  f('amount', 'NUMERIC'),
  f('currency', 'STRING'),
  nullable('merchant_id', 'STRING'),
  nullable('description', 'STRING'),
];

export interface TableSpec {
  name: string;
  fields: FieldSpec[];
  /** DAY partitioning on this DATE column. */
  partitionBy?: string;
  clusterBy?: string[];
  /** DuckDB: the primary key (BigQuery has none). */
  primaryKey?: string;
  /** Every query must filter on the partitioning column (BigQuery's require_partition_filter; DuckDB has none). */
  requirePartitionFilter?: boolean;
  /** Only this engine has the table (BigQuery's write fence and batch staging). */
  only?: 'bigquery';
  description: string;
}

export const TABLES: TableSpec[] = [
  {
    name: 'transactions',
    fields: TRANSACTION_FIELDS,
    partitionBy: 'event_date',
    requirePartitionFilter: true,
    // A partition holds one status at a time (invariant 2), so inside a partition this sorts by transaction_id:
    // the stream's duplicate lookup prunes blocks, and finance's status filter prunes whole provisional dates.
    clusterBy: ['status', 'transaction_id'],
    description: 'All transactions, one status per row: provisional (stream), reconciled or amended (files).',
  },
  {
    name: 'transactions_history',
    fields: [...TRANSACTION_FIELDS, f('archived_by_change', 'STRING'), f('archived_at', 'TIMESTAMP')],
    partitionBy: 'event_date',
    clusterBy: ['archived_by_change', 'partition_version'],
    description: 'Rows replaced by a change, kept so a version can be inspected, reverted or restored.',
  },
  { name: 'partition_ledger', fields: LEDGER_FIELDS, clusterBy: ['event_date'], primaryKey: 'event_date', description: 'Current status and version per event_date.' },
  {
    name: 'partition_ledger_history',
    fields: [...LEDGER_FIELDS, f('archived_by_change', 'STRING')],
    clusterBy: ['archived_by_change'],
    description: 'Ledger rows replaced by a change.',
  },
  {
    name: 'partition_changes',
    fields: [
      f('change_id', 'STRING'), f('event_date', 'DATE'), f('kind', 'STRING'), nullable('file_id', 'STRING'),
      nullable('sequence', 'INT64'), f('workflow_id', 'STRING'), f('run_id', 'STRING'), f('from_version', 'INT64'),
      f('to_version', 'INT64'), f('from_status', 'STRING'), f('to_status', 'STRING'), f('rows_before', 'INT64'),
      f('rows_after', 'INT64'), f('totals_before', 'STRING'), f('totals_after', 'STRING'), f('published', 'BOOL'),
      f('changed_at', 'TIMESTAMP'),
    ],
    clusterBy: ['change_id', 'event_date'],
    description: 'Every change to a partition: which file, which run, rows and totals before and after.',
  },
  {
    name: 'file_registry',
    fields: [
      f('file_id', 'STRING'), f('sha256', 'STRING'), f('client_id', 'STRING'), f('kind', 'STRING'), f('covers', 'STRING'),
      f('sequence', 'INT64'), f('row_count', 'INT64'), f('data_path', 'STRING'), f('workflow_id', 'STRING'),
      f('run_id', 'STRING'), f('replay', 'BOOL'), f('outcome', 'STRING'), nullable('reason', 'STRING'), f('errors', 'STRING'),
      nullable('change_id', 'STRING'), f('received_at', 'TIMESTAMP'), f('updated_at', 'TIMESTAMP'),
    ],
    clusterBy: ['file_id'],
    description: 'Every file received, with its outcome and validation errors.',
  },
  { name: 'late_arrivals', fields: EVENT_FIELDS, partitionBy: 'event_date', clusterBy: ['transaction_id'], description: 'Stream events for sealed dates.' },
  { name: 'stream_conflicts', fields: EVENT_FIELDS, partitionBy: 'event_date', clusterBy: ['transaction_id'], description: 'Same id, different content.' },
  {
    name: 'stream_rejects',
    fields: [
      f('source_id', 'STRING'), f('batch_id', 'STRING'), f('stream_offset', 'INT64'), f('reason', 'STRING'), f('raw', 'STRING'),
      f('received_at', 'TIMESTAMP'),
    ],
    clusterBy: ['batch_id'],
    description: 'Stream events that failed the contract, verbatim.',
  },
  {
    name: 'stream_batches',
    fields: [
      f('batch_id', 'STRING'), f('source_id', 'STRING'), f('from_cursor', 'INT64'), f('to_cursor', 'INT64'), f('inserted', 'INT64'),
      f('duplicates', 'INT64'), f('conflicts', 'INT64'), f('late', 'INT64'), f('rejected', 'INT64'), f('unknown_fields', 'INT64'),
      f('written_at', 'TIMESTAMP'),
    ],
    clusterBy: ['batch_id'],
    description: 'One row per micro-batch written: makes a retried batch recognisable.',
  },
  {
    name: 'reconciliation_reports',
    fields: [
      f('change_id', 'STRING'), f('event_date', 'DATE'), f('compared_with', 'STRING'), f('currency', 'STRING'),
      f('provisional_rows', 'INT64'), f('provisional_total', 'BIGNUMERIC'), f('final_rows', 'INT64'), f('final_total', 'BIGNUMERIC'),
    ],
    clusterBy: ['change_id'],
    description: 'Counts and totals per currency, before (stream or previous file) and after a change.',
  },
  {
    name: 'reconciliation_diffs',
    fields: [
      f('change_id', 'STRING'), f('event_date', 'DATE'), f('transaction_id', 'STRING'), f('kind', 'STRING'),
      nullable('before_amount', 'NUMERIC'), nullable('after_amount', 'NUMERIC'),
    ],
    clusterBy: ['change_id'],
    description: 'Transactions missing from either side or with a changed amount (capped per date).',
  },
  {
    name: 'reconciliation_summaries',
    fields: [
      f('change_id', 'STRING'), f('event_date', 'DATE'), f('diff_count', 'INT64'), f('late_arrivals', 'INT64'),
      // Added after the first release: nullable, so an existing table takes them (migrate adds missing columns).
      nullable('only_in_stream', 'INT64'), nullable('only_in_file', 'INT64'), nullable('amount_changed', 'INT64'),
    ],
    clusterBy: ['change_id'],
    description: 'Per date and change: how many diffs (all, not only the stored ones) and late arrivals.',
  },
  {
    name: 'stream_incoming',
    fields: [
      f('batch_id', 'STRING'), f('is_reject', 'BOOL'), nullable('ord', 'INT64'), f('stream_offset', 'INT64'),
      ...EVENT_FIELDS.slice(0, 8).map((x) => nullable(x.name, x.type)), nullable('reason', 'STRING'), nullable('raw', 'STRING'),
    ],
    clusterBy: ['batch_id'],
    only: 'bigquery',
    description: 'A micro-batch staged by parameterised statements for its transaction script, which deletes it.',
  },
  {
    name: 'write_fence',
    fields: [f('id', 'INT64'), f('touched_at', 'TIMESTAMP')],
    only: 'bigquery',
    description: 'One row every write transaction updates first, so BigQuery serialises writers (see docs/warehouse.md).',
  },
];

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
 * Rows and exact total per date, its status and version, and currency: the `daily_totals` view's query. `sum` renders
 * an engine's exact sum of an amount column (BIGNUMERIC on BigQuery, decimal text on DuckDB); `where` filters the
 * rows before grouping, for an adapter that runs the query itself on a few dates.
 */
export const dailyTotalsQuery = (t: (name: string) => string, sum: (column: string) => string, where = ''): string =>
  `SELECT tx.event_date, COALESCE(l.status, 'provisional') AS date_status, COALESCE(l.version, 0) AS date_version,
            tx.currency, COUNT(*) AS row_count, ${sum('tx.amount')} AS total_amount
     FROM ${t('transactions')} tx LEFT JOIN ${t('partition_ledger')} l ON l.event_date = tx.event_date
     ${where}
     GROUP BY tx.event_date, date_status, date_version, tx.currency`;

/** Consumer views; `t` maps a table name to its fully qualified, quoted reference, `sum` as in dailyTotalsQuery. */
export const viewStatements = (t: (name: string) => string, sum: (column: string) => string): string[] => [
  `CREATE OR REPLACE VIEW ${t('operations_transactions')} AS
     SELECT tx.*, COALESCE(l.status, 'provisional') AS date_status, COALESCE(l.version, 0) AS date_version
     FROM ${t('transactions')} tx LEFT JOIN ${t('partition_ledger')} l ON l.event_date = tx.event_date`,
  `CREATE OR REPLACE VIEW ${t('finance_transactions')} AS
     SELECT * FROM ${t('transactions')} WHERE status IN ('reconciled', 'amended')`,
  `CREATE OR REPLACE VIEW ${t('daily_totals')} AS
     ${dailyTotalsQuery(t, sum)}`,
];
