/**
 * Partition changes: a file's replacement of whole dates, its revert, and the restore of an earlier version. Each is
 * decided from the ledger, then written as one transaction script whose guard fails if the ledger moved meanwhile.
 */
import {
  FINAL_STATUS,
  WarehouseError,
  type DateChange,
  type ReplaceInput,
  type ReplaceResult,
  type RestoreInput,
  type RowStatus,
} from '../port.js';
import { readmitLateStatements } from '../core/sql.js';
import { checkVersions } from '../core/rules.js';
import { LEDGER_COLUMN_NAMES, TRANSACTION_COLUMN_NAMES } from './schema.js';
import { GUARD_MARKER, VERSION_STRUCT, dateValue, p, type Params } from './sql.js';
import { crossDates } from './stream-sql.js';
import { stagingTable } from './staging.js';
import type { BigQueryConnection } from './connection.js';
import type { Ledger } from './ledger.js';
import type { Reports } from './reports.js';

export class PartitionChanges {
  constructor(
    private readonly c: BigQueryConnection,
    private readonly ledger: Ledger,
    private readonly reports: Reports,
  ) {}

  async replacePartitions(input: ReplaceInput): Promise<ReplaceResult> {
    const staging = this.c.staged(stagingTable(input.stagingId));
    const status = FINAL_STATUS[input.kind];
    return this.c.retrying(`replace ${input.changeId}`, async () => {
      const applied = await this.ledger.changeDates(input.changeId);
      if (applied.length > 0) return { outcome: 'already_applied', changeId: input.changeId, dates: applied };

      const ledger = await this.ledger.ledgerRows(input.covers);
      const refused = checkVersions(input, ledger);
      if (refused) return refused;

      const fingerprint = await this.ledger.ledgerFingerprint(input.covers);
      const versions = input.covers.map((eventDate) => {
        const prior = ledger.find((l) => l.eventDate === eventDate);
        const fromVersion = prior?.version ?? 0;
        return { event_date: dateValue(eventDate), from_version: fromVersion, to_version: fromVersion + 1, from_status: prior?.status ?? 'provisional' };
      });
      const params: Params = {
        change: p.str(input.changeId),
        dates: p.dates(input.covers),
        versions: p.structs(versions, VERSION_STRUCT),
        status: p.str(status),
        file: p.str(input.fileId),
        sequence: p.int(input.sequence),
        wf: p.str(input.workflowId),
        run: p.str(input.runId),
        fingerprint: p.str(fingerprint),
        kind: p.str('replace'),
        published: p.bool(false),
      };
      await this.c.transaction([
        this.ledger.guardStatement(params),
        ...this.ledger.archiveStatements(params),
        {
          sql: `INSERT INTO ${this.c.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                SELECT s.transaction_id, s.account_id, s.event_ts, s.event_date, s.amount, s.currency, s.merchant_id, s.description,
                       @status, ver.to_version, 'file', @file, @change, CURRENT_TIMESTAMP()
                FROM ${staging} s JOIN UNNEST(@versions) AS ver ON ver.event_date = s.event_date`,
          params,
        },
        this.ledger.changeStatement(params),
        ...this.ledger.ledgerStatements(params, {
          status: p.str(status),
          sequence: p.int(input.sequence),
          file: p.str(input.fileId),
          sealed: p.bool(true),
        }),
      ], async () => this.c.hooks.beforeReplaceCommit?.(input.changeId));
      return { outcome: 'replaced', changeId: input.changeId, dates: await this.ledger.changeDates(input.changeId) };
    });
  }


