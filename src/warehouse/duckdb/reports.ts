/**
 * Reconciliation reports: written when a change is published (totals per currency before and after, the differing
 * ids up to a cap, counts by kind), removed when it is unpublished, and read back per date.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { WarehouseError, type ReconciliationReport } from '../port.js';
import { assembleReport } from '../core/report.js';
import { DIFF_KIND_COUNTS, REPORT_TABLES, SUMMARY_COLUMNS, differingIds } from '../core/sql.js';
import { rows, run, type DuckDbConnections } from './connection.js';
import { changeDates } from './ledger.js';
import { exactTotal } from './schema.js';

export const publishChange = async (db: DuckDbConnections, changeId: string, maxReportDiffs: number): Promise<ReconciliationReport[]> => {
  await db.transaction(async (c) => {
    if ((await changeDates(c, changeId)).length === 0) throw new WarehouseError(`change ${changeId} does not exist`, 'NOT_FOUND');
    const p = { change: changeId };
    await clearReports(c, changeId);
    await run(
      c,
      `INSERT INTO reconciliation_reports
       WITH before AS (SELECT event_date, currency, count(*) AS n, ${exactTotal('amount')} AS total FROM transactions_history
                        WHERE archived_by_change = $change GROUP BY ALL),
            after AS (SELECT event_date, currency, count(*) AS n, ${exactTotal('amount')} AS total FROM transactions
                        WHERE change_id = $change GROUP BY ALL),
            dates AS (SELECT event_date, from_status FROM partition_changes WHERE change_id = $change)
       SELECT $change, d.event_date, d.from_status, coalesce(b.currency, a.currency),
              coalesce(b.n, 0), coalesce(b.total, '0'), coalesce(a.n, 0), coalesce(a.total, '0')
       FROM dates d JOIN (before b FULL OUTER JOIN after a ON a.event_date = b.event_date AND a.currency = b.currency)
         ON d.event_date = coalesce(b.event_date, a.event_date)`,
      p,
    );
    // Per date: how many ids differ, and the first `cap` of them (by kind, id) kept by a bounded aggregate, so a
    // file whose every row differs costs no sort and no table of all its ids.
    await run(
      c,
      `CREATE OR REPLACE TEMP TABLE report_diffs AS
       WITH before AS (SELECT event_date, transaction_id, amount FROM transactions_history WHERE archived_by_change = $change),
            after AS (SELECT event_date, transaction_id, amount FROM transactions WHERE change_id = $change),
            diffs AS (${differingIds('before', 'after')})
       SELECT event_date, ${DIFF_KIND_COUNTS},
              min_by(struct_pack(kind, transaction_id, before_amount, after_amount), struct_pack(kind, transaction_id), $cap) AS listed
       FROM diffs GROUP BY event_date`,
      { change: changeId, cap: maxReportDiffs },
    );
    await run(
      c,
      `INSERT INTO reconciliation_diffs SELECT $change, event_date, x.transaction_id, x.kind, x.before_amount, x.after_amount
       FROM report_diffs, unnest(listed) AS t(x)`,
      p,
    );
    await run(
      c,
      `INSERT INTO reconciliation_summaries (${SUMMARY_COLUMNS})
       SELECT $change, d.event_date, coalesce(r.n, 0),
              (SELECT count(*) FROM late_arrivals la WHERE la.event_date = d.event_date),
              coalesce(r.only_in_stream, 0), coalesce(r.only_in_file, 0), coalesce(r.amount_changed, 0)
       FROM partition_changes d LEFT JOIN report_diffs r ON r.event_date = d.event_date WHERE d.change_id = $change`,
      p,
    );
    await run(c, `UPDATE partition_changes SET published = true WHERE change_id = $change`, p);
  }, 'file');
  const reports: ReconciliationReport[] = [];
  for (const d of await changeDates(db.reader, changeId)) {
    const report = await reportFor(db.reader, d.eventDate, changeId);
    if (report) reports.push(report);
  }
  return reports;
};

export const unpublishChange = (db: DuckDbConnections, changeId: string): Promise<void> =>
  db.transaction(async (c) => {
    await clearReports(c, changeId);
    await run(c, `UPDATE partition_changes SET published = false WHERE change_id = $change`, { change: changeId });
  });

const clearReports = async (c: DuckDBConnection, changeId: string): Promise<void> => {
  for (const table of REPORT_TABLES) await run(c, `DELETE FROM ${table} WHERE change_id = $change`, { change: changeId });
};

/** The report of the date's latest published change, if any. */
export const getReport = async (c: DuckDBConnection, eventDate: string): Promise<ReconciliationReport | null> => {
  const [latest] = await rows(
    c,
    `SELECT s.change_id FROM reconciliation_summaries s JOIN partition_changes c USING (change_id, event_date)
     WHERE s.event_date = CAST($date AS DATE) ORDER BY c.to_version DESC LIMIT 1`,
    { date: eventDate },
  );
  return latest ? reportFor(c, eventDate, String(latest.change_id)) : null;
};

const reportFor = async (c: DuckDBConnection, eventDate: string, changeId: string): Promise<ReconciliationReport | null> => {
  const p = { date: eventDate, change: changeId };
  const where = `WHERE change_id = $change AND event_date = CAST($date AS DATE)`;
  const [summary] = await rows(c, `SELECT * FROM reconciliation_summaries ${where}`, p);
  if (!summary) return null;
  const lines = await rows(c, `SELECT * FROM reconciliation_reports ${where} ORDER BY currency`, p);
  const diffs = await rows(c, `SELECT * FROM reconciliation_diffs ${where} ORDER BY kind, transaction_id`, p);
  const [change] = await rows(c, `SELECT from_status FROM partition_changes ${where}`, p);
  return assembleReport(eventDate, changeId, { summary, lines, diffs, fromStatus: change?.from_status });
};
