/**
 * The partition ledger and change log as the writer and the reader both query them: ledger states, a change's dates,
 * totals per date, and the writes every change makes (archive the dates, record the change, set the ledger entry).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { CurrencyTotal, DateChange, PartitionChange, PartitionState, RowStatus } from '../port.js';
import { rowMappers, totalsByDate } from '../core/mappers.js';
import { ISO_TS, LIST_TYPE, dateList, rows, run, type Params, type Types } from './connection.js';
import { LEDGER_COLUMN_NAMES, TRANSACTION_COLUMN_NAMES, exactTotal } from './schema.js';

export const { toDateChange, toPartitionState, toTransaction } = rowMappers('event_date');

export type LedgerState = PartitionState & { sealed: boolean; pendingChange: boolean };

export const changeDates = async (c: DuckDBConnection, changeId: string): Promise<DateChange[]> =>
  (await rows(c, `SELECT * FROM partition_changes WHERE change_id = $change ORDER BY event_date`, { change: changeId })).map(toDateChange);

/** Ledger entries of `dates` (dates never changed have none), each with whether its change is still unpublished. */
export const ledgerRows = async (c: DuckDBConnection, dates: string[]): Promise<LedgerState[]> => {
  const found = await rows(
    c,
    `SELECT l.*, strftime(l.updated_at, ${ISO_TS}) AS updated,
            coalesce((SELECT NOT bool_and(published) FROM partition_changes pc WHERE pc.change_id = l.change_id), false) AS pending
     FROM partition_ledger l WHERE event_date IN (SELECT unnest($dates::DATE[])) ORDER BY event_date`,
    { dates: dateList(dates) },
    LIST_TYPE,
  );
  return found.map((r) => ({ ...toPartitionState(r), sealed: Boolean(r.sealed), pendingChange: Boolean(r.pending) }));
};

/** Totals per date and currency of the rows `source` selects, exact at any size. */
export const totalsOf = async (c: DuckDBConnection, source: string, params: Params, types?: Types): Promise<Map<string, CurrencyTotal[]>> =>
  totalsByDate(
    await rows(
      c,
      `SELECT CAST(event_date AS VARCHAR) AS d, currency, count(*)::BIGINT AS n, ${exactTotal('amount')} AS total
       FROM (${source}) GROUP BY ALL ORDER BY d, currency`,
      params,
      types,
    ),
  );

/**
 * Archives the current rows and ledger entries of `dates` under `changeId`, then clears their rows. Dates are
 * filtered with list_contains, not `IN (SELECT unnest(…))`: that semi-join over the rows a transaction just inserted
 * runs out of memory under the memory limit on a 10M-row file.
 */
export const archiveDates = async (c: DuckDBConnection, changeId: string, dates: string[]): Promise<void> => {
  const params = { change: changeId, dates: dateList(dates) };
  await run(
    c,
    `INSERT INTO transactions_history SELECT ${TRANSACTION_COLUMN_NAMES}, $change, now()
     FROM transactions WHERE list_contains($dates::DATE[], event_date)`,
    params,
    LIST_TYPE,
  );
  await run(
    c,
    `INSERT INTO partition_ledger_history SELECT ${LEDGER_COLUMN_NAMES}, $change
     FROM partition_ledger WHERE list_contains($dates::DATE[], event_date)`,
    params,
    LIST_TYPE,
  );
  await run(c, `DELETE FROM transactions WHERE list_contains($dates::DATE[], event_date)`, params, LIST_TYPE);
};

/** What a change records besides the date change: the file and run it came from. */
export type ChangeMeta = Pick<PartitionChange, 'fileId' | 'sequence' | 'workflowId' | 'runId'>;

/** Records the change of one date, unpublished, and makes its new version the date's ledger entry. */
export const recordChange = async (
  c: DuckDBConnection,
  changeId: string,
  kind: 'replace' | 'restore',
  change: DateChange,
  entry: { status: RowStatus; sealed: boolean; ledgerSequence: number | null; ledgerFileId: string | null },
  meta: ChangeMeta,
): Promise<void> => {
  await run(c, `DELETE FROM partition_ledger WHERE event_date = CAST($date AS DATE)`, { date: change.eventDate });
  await run(
    c,
    `INSERT INTO partition_ledger VALUES (CAST($date AS DATE), $status, $version, $sequence, $file, $change, $rows,
       $totals, $sealed, $wf, $run, now())`,
    {
      date: change.eventDate,
      status: entry.status,
      version: change.toVersion,
      sequence: entry.ledgerSequence,
      file: entry.ledgerFileId,
      change: changeId,
      rows: change.rowsAfter,
      totals: JSON.stringify(change.totalsAfter),
      sealed: entry.sealed,
      wf: meta.workflowId,
      run: meta.runId,
    },
  );
  await run(
    c,
    `INSERT INTO partition_changes VALUES ($change, CAST($date AS DATE), $kind, $file, $sequence, $wf, $run, $fromV, $toV,
       $fromS, $toS, $rowsB, $rowsA, $totB, $totA, false, now())`,
    {
      change: changeId,
      date: change.eventDate,
      kind,
      file: meta.fileId,
      sequence: meta.sequence,
      wf: meta.workflowId,
      run: meta.runId,
      fromV: change.fromVersion,
      toV: change.toVersion,
      fromS: change.fromStatus,
      toS: entry.status,
      rowsB: change.rowsBefore,
      rowsA: change.rowsAfter,
      totB: JSON.stringify(change.totalsBefore),
      totA: JSON.stringify(change.totalsAfter),
    },
  );
};
