/** DuckDB DDL: the same model as the BigQuery dataset (docs/warehouse.md), in DuckDB types. */

/** Columns shared by `transactions` and its archive `transactions_history`. */
export const TRANSACTION_COLUMNS = `
  transaction_id VARCHAR NOT NULL,
  account_id VARCHAR NOT NULL,
  event_ts TIMESTAMPTZ NOT NULL,
  event_date DATE NOT NULL,
  amount DECIMAL(38, 9) NOT NULL,
  currency VARCHAR NOT NULL,
  merchant_id VARCHAR,
  description VARCHAR,
  status VARCHAR NOT NULL,
  partition_version INTEGER NOT NULL,
  source_kind VARCHAR NOT NULL,
  source_id VARCHAR NOT NULL,
  change_id VARCHAR,
  written_at TIMESTAMPTZ NOT NULL`;

export const TRANSACTION_COLUMN_NAMES = [
  'transaction_id',
  'account_id',
  'event_ts',
  'event_date',
  'amount',
  'currency',
  'merchant_id',
  'description',
  'status',
  'partition_version',
  'source_kind',
  'source_id',
  'change_id',
  'written_at',
].join(', ');

const LEDGER_COLUMNS = `
  event_date DATE NOT NULL,
  status VARCHAR NOT NULL,
  version INTEGER NOT NULL,
  sequence BIGINT,
  file_id VARCHAR,
  change_id VARCHAR,
  row_count BIGINT NOT NULL,
  totals VARCHAR NOT NULL,
  sealed BOOLEAN NOT NULL,
  workflow_id VARCHAR,
  run_id VARCHAR,
  updated_at TIMESTAMPTZ NOT NULL`;

export const LEDGER_COLUMN_NAMES =
  'event_date, status, version, sequence, file_id, change_id, row_count, totals, sealed, workflow_id, run_id, updated_at';

const EVENT_COLUMNS = `
  transaction_id VARCHAR NOT NULL,
  account_id VARCHAR NOT NULL,
  event_ts TIMESTAMPTZ NOT NULL,
  event_date DATE NOT NULL,
  amount DECIMAL(38, 9) NOT NULL,
  currency VARCHAR NOT NULL,
  merchant_id VARCHAR,
  description VARCHAR,
  source_id VARCHAR NOT NULL,
  batch_id VARCHAR NOT NULL,
  stream_offset BIGINT NOT NULL,
  received_at TIMESTAMPTZ NOT NULL`;

export const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS transactions (${TRANSACTION_COLUMNS})`,
  `CREATE TABLE IF NOT EXISTS transactions_history (${TRANSACTION_COLUMNS},
     archived_by_change VARCHAR NOT NULL, archived_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS partition_ledger (${LEDGER_COLUMNS}, PRIMARY KEY (event_date))`,
  `CREATE TABLE IF NOT EXISTS partition_ledger_history (${LEDGER_COLUMNS}, archived_by_change VARCHAR NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS partition_changes (
     change_id VARCHAR NOT NULL, event_date DATE NOT NULL, kind VARCHAR NOT NULL,
     file_id VARCHAR, sequence BIGINT, workflow_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
     from_version INTEGER NOT NULL, to_version INTEGER NOT NULL, from_status VARCHAR NOT NULL, to_status VARCHAR NOT NULL,
     rows_before BIGINT NOT NULL, rows_after BIGINT NOT NULL, totals_before VARCHAR NOT NULL, totals_after VARCHAR NOT NULL,
     published BOOLEAN NOT NULL, changed_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS file_registry (
     file_id VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, client_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
     covers VARCHAR NOT NULL, sequence BIGINT NOT NULL, row_count BIGINT NOT NULL, data_path VARCHAR NOT NULL,
     workflow_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, replay BOOLEAN NOT NULL,
     outcome VARCHAR NOT NULL, reason VARCHAR, errors VARCHAR NOT NULL, change_id VARCHAR,
     received_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS late_arrivals (${EVENT_COLUMNS})`,
  `CREATE TABLE IF NOT EXISTS stream_conflicts (${EVENT_COLUMNS})`,
  `CREATE TABLE IF NOT EXISTS stream_rejects (
     source_id VARCHAR NOT NULL, batch_id VARCHAR NOT NULL, stream_offset BIGINT NOT NULL,
     reason VARCHAR NOT NULL, raw VARCHAR NOT NULL, received_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS stream_batches (
     batch_id VARCHAR NOT NULL, source_id VARCHAR NOT NULL, from_cursor BIGINT NOT NULL, to_cursor BIGINT NOT NULL,
     inserted INTEGER NOT NULL, duplicates INTEGER NOT NULL, conflicts INTEGER NOT NULL, late INTEGER NOT NULL,
     rejected INTEGER NOT NULL, unknown_fields INTEGER NOT NULL, written_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS reconciliation_reports (
     change_id VARCHAR NOT NULL, event_date DATE NOT NULL, compared_with VARCHAR NOT NULL, currency VARCHAR NOT NULL,
     provisional_rows BIGINT NOT NULL, provisional_total DECIMAL(38, 9) NOT NULL,
     final_rows BIGINT NOT NULL, final_total DECIMAL(38, 9) NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS reconciliation_diffs (
     change_id VARCHAR NOT NULL, event_date DATE NOT NULL, transaction_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
     before_amount DECIMAL(38, 9), after_amount DECIMAL(38, 9))`,
  `CREATE TABLE IF NOT EXISTS reconciliation_summaries (
     change_id VARCHAR NOT NULL, event_date DATE NOT NULL, diff_count BIGINT NOT NULL, late_arrivals BIGINT NOT NULL,
     only_in_stream BIGINT, only_in_file BIGINT, amount_changed BIGINT)`,
  // Databases created before the per-kind counts: the columns are added, nullable (older reports count 0).
  ...['only_in_stream', 'only_in_file', 'amount_changed'].map(
    (c) => `ALTER TABLE reconciliation_summaries ADD COLUMN IF NOT EXISTS ${c} BIGINT`,
  ),
  // Consumer views: operations reads everything with its badge, finance reads final rows only.
  `CREATE OR REPLACE VIEW operations_transactions AS
     SELECT t.*, coalesce(l.status, 'provisional') AS date_status, coalesce(l.version, 0) AS date_version
     FROM transactions t LEFT JOIN partition_ledger l USING (event_date)`,
  `CREATE OR REPLACE VIEW finance_transactions AS
     SELECT * FROM transactions WHERE status IN ('reconciled', 'amended')`,
  `CREATE OR REPLACE VIEW daily_totals AS
     SELECT t.event_date, coalesce(l.status, 'provisional') AS date_status, coalesce(l.version, 0) AS date_version,
            t.currency, count(*) AS row_count, sum(t.amount) AS total_amount
     FROM transactions t LEFT JOIN partition_ledger l USING (event_date)
     GROUP BY ALL`,
];

export { DATA_TABLES } from '../rows.js';
