/**
 * Partition changes: a file's replacement of whole dates, the revert of a change, the restore of an earlier version.
 * Each runs as one transaction on the writer, within the file's memory budget; the rules are core's.
 */
import { INTEGER, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import {
  FINAL_STATUS,
  type DateChange,
  type ReplaceInput,
  type ReplaceResult,
  type RestoreInput,
  type RowStatus,
  type WarehouseHooks,
} from '../port.js';
import { checkRestorable, checkRevertable, checkVersions, dateChangeOf, nextVersions } from '../core/rules.js';
import { CHANGE_TABLES, readmitLateStatements, stagingTable } from '../core/sql.js';
import { LIST_TYPE, dateList, rows, run, type DuckDbConnections } from './connection.js';
import { archiveDates, changeDates, ledgerRows, recordChange, totalsOf } from './ledger.js';
import { LEDGER_COLUMN_NAMES, TRANSACTION_COLUMN_NAMES } from './schema.js';

const IN_DATES = `SELECT * FROM transactions WHERE list_contains($dates::DATE[], event_date)`;

export const replacePartitions = (db: DuckDbConnections, hooks: WarehouseHooks, input: ReplaceInput): Promise<ReplaceResult> => {
  const staging = stagingTable(input.stagingId);
  const status = FINAL_STATUS[input.kind];
  return db.transaction(async (c) => {
    const applied = await changeDates(c, input.changeId);
    if (applied.length > 0) return { outcome: 'already_applied', changeId: input.changeId, dates: applied };

    const ledger = await ledgerRows(c, input.covers);
    const refused = checkVersions(input, ledger);
    if (refused) return refused;

    const dates = dateList(input.covers);
    const before = await totalsOf(c, IN_DATES, { dates }, LIST_TYPE);
    await archiveDates(c, input.changeId, input.covers);
    // One insert for every covered date, in staging order (no sort: it would spill on a large file).
    const versions = nextVersions(input.covers, ledger);
    await run(
      c,
      `INSERT INTO transactions SELECT s.transaction_id, s.account_id, s.event_ts, s.event_date, s.amount, s.currency,
         s.merchant_id, s.description, $status, v.version, 'file', $file, $change, now()
       FROM ${staging} s JOIN (SELECT unnest($dates::DATE[]) AS event_date, unnest($versions::INTEGER[]) AS version) v
         ON s.event_date = v.event_date`,
      { status, file: input.fileId, change: input.changeId, dates, versions: listValue(versions) },
      { dates: LIST(VARCHAR), versions: LIST(INTEGER) },
    );
    const after = await totalsOf(c, IN_DATES, { dates }, LIST_TYPE);
    const changes: DateChange[] = [];
    for (const [i, eventDate] of input.covers.entries()) {
      const change = dateChangeOf(eventDate, ledger.find((l) => l.eventDate === eventDate), versions[i]!, {
        before: before.get(eventDate) ?? [],
        after: after.get(eventDate) ?? [],
      });
      changes.push(change);
      await recordChange(
        c,
        input.changeId,
        'replace',
        change,
        { status, sealed: true, ledgerSequence: input.sequence, ledgerFileId: input.fileId },
        { fileId: input.fileId, sequence: input.sequence, workflowId: input.workflowId, runId: input.runId },
      );
    }
    await hooks.beforeReplaceCommit?.(input.changeId);
    return { outcome: 'replaced', changeId: input.changeId, dates: changes };
  }, 'file');
};

export const revertChange = (db: DuckDbConnections, changeId: string): Promise<{ reverted: boolean }> =>
  db.transaction(async (c) => {
    const changed = await changeDates(c, changeId);
    if (changed.length === 0) return { reverted: false };
    const dates = changed.map((d) => d.eventDate);
    checkRevertable(changeId, await ledgerRows(c, dates));
    const params = { change: changeId, dates: dateList(dates) };
    await run(c, `DELETE FROM transactions WHERE event_date IN (SELECT unnest($dates::DATE[]))`, params, LIST_TYPE);
    await run(
      c,
      `INSERT INTO transactions SELECT ${TRANSACTION_COLUMN_NAMES} FROM transactions_history
       WHERE archived_by_change = $change ORDER BY event_date, transaction_id`,
      params,
    );
    await run(c, `DELETE FROM partition_ledger WHERE event_date IN (SELECT unnest($dates::DATE[]))`, params, LIST_TYPE);
    await run(
      c,
      `INSERT INTO partition_ledger SELECT ${LEDGER_COLUMN_NAMES} FROM partition_ledger_history WHERE archived_by_change = $change`,
      params,
    );
    for (const sql of readmitLateStatements((table) => table, (column) => `list_contains($dates::DATE[], ${column})`)) {
      await run(c, sql, params, LIST_TYPE);
    }
    for (const table of ['transactions_history', 'partition_ledger_history']) {
      await run(c, `DELETE FROM ${table} WHERE archived_by_change = $change`, params);
    }
    for (const table of CHANGE_TABLES) await run(c, `DELETE FROM ${table} WHERE change_id = $change`, params);
    return { reverted: true };
  }, 'file');

export const restoreVersion = (db: DuckDbConnections, input: RestoreInput): Promise<DateChange> =>
  db.transaction(async (c) => {
    const [current] = await ledgerRows(c, [input.eventDate]);
    const currentVersion = checkRestorable(input, current);
    const [versionInfo] = await rows(
      c,
      `SELECT to_status FROM partition_changes WHERE event_date = CAST($date AS DATE) AND to_version = $v LIMIT 1`,
      { date: input.eventDate, v: input.version },
    );
    const restoredStatus = (versionInfo?.to_status as RowStatus | undefined) ?? 'provisional';
    const onDate = { date: input.eventDate, dates: dateList([input.eventDate]) };
    const before = (await totalsOf(c, IN_DATES, onDate, LIST_TYPE)).get(input.eventDate) ?? [];
    // Read before the archive below adds the current rows to the history.
    await run(
      c,
      `CREATE OR REPLACE TEMP TABLE restore_rows AS SELECT ${TRANSACTION_COLUMN_NAMES} FROM transactions_history
       WHERE event_date = CAST($date AS DATE) AND partition_version = $v
       QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1`,
      { date: input.eventDate, v: input.version },
    );
    await archiveDates(c, input.changeId, [input.eventDate]);
    const toVersion = currentVersion + 1;
    await run(
      c,
      `INSERT INTO transactions SELECT transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description,
         status, $version, 'restore', source_id, $change, now() FROM restore_rows ORDER BY transaction_id`,
      { version: toVersion, change: input.changeId },
    );
    const after = (await totalsOf(c, IN_DATES, onDate, LIST_TYPE)).get(input.eventDate) ?? [];
    const change = dateChangeOf(input.eventDate, current, toVersion, { before, after });
    await recordChange(
      c,
      input.changeId,
      'restore',
      change,
      { status: restoredStatus, sealed: current?.sealed ?? false, ledgerSequence: current?.sequence ?? null, ledgerFileId: current?.fileId ?? null },
      { fileId: null, sequence: null, workflowId: input.workflowId, runId: input.runId },
    );
    return change;
  }, 'file');
