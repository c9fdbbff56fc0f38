/** Reconciliation reports: written when a change is published, cleared when it is unpublished or reverted, read back. */
import { WarehouseError, type ReconciliationReport } from '../port.js';
import { differingIds, DIFF_KIND_COUNTS, SUMMARY_COLUMNS } from '../core/sql.js';
import { assembleReport } from '../core/report.js';
import { p, wideSum, type Params, type Statement } from './sql.js';
import type { BigQueryConnection } from './connection.js';
import type { Ledger } from './ledger.js';

export class Reports {
  constructor(
    private readonly c: BigQueryConnection,
    private readonly ledger: Ledger,
  ) {}

  async publishChange(changeId: string): Promise<ReconciliationReport[]> {
    const dates = await this.ledger.changeDates(changeId);
    if (dates.length === 0) throw new WarehouseError(`change ${changeId} does not exist`, 'NOT_FOUND');
    const params: Params = { change: p.str(changeId), dates: p.dates(dates.map((d) => d.eventDate)), cap: p.int(this.c.maxReportDiffs) };
    const diffs = `WITH old_side AS (SELECT event_date, transaction_id, amount FROM ${this.c.t('transactions_history')}
                                     WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)),
             new_side AS (SELECT event_date, transaction_id, amount FROM ${this.c.t('transactions')}
                          WHERE change_id = @change AND event_date IN UNNEST(@dates)),
             diffs AS (${differingIds('old_side', 'new_side')})`;
    await this.c.retrying(`publish ${changeId}`, () =>
      this.c.transaction([
        ...this.clearReportStatements(params),
        {
          sql: `INSERT INTO ${this.c.t('reconciliation_reports')} (change_id, event_date, compared_with, currency, provisional_rows,
                  provisional_total, final_rows, final_total)
                WITH old_side AS (SELECT event_date, currency, COUNT(*) AS n, ${wideSum('amount')} AS total FROM ${this.c.t('transactions_history')}
                                  WHERE archived_by_change = @change AND event_date IN UNNEST(@dates) GROUP BY event_date, currency),
                     new_side AS (SELECT event_date, currency, COUNT(*) AS n, ${wideSum('amount')} AS total FROM ${this.c.t('transactions')}
                                  WHERE change_id = @change AND event_date IN UNNEST(@dates) GROUP BY event_date, currency),
                     joined AS (SELECT COALESCE(o.event_date, n.event_date) AS event_date, COALESCE(o.currency, n.currency) AS currency,
                                       COALESCE(o.n, 0) AS old_n, COALESCE(o.total, 0) AS old_total,
                                       COALESCE(n.n, 0) AS new_n, COALESCE(n.total, 0) AS new_total
                                FROM old_side o FULL OUTER JOIN new_side n ON n.event_date = o.event_date AND n.currency = o.currency)
                SELECT @change, d.event_date, d.from_status, j.currency, j.old_n, j.old_total, j.new_n, j.new_total
                FROM ${this.c.t('partition_changes')} d JOIN joined j ON j.event_date = d.event_date
                WHERE d.change_id = @change`,
          params,
        },
        {
          sql: `INSERT INTO ${this.c.t('reconciliation_diffs')} (change_id, event_date, transaction_id, kind, before_amount, after_amount)
                ${diffs}
                SELECT @change, event_date, transaction_id, kind, before_amount, after_amount FROM diffs
                WHERE TRUE
                QUALIFY ROW_NUMBER() OVER (PARTITION BY event_date ORDER BY kind, transaction_id) <= @cap`,
          params,
        },
        {
          sql: `INSERT INTO ${this.c.t('reconciliation_summaries')} (${SUMMARY_COLUMNS})
                ${diffs},
                diff_counts AS (SELECT event_date, ${DIFF_KIND_COUNTS} FROM diffs GROUP BY event_date),
                late_counts AS (SELECT event_date, COUNT(*) AS n FROM ${this.c.t('late_arrivals')}
                                WHERE event_date IN UNNEST(@dates) GROUP BY event_date)
                SELECT @change, d.event_date, COALESCE(dc.n, 0), COALESCE(lc.n, 0),
                       COALESCE(dc.only_in_stream, 0), COALESCE(dc.only_in_file, 0), COALESCE(dc.amount_changed, 0)
                FROM ${this.c.t('partition_changes')} d
                LEFT JOIN diff_counts dc ON dc.event_date = d.event_date
                LEFT JOIN late_counts lc ON lc.event_date = d.event_date
                WHERE d.change_id = @change`,
          params,
        },
        { sql: `UPDATE ${this.c.t('partition_changes')} SET published = TRUE WHERE change_id = @change`, params },
      ]),
    );
    const reports: ReconciliationReport[] = [];
    for (const d of dates) {
      const report = await this.reportFor(d.eventDate, changeId);
      if (report) reports.push(report);
    }
    return reports;
  }

  clearReportStatements(params: Params): Statement[] {
    return ['reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries'].map((table) => ({
      sql: `DELETE FROM ${this.c.t(table)} WHERE change_id = @change`,
      params,
    }));
  }

  async getReport(eventDate: string): Promise<ReconciliationReport | null> {
    const [latest] = await this.c.query(
      `SELECT s.change_id FROM ${this.c.t('reconciliation_summaries')} s
       JOIN ${this.c.t('partition_changes')} c ON c.change_id = s.change_id AND c.event_date = s.event_date
       WHERE s.event_date = @date ORDER BY c.to_version DESC LIMIT 1`,
      { date: p.date(eventDate) },
    );
    return latest ? this.reportFor(eventDate, String(latest.change_id)) : null;
  }

  async reportFor(eventDate: string, changeId: string): Promise<ReconciliationReport | null> {
    const params: Params = { date: p.date(eventDate), change: p.str(changeId) };
    const [summary] = await this.c.query(
      `SELECT * FROM ${this.c.t('reconciliation_summaries')} WHERE change_id = @change AND event_date = @date`,
      params,
    );
    if (!summary) return null;
    const lines = await this.c.query(
      `SELECT currency, provisional_rows, CAST(provisional_total AS STRING) AS provisional_total, final_rows,
              CAST(final_total AS STRING) AS final_total
       FROM ${this.c.t('reconciliation_reports')} WHERE change_id = @change AND event_date = @date ORDER BY currency`,
      params,
    );
    const diffs = await this.c.query(
      `SELECT transaction_id, kind, CAST(before_amount AS STRING) AS before_amount, CAST(after_amount AS STRING) AS after_amount
       FROM ${this.c.t('reconciliation_diffs')} WHERE change_id = @change AND event_date = @date ORDER BY kind, transaction_id`,
      params,
    );
    const [change] = await this.c.query(
      `SELECT from_status FROM ${this.c.t('partition_changes')} WHERE change_id = @change AND event_date = @date`,
      params,
    );
    return assembleReport(eventDate, changeId, { summary, lines, diffs, fromStatus: change?.from_status });
  }
}
