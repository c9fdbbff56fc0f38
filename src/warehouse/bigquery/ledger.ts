/**
 * The partition ledger as the writers read and change it: a change's dates, the ledger's fingerprint (read before a
 * transaction and checked again inside it), and the statements every partition change shares (guard, archive, change
 * row, new ledger rows).
 */
import type { DateChange, PartitionState } from '../port.js';
import { rowMappers } from '../core/mappers.js';
import { LEDGER_COLUMN_NAMES, TRANSACTION_COLUMN_NAMES } from './schema.js';
import { GUARD_MARKER, ISO_TS, p, totalsJson, type Params, type Statement } from './sql.js';
import type { BigQueryConnection } from './connection.js';

export const { toDateChange, toPartitionState, toTransaction } = rowMappers('d');

export class Ledger {
  constructor(private readonly c: BigQueryConnection) {}

  async changeDates(changeId: string): Promise<DateChange[]> {
    const rows = await this.c.query(
      `SELECT *, CAST(event_date AS STRING) AS d FROM ${this.c.t('partition_changes')} WHERE change_id = @change ORDER BY event_date`,
      { change: p.str(changeId) },
    );
    return rows.map(toDateChange);
  }

  /** The ledger state of some dates as one string, computed by the same SQL before and inside a transaction. */
  fingerprintSql(): string {
    return `SELECT COALESCE(STRING_AGG(CONCAT(CAST(l.event_date AS STRING), ':', CAST(l.version AS STRING), ':',
                     COALESCE(l.change_id, '-'), ':', IF(COALESCE(pc.published, TRUE), 'p', 'u')), ',' ORDER BY l.event_date), '')
            FROM ${this.c.t('partition_ledger')} l
            LEFT JOIN (SELECT change_id, LOGICAL_AND(published) AS published FROM ${this.c.t('partition_changes')} GROUP BY change_id) pc
              ON pc.change_id = l.change_id
            WHERE l.event_date IN UNNEST(@dates)`;
  }

  async ledgerFingerprint(dates: string[]): Promise<string> {
    const [r] = await this.c.query(`SELECT (${this.fingerprintSql()}) AS fp`, { dates: p.dates(dates) });
    return String(r?.fp ?? '');
  }

  async ledgerRows(dates: string[]): Promise<Array<PartitionState & { sealed: boolean; pendingChange: boolean }>> {
    const rows = await this.c.query(
      `SELECT l.*, CAST(l.event_date AS STRING) AS d, ${ISO_TS('l.updated_at')} AS updated,
              COALESCE(NOT pc.published, FALSE) AS pending
       FROM ${this.c.t('partition_ledger')} l
       LEFT JOIN (SELECT change_id, LOGICAL_AND(published) AS published FROM ${this.c.t('partition_changes')} GROUP BY change_id) pc
         ON pc.change_id = l.change_id
       WHERE l.event_date IN UNNEST(@dates) ORDER BY l.event_date`,
      { dates: p.dates(dates) },
    );
    return rows.map((r) => ({ ...toPartitionState(r), sealed: Boolean(r.sealed), pendingChange: Boolean(r.pending) }));
  }

  /** Fails the transaction when the ledger of `@dates` moved since it was read, or `@change` exists already. */
  guardStatement(params: Params): Statement {
    return {
      sql: `SELECT IF((${this.fingerprintSql()}) = @fingerprint
                      AND NOT EXISTS (SELECT 1 FROM ${this.c.t('partition_changes')} WHERE change_id = @change),
                      0, ERROR('${GUARD_MARKER}: partition ledger moved'))`,
      params,
    };
  }

  /** Archive the current rows and ledger entries of `@dates` under `@change`, then clear the dates. */
  archiveStatements(params: Params): Statement[] {
    return [
      {
        sql: `INSERT INTO ${this.c.t('transactions_history')} (${TRANSACTION_COLUMN_NAMES}, archived_by_change, archived_at)
              SELECT ${TRANSACTION_COLUMN_NAMES}, @change, CURRENT_TIMESTAMP() FROM ${this.c.t('transactions')} WHERE event_date IN UNNEST(@dates)`,
        params,
      },
      {
        sql: `INSERT INTO ${this.c.t('partition_ledger_history')} (${LEDGER_COLUMN_NAMES}, archived_by_change)
              SELECT ${LEDGER_COLUMN_NAMES}, @change FROM ${this.c.t('partition_ledger')} WHERE event_date IN UNNEST(@dates)`,
        params,
      },
      { sql: `DELETE FROM ${this.c.t('transactions')} WHERE event_date IN UNNEST(@dates)`, params },
    ];
  }

  /** One partition_changes row per date of `@versions`: totals before (archived by the change) and after. */
  changeStatement(params: Params): Statement {
    return {
      sql: `INSERT INTO ${this.c.t('partition_changes')} (change_id, event_date, kind, file_id, sequence, workflow_id, run_id, from_version,
              to_version, from_status, to_status, rows_before, rows_after, totals_before, totals_after, published, changed_at)
            WITH ${totalsJson('old_side', `SELECT event_date, currency, amount FROM ${this.c.t('transactions_history')}
                                           WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)`)},
                 ${totalsJson('new_side', `SELECT event_date, currency, amount FROM ${this.c.t('transactions')}
                                           WHERE change_id = @change AND event_date IN UNNEST(@dates)`)}
            SELECT @change, ver.event_date, @kind, @file, @sequence, @wf, @run, ver.from_version, ver.to_version, ver.from_status, @status,
                   COALESCE(o.n, 0), COALESCE(n.n, 0), COALESCE(o.totals, '[]'), COALESCE(n.totals, '[]'), @published, CURRENT_TIMESTAMP()
            FROM UNNEST(@versions) AS ver
            LEFT JOIN old_side o ON o.event_date = ver.event_date
            LEFT JOIN new_side n ON n.event_date = ver.event_date`,
      params,
    };
  }

  /** Replaces the ledger rows of `@dates` with the change's new versions. */
  ledgerStatements(params: Params, entry: { status: Params[string]; sequence: Params[string]; file: Params[string]; sealed: Params[string] }): Statement[] {
    const ledgerParams: Params = { ...params, lstatus: entry.status, lsequence: entry.sequence, lfile: entry.file, lsealed: entry.sealed };
    return [
      { sql: `DELETE FROM ${this.c.t('partition_ledger')} WHERE event_date IN UNNEST(@dates)`, params },
      {
        sql: `INSERT INTO ${this.c.t('partition_ledger')} (${LEDGER_COLUMN_NAMES})
              SELECT event_date, @lstatus, to_version, @lsequence, @lfile, @change, rows_after, totals_after, @lsealed, @wf, @run,
                     CURRENT_TIMESTAMP()
              FROM ${this.c.t('partition_changes')} WHERE change_id = @change`,
        params: ledgerParams,
      },
    ];
  }
}