  async revertChange(changeId: string): Promise<{ reverted: boolean }> {
    return this.c.retrying(`revert ${changeId}`, async () => {
      const dates = (await this.ledger.changeDates(changeId)).map((d) => d.eventDate);
      if (dates.length === 0) return { reverted: false };
      const ledger = await this.ledger.ledgerRows(dates);
      const moved = ledger.filter((l) => l.changeId !== changeId);
      if (moved.length > 0) {
        throw new WarehouseError(
          `change ${changeId} cannot be reverted exactly: ${moved.map((m) => m.eventDate).join(', ')} changed again since`,
          'INVARIANT',
        );
      }
      const params: Params = { change: p.str(changeId), dates: p.dates(dates), fingerprint: p.str(await this.ledger.ledgerFingerprint(dates)) };
      await this.c.transaction([
        {
          sql: `SELECT IF((${this.ledger.fingerprintSql()}) = @fingerprint, 0, ERROR('${GUARD_MARKER}: partition ledger moved'))`,
          params,
        },
        { sql: `DELETE FROM ${this.c.t('transactions')} WHERE event_date IN UNNEST(@dates)`, params },
        {
          sql: `INSERT INTO ${this.c.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                SELECT ${TRANSACTION_COLUMN_NAMES} FROM ${this.c.t('transactions_history')}
                WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)`,
          params,
        },
        { sql: `DELETE FROM ${this.c.t('partition_ledger')} WHERE event_date IN UNNEST(@dates)`, params },
        {
          sql: `INSERT INTO ${this.c.t('partition_ledger')} (${LEDGER_COLUMN_NAMES})
                SELECT ${LEDGER_COLUMN_NAMES} FROM ${this.c.t('partition_ledger_history')} WHERE archived_by_change = @change`,
          params,
        },
        ...readmitLateStatements(
          (table) => this.c.t(table),
          (column) => `${column} IN UNNEST(@dates)`,
          // Stored ids are looked up within CROSS_DATE_DAYS of the reverted dates, as the stream's classification does.
          (column) => `${column} IN UNNEST(@near)`,
        ).map((sql) => ({ sql, params: { ...params, near: p.dates(crossDates(dates)) } })),
        { sql: `DELETE FROM ${this.c.t('transactions_history')} WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)`, params },
        { sql: `DELETE FROM ${this.c.t('partition_ledger_history')} WHERE archived_by_change = @change`, params },
        ...['partition_changes', 'reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries'].map((table) => ({
          sql: `DELETE FROM ${this.c.t(table)} WHERE change_id = @change`,
          params,
        })),
      ]);
      return { reverted: true };
    });
  }


  async unpublishChange(changeId: string): Promise<void> {
    const params: Params = { change: p.str(changeId) };
    await this.c.retrying(`unpublish ${changeId}`, () =>
      this.c.transaction([
        ...this.reports.clearReportStatements(params),
        { sql: `UPDATE ${this.c.t('partition_changes')} SET published = FALSE WHERE change_id = @change`, params },
      ]),
    );
  }

  async restoreVersion(input: RestoreInput): Promise<DateChange> {
    return this.c.retrying(`restore ${input.changeId}`, async () => {
      const [current] = await this.ledger.ledgerRows([input.eventDate]);
      const currentVersion = current?.version ?? 0;
      if (current?.pendingChange) {
        throw new WarehouseError(`${input.eventDate} is being changed by ${current.changeId}; retry later`, 'CONFLICT');
      }
      if (input.version >= currentVersion) {
        throw new WarehouseError(`${input.eventDate} is at version ${currentVersion}; only an earlier version can be restored`, 'INVARIANT');
      }
      const [versionInfo] = await this.c.query(
        `SELECT to_status FROM ${this.c.t('partition_changes')} WHERE event_date = @date AND to_version = @v LIMIT 1`,
        { date: p.date(input.eventDate), v: p.int(input.version) },
      );
      const restoredStatus = (versionInfo?.to_status as RowStatus | undefined) ?? 'provisional';
      const params: Params = {
        change: p.str(input.changeId),
        date: p.date(input.eventDate),
        dates: p.dates([input.eventDate]),
        v: p.int(input.version),
        toVersion: p.int(currentVersion + 1),
        versions: p.structs(
          [{ event_date: dateValue(input.eventDate), from_version: currentVersion, to_version: currentVersion + 1, from_status: current?.status ?? 'provisional' }],
          VERSION_STRUCT,
        ),
        status: p.str(restoredStatus),
        file: p.str(null),
        sequence: p.int(null),
        wf: p.str(input.workflowId),
        run: p.str(input.runId),
        fingerprint: p.str(await this.ledger.ledgerFingerprint([input.eventDate])),
        kind: p.str('restore'),
        published: p.bool(false),
      };
      await this.c.transaction([
        this.ledger.guardStatement(params),
        ...this.ledger.archiveStatements(params),
        {
          // The archived version is read after this change archived the current one: that copy has another version.
          sql: `INSERT INTO ${this.c.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                SELECT transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description, status,
                       @toVersion, 'restore', source_id, @change, CURRENT_TIMESTAMP()
                FROM ${this.c.t('transactions_history')}
                WHERE event_date = @date AND partition_version = @v AND archived_by_change <> @change
                QUALIFY ROW_NUMBER() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1`,
          params,
        },
        this.ledger.changeStatement(params),
        ...this.ledger.ledgerStatements(params, {
          status: p.str(restoredStatus),
          sequence: p.int(current?.sequence ?? null),
          file: p.str(current?.fileId ?? null),
          sealed: p.bool(current?.sealed ?? false),
        }),
      ]);
      const [change] = await this.ledger.changeDates(input.changeId);
      if (!change) throw new WarehouseError(`restore ${input.changeId} was not recorded`, 'INVARIANT');
      return change;
    });
  }
}
