/** What the warehouse serves to readers, on the reader connection: committed snapshots only. */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Transaction } from '../../domain/contract.js';
import type { ConsumerView, ConsumerViewRow, DailyTotal, PartitionChange, PartitionState, RowStatus } from '../port.js';
import { num, toConsumerViewRow, toDailyTotal, toSideTableCounts } from '../core/mappers.js';
import { changeFields, withStreamOnlyDates } from '../core/report.js';
import { consumerView } from '../core/sql.js';
import { ISO_TS, LIST_TYPE, dateList, rows } from './connection.js';
import { ledgerRows, toDateChange, toPartitionState, toTransaction } from './ledger.js';
import { DATA_TABLES, exactTotal } from './schema.js';

export const getPartitions = async (c: DuckDBConnection, dates?: string[]): Promise<PartitionState[]> => {
  const stored = dates
    ? await ledgerRows(c, dates)
    : (await rows(c, `SELECT *, strftime(updated_at, ${ISO_TS}) AS updated FROM partition_ledger ORDER BY event_date`)).map(toPartitionState);
  // Dates only the stream has written have no ledger row yet: they are provisional at version 0.
  const streamOnly = await rows(
    c,
    `SELECT CAST(event_date AS VARCHAR) AS d, currency, count(*)::BIGINT AS n, ${exactTotal('amount')} AS total FROM transactions
     WHERE event_date NOT IN (SELECT event_date FROM partition_ledger)
       AND ($all OR event_date IN (SELECT unnest($dates::DATE[])))
     GROUP BY ALL ORDER BY d, currency`,
    { all: dates === undefined, dates: dateList(dates ?? []) },
    LIST_TYPE,
  );
  return withStreamOnlyDates(stored, streamOnly);
};

export const getChanges = async (c: DuckDBConnection, eventDate: string): Promise<PartitionChange[]> =>
  (
    await rows(
      c,
      `SELECT *, strftime(changed_at, ${ISO_TS}) AS changed FROM partition_changes
       WHERE event_date = CAST($date AS DATE) ORDER BY to_version`,
      { date: eventDate },
    )
  ).map((r) => ({ ...toDateChange(r), ...changeFields(r) }));

export const dailyTotals = async (c: DuckDBConnection, dates: string[]): Promise<DailyTotal[]> =>
  (
    await rows(
      c,
      `SELECT CAST(event_date AS VARCHAR) AS d, date_status, date_version, currency, row_count, total_amount AS total FROM daily_totals
       WHERE event_date IN (SELECT unnest($dates::DATE[])) ORDER BY d, currency`,
      { dates: dateList(dates) },
      LIST_TYPE,
    )
  ).map(toDailyTotal);

export const readRows = async (c: DuckDBConnection, eventDate: string): Promise<Array<Transaction & { status: RowStatus; version: number }>> =>
  (
    await rows(
      c,
      `SELECT *, strftime(event_ts, ${ISO_TS}) AS ts FROM transactions WHERE event_date = CAST($date AS DATE) ORDER BY transaction_id`,
      { date: eventDate },
    )
  ).map((r) => ({ ...toTransaction(r), status: r.status as RowStatus, version: num(r.partition_version) }));

export const readVersion = async (c: DuckDBConnection, eventDate: string, version: number): Promise<Array<Transaction & { status: RowStatus }>> =>
  (
    await rows(
      c,
      `SELECT *, strftime(event_ts, ${ISO_TS}) AS ts FROM transactions_history
       WHERE event_date = CAST($date AS DATE) AND partition_version = $v
       QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1 ORDER BY transaction_id`,
      { date: eventDate, v: version },
    )
  ).map((r) => ({ ...toTransaction(r), status: r.status as RowStatus }));

export const readConsumerView = async (c: DuckDBConnection, view: ConsumerView, eventDate: string): Promise<ConsumerViewRow[]> =>
  (
    await rows(
      c,
      `SELECT transaction_id, amount, status, partition_version FROM ${consumerView(view)}
       WHERE event_date = CAST($date AS DATE) ORDER BY transaction_id`,
      { date: eventDate },
    )
  ).map(toConsumerViewRow);

export const countSideTables = async (c: DuckDBConnection): Promise<{ lateArrivals: number; conflicts: number; rejects: number; batches: number }> => {
  const [r] = await rows(
    c,
    `SELECT (SELECT count(*) FROM late_arrivals)::BIGINT AS late, (SELECT count(*) FROM stream_conflicts)::BIGINT AS conflicts,
            (SELECT count(*) FROM stream_rejects)::BIGINT AS rejects, (SELECT count(*) FROM stream_batches)::BIGINT AS batches`,
  );
  return toSideTableCounts(r);
};

export const streamCursor = async (c: DuckDBConnection, sourceId: string): Promise<number> => {
  const [r] = await rows(c, `SELECT coalesce(max(to_cursor), 0)::BIGINT AS c FROM stream_batches WHERE source_id = $source`, { source: sourceId });
  return num(r?.c);
};

export const checksums = async (c: DuckDBConnection): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const table of DATA_TABLES) {
    const [r] = await rows(c, `SELECT count(*)::BIGINT AS n, coalesce(bit_xor(hash(t)), 0)::VARCHAR AS h FROM ${table} t`);
    out[table] = `${num(r?.n)}:${String(r?.h)}`;
  }
  return out;
};
