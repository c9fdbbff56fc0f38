/**
 * The embedded warehouse (local default): one DuckDB database file, opened by one process (the worker).
 * Writes are serialised through one connection and run as transactions, so a partition replacement and a
 * stream micro-batch never interleave; reads use a second connection and see committed snapshots only.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, INTEGER, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBValue, DuckDBType } from '@duckdb/node-api';
import { canonicalAmount } from '../../domain/decimal.js';
import { FILE_COLUMNS, type InputIssue, type Transaction } from '../../domain/contract.js';
import {
  FINAL_STATUS,
  WarehouseError,
  type ConsumerView,
  type ConsumerViewRow,
  type ConsumerViews,
  type CurrencyTotal,
  type DailyTotal,
  type DateChange,
  type FileOutcome,
  type FileRecord,
  type FileRegistryEntry,
  type PartitionChange,
  type PartitionState,
  type ReconciliationReport,
  type ReplaceInput,
  type ReplaceResult,
  type RestoreInput,
  type RowStatus,
  type StreamBatch,
  type StreamBatchResult,
  type Warehouse,
  type WarehouseHooks,
} from '../port.js';
import { consumerView, differingIds, readmitLateStatements, sameContent, DIFF_KIND_COUNTS, SUMMARY_COLUMNS } from '../core/sql.js';
import { toConsumerViewRow, num, rowMappers, toFileEntry, type Row } from '../core/mappers.js';
import { checkVersions } from '../core/rules.js';
import { assembleReport, changeFields, withStreamOnlyDates } from '../core/report.js';
import { DATA_TABLES, LEDGER_COLUMN_NAMES, MIGRATIONS, TRANSACTION_COLUMN_NAMES } from './schema.js';

export interface DuckDbWarehouseOptions {
  /** Database file path, or ':memory:' for tests. */
  path: string;
  /** Diffs stored per date in a reconciliation report; the rest are counted. */
  maxReportDiffs?: number;
  /**
   * DuckDB memory_limit; beyond it, sorts, joins and large inserts spill to `tempDirectory`. Defaults to 256MB
   * for a database file: the stream's micro-batches look every id up in `transactions`, and keep up at 25,000
   * events/s only while that table's blocks stay cached (docs/stream.md). An in-memory database (tests) keeps
   * DuckDB's default, since its tables live in it.
   */
  memoryLimit?: string;
  /**
   * memory_limit while a file's rows are staged, replaced, reported on, reverted or restored (default 96MB with
   * `memoryLimit`, none without): the writer is the file's alone then, so the blocks the stream keeps cached are
   * dropped (they are on disk) and the file's millions of rows spill rather than grow the process
   * (docs/files.md: what the file path costs in memory).
   */
  fileMemoryLimit?: string;
  /** Where DuckDB spills; defaults to `<database file>.tmp` beside the file. */
  tempDirectory?: string;
  threads?: number;
  hooks?: WarehouseHooks;
}

type Params = Record<string, DuckDBValue>;

const DEFAULT_MEMORY_LIMIT = '256MB';
const DEFAULT_FILE_MEMORY_LIMIT = '96MB';
const STAGING_ID = /^[a-z0-9_]{1,100}$/;
const ISO_TS = `'%Y-%m-%dT%H:%M:%S.%fZ'`;
const SAME_CONTENT = sameContent;

/**
 * Text → DECIMAL(38, 9). DuckDB parses text into a 128-bit decimal about 100× slower than into a 64-bit one,
 * which made this cast most of a stream batch's cost; amounts with at most 9 integer digits (nearly all) take
 * the 64-bit path and widen exactly. Text is already contract-checked (`AMOUNT_PATTERN`).
 */
const AMOUNT_FROM_TEXT = (column: string): string =>
  `CASE WHEN length(ltrim(split_part(${column}, '.', 1), '-')) <= 9 THEN CAST(CAST(${column} AS DECIMAL(18, 9)) AS DECIMAL(38, 9))
   ELSE CAST(${column} AS DECIMAL(38, 9)) END`;

/** DuckDB refuses parameters a statement does not use; pass only those it names. */
const only = <T>(sql: string, values?: Record<string, T>): Record<string, T> | undefined =>
  values && Object.fromEntries(Object.entries(values).filter(([k]) => new RegExp(`\\$${k}\\b`).test(sql)));

const run = async (c: DuckDBConnection, sql: string, params?: Params, types?: Record<string, DuckDBType>): Promise<void> => {
  await c.run(sql, only(sql, params), types && only(sql, types));
};

const dateList = (dates: string[]): DuckDBValue => listValue(dates);
const LIST_TYPE: Record<string, DuckDBType> = { dates: LIST(VARCHAR) };


export class DuckDbWarehouse implements Warehouse, ConsumerViews {
  readonly engine = 'duckdb' as const;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly maxReportDiffs: number;
  private readonly hooks: WarehouseHooks;
  /** memory_limit outside file work, and during it; unset for an in-memory database. */
  private readonly budgets?: { usual: string; file: string };

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection,
    options: DuckDbWarehouseOptions,
  ) {
    this.maxReportDiffs = options.maxReportDiffs ?? 1000;
    this.hooks = options.hooks ?? {};
    if (options.memoryLimit !== undefined) {
      this.budgets = { usual: options.memoryLimit, file: options.fileMemoryLimit ?? DEFAULT_FILE_MEMORY_LIMIT };
    }
  }

  static async open(options: DuckDbWarehouseOptions): Promise<DuckDbWarehouse> {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    const settings: Record<string, string> = {};
    // Bounded by default (DuckDB's own default is 80% of RAM): large sorts and inserts spill instead.
    const memoryLimit = options.memoryLimit ?? (options.path === ':memory:' ? undefined : DEFAULT_MEMORY_LIMIT);
    if (memoryLimit !== undefined) settings.memory_limit = memoryLimit;
    if (options.threads !== undefined) settings.threads = String(options.threads);
    const tempDirectory = options.tempDirectory ?? (options.path === ':memory:' ? undefined : `${options.path}.tmp`);
    if (tempDirectory !== undefined) settings.temp_directory = tempDirectory;
    const instance = await DuckDBInstance.create(options.path, settings);
    const writer = await instance.connect();
    const reader = await instance.connect();
    // Timestamps are instants; render them in UTC whatever the host's zone.
    for (const c of [writer, reader]) await run(c, `SET TimeZone = 'UTC'`);
    const warehouse = new DuckDbWarehouse(instance, writer, reader, { ...options, ...(memoryLimit !== undefined ? { memoryLimit } : {}) });
    await warehouse.migrate();
    return warehouse;
  }

  /**
   * Runs write work one at a time, in arrival order. With budgets (a database file), file work runs within the
   * file's memory budget and without insertion order kept, so its large inserts run in parallel; both come back
   * afterwards. Every read the warehouse serves has its own ORDER BY, so no reader depends on insertion order.
   */
  private exclusive<T>(work: () => Promise<T>, budget: 'usual' | 'file' = 'usual'): Promise<T> {
    const budgets = this.budgets;
    const budgeted = budget === 'file' && budgets ? () => this.withinFileBudget(budgets, work) : work;
    const next = this.queue.then(budgeted, budgeted);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async withinFileBudget<T>(budgets: { usual: string; file: string }, work: () => Promise<T>): Promise<T> {
    await run(this.writer, `SET memory_limit = ${sqlLiteral(budgets.file)}`);
    await run(this.writer, 'SET preserve_insertion_order = false');
    try {
      return await work();
    } finally {
      await run(this.writer, 'RESET preserve_insertion_order');
      await run(this.writer, `SET memory_limit = ${sqlLiteral(budgets.usual)}`);
    }
  }

  private async transaction<T>(work: (c: DuckDBConnection) => Promise<T>, budget: 'usual' | 'file' = 'usual'): Promise<T> {
    return this.exclusive(async () => {
      await run(this.writer, 'BEGIN TRANSACTION');
      try {
        const result = await work(this.writer);
        await run(this.writer, 'COMMIT');
        return result;
      } catch (error) {
        await run(this.writer, 'ROLLBACK');
        throw error;
      }
    }, budget);
  }

  private async rows(c: DuckDBConnection, sql: string, params?: Params, types?: Record<string, DuckDBType>): Promise<Row[]> {
    const reader = await c.runAndReadAll(sql, only(sql, params), types && only(sql, types));
    return reader.getRowObjectsJson() as Row[];
  }

  async migrate(): Promise<void> {
    await this.exclusive(async () => {
      for (const statement of MIGRATIONS) await run(this.writer, statement);
      await run(this.writer, `CREATE TEMP TABLE IF NOT EXISTS stream_incoming (
        ord INTEGER, stream_offset BIGINT, transaction_id VARCHAR, account_id VARCHAR, event_ts VARCHAR,
        event_date VARCHAR, amount VARCHAR, currency VARCHAR, merchant_id VARCHAR, description VARCHAR)`);
    });
  }

  async writeStreamBatch(batch: StreamBatch): Promise<StreamBatchResult> {
    return this.exclusive(async () => {
      const c = this.writer;
      const stored = await this.rows(c, `SELECT * FROM stream_batches WHERE batch_id = $id`, { id: batch.batchId });
      if (stored[0]) return { ...batchResult(stored[0]), alreadyApplied: true };

      await run(c, 'DELETE FROM stream_incoming');
      const appender = await c.createAppender('stream_incoming', 'main', 'temp');
      batch.events.forEach((e, i) => {
        appender.appendInteger(i);
        appender.appendBigInt(BigInt(e.offset));
        appender.appendVarchar(e.transactionId);
        appender.appendVarchar(e.accountId);
        appender.appendVarchar(e.eventTs);
        appender.appendVarchar(e.eventDate);
        appender.appendVarchar(e.amount);
        appender.appendVarchar(e.currency);
        if (e.merchantId === null) appender.appendNull();
        else appender.appendVarchar(e.merchantId);
        if (e.description === null) appender.appendNull();
        else appender.appendVarchar(e.description);
        appender.endRow();
      });
      appender.flushSync();
      appender.closeSync();

      await run(c, 'BEGIN TRANSACTION');
      try {
        const counts = await this.classifyAndWrite(c, batch);
        const result: StreamBatchResult = { ...counts, rejected: batch.rejects.length, alreadyApplied: false, toCursor: batch.toCursor };
        for (const r of batch.rejects) {
          await run(c, 
            `INSERT INTO stream_rejects VALUES ($source, $batch, $offset, $reason, $raw, now())`,
            { source: batch.sourceId, batch: batch.batchId, offset: r.offset, reason: r.reason, raw: r.raw },
          );
        }
        await run(c, 
          `INSERT INTO stream_batches VALUES ($id, $source, $from, $to, $inserted, $duplicates, $conflicts, $late, $rejected, $unknown, now())`,
          {
            id: batch.batchId,
            source: batch.sourceId,
            from: batch.fromCursor,
            to: batch.toCursor,
            inserted: result.inserted,
            duplicates: result.duplicates,
            conflicts: result.conflicts,
            late: result.late,
            rejected: result.rejected,
            unknown: batch.unknownFields,
          },
        );
        await run(c, 'COMMIT');
        return result;
      } catch (error) {
        await run(c, 'ROLLBACK');
        throw error;
      }
    });
  }

  /** Sorts each incoming event into insert / duplicate / conflict / late and writes it where it belongs. */
  private async classifyAndWrite(
    c: DuckDBConnection,
    batch: StreamBatch,
  ): Promise<Pick<StreamBatchResult, 'inserted' | 'duplicates' | 'conflicts' | 'late'>> {
    await run(c, `CREATE OR REPLACE TEMP TABLE stream_classified AS
      WITH inc AS (
        SELECT ord, stream_offset, transaction_id, account_id, CAST(event_ts AS TIMESTAMPTZ) AS event_ts,
               CAST(event_date AS DATE) AS event_date, ${AMOUNT_FROM_TEXT('amount')} AS amount, currency, merchant_id, description
        FROM stream_incoming),
      firsts AS (SELECT transaction_id, min(ord) AS first_ord FROM inc GROUP BY transaction_id)
      SELECT i.*,
        CASE
          -- A repeat within the batch is judged against the accepted version: the stored row (or kept-aside late
          -- event) if there is one, else the batch's first occurrence; never against an earlier conflict.
          WHEN i.ord <> f.first_ord THEN
            CASE WHEN t.transaction_id IS NOT NULL THEN CASE WHEN ${SAME_CONTENT('i', 't')} THEN 'duplicate' ELSE 'conflict' END
                 WHEN la.transaction_id IS NOT NULL THEN CASE WHEN ${SAME_CONTENT('i', 'la')} THEN 'duplicate' ELSE 'conflict' END
                 WHEN ${SAME_CONTENT('i', 'fi')} THEN 'duplicate' ELSE 'conflict' END
          WHEN l.event_date IS NOT NULL THEN
            CASE WHEN la.transaction_id IS NULL THEN 'late' WHEN ${SAME_CONTENT('i', 'la')} THEN 'duplicate' ELSE 'conflict' END
          WHEN t.transaction_id IS NOT NULL THEN CASE WHEN ${SAME_CONTENT('i', 't')} THEN 'duplicate' ELSE 'conflict' END
          ELSE 'insert'
        END AS outcome
      FROM inc i
      JOIN firsts f USING (transaction_id)
      JOIN inc fi ON fi.transaction_id = f.transaction_id AND fi.ord = f.first_ord
      LEFT JOIN partition_ledger l ON l.event_date = i.event_date AND l.sealed
      LEFT JOIN late_arrivals la ON la.transaction_id = i.transaction_id
      LEFT JOIN (SELECT * FROM transactions WHERE transaction_id IN (SELECT transaction_id FROM stream_incoming)) t
        ON t.transaction_id = i.transaction_id
      QUALIFY row_number() OVER (PARTITION BY i.ord) = 1`);
    const params = { source: batch.sourceId, batch: batch.batchId };
    const eventColumns = `transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description,
      $source, $batch, stream_offset, now()`;
    await run(c, 
      `INSERT INTO transactions SELECT transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id,
         description, 'provisional', 0, 'stream', $batch, NULL, now()
       FROM stream_classified WHERE outcome = 'insert' ORDER BY ord`,
      { batch: batch.batchId },
    );
    await run(c, `INSERT INTO late_arrivals SELECT ${eventColumns} FROM stream_classified WHERE outcome = 'late' ORDER BY ord`, params);
    await run(c, `INSERT INTO stream_conflicts SELECT ${eventColumns} FROM stream_classified WHERE outcome = 'conflict' ORDER BY ord`, params);
    const counts = await this.rows(c, `SELECT outcome, count(*)::INTEGER AS n FROM stream_classified GROUP BY outcome`);
    const by = Object.fromEntries(counts.map((r) => [String(r.outcome), num(r.n)]));
    return { inserted: by.insert ?? 0, duplicates: by.duplicate ?? 0, conflicts: by.conflict ?? 0, late: by.late ?? 0 };
  }

  async registerFile(record: FileRecord): Promise<FileRegistryEntry> {
    return this.exclusive(async () => {
      const existing = await this.fileEntry(this.writer, record.fileId, record.sha256);
      if (existing) return existing;
      await run(this.writer, 
        `INSERT INTO file_registry VALUES ($fileId, $sha, $client, $kind, $covers, $sequence, $rows, $path, $wf, $run,
           $replay, 'received', NULL, '[]', NULL, now(), now())`,
        {
          fileId: record.fileId,
          sha: record.sha256,
          client: record.clientId,
          kind: record.kind,
          covers: JSON.stringify(record.covers),
          sequence: record.sequence,
          rows: record.rowCount,
          path: record.dataPath,
          wf: record.workflowId,
          run: record.runId,
          replay: record.replay,
        },
      );
      const created = await this.fileEntry(this.writer, record.fileId, record.sha256);
      if (!created) throw new WarehouseError(`file ${record.fileId} was not registered`, 'INVARIANT');
      return created;
    });
  }

  async getFile(fileId: string, sha256: string): Promise<FileRegistryEntry | null> {
    return this.fileEntry(this.reader, fileId, sha256);
  }

  private async fileEntry(c: DuckDBConnection, fileId: string, sha256: string): Promise<FileRegistryEntry | null> {
    const [r] = await this.rows(
      c,
      `SELECT *, strftime(received_at, ${ISO_TS}) AS received, strftime(updated_at, ${ISO_TS}) AS updated
       FROM file_registry WHERE file_id = $fileId AND sha256 = $sha`,
      { fileId, sha: sha256 },
    );
    return r ? toFileEntry(r) : null;
  }

  async setFileOutcome(input: {
    fileId: string;
    sha256: string;
    outcome: FileOutcome;
    reason: string | null;
    errors?: InputIssue[];
    changeId?: string | null;
  }): Promise<void> {
    await this.exclusive(() =>
      run(
        this.writer,
        `UPDATE file_registry SET outcome = $outcome, reason = $reason,
           errors = coalesce($errors, errors), change_id = coalesce($change, change_id), updated_at = now()
         WHERE file_id = $fileId AND sha256 = $sha`,
        {
          outcome: input.outcome,
          reason: input.reason,
          errors: input.errors === undefined ? null : JSON.stringify(input.errors),
          change: input.changeId ?? null,
          fileId: input.fileId,
          sha: input.sha256,
        },
      ),
    );
  }

  /**
   * Stages the validator's normalised file. Parquet (by its `.parquet` suffix) is staged as a view over the
   * file: it is already checked and typed, so copying it into a table would only write every row one more
   * time; the replacement reads it once, inside its transaction. CSV is copied into a table, read as VARCHAR
   * and cast in SQL: parsing text straight into DECIMAL(38, 9) is ~20x slower than into DECIMAL(18, 9), so
   * only amounts too wide for the latter take the slow path.
   */
  async stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
    const table = stagingTable(input.stagingId);
    const parquet = input.csvPath.endsWith('.parquet');
    const select = (source: string, amount: string): string =>
      `SELECT transaction_id, account_id, CAST(event_ts AS TIMESTAMPTZ) AS event_ts, CAST(event_date AS DATE) AS event_date,
         ${amount} AS amount, currency, merchant_id, description FROM ${source}`;
    return this.exclusive(async () => {
      await this.dropStagingObject(table);
      if (parquet) {
        // A view cannot take parameters: the path is a validated local file name, quoted as an SQL literal.
        await run(this.writer, `CREATE VIEW ${table} AS ${select(`read_parquet(${sqlLiteral(input.csvPath)})`, 'CAST(amount AS DECIMAL(38, 9))')}`);
      } else {
        const csv = `read_csv($path, header = true, auto_detect = false, quote = '"', escape = '"',
          columns = {${FILE_COLUMNS.map((c) => `'${c}': 'VARCHAR'`).join(', ')}})`;
        const amount = 'CAST(coalesce(try_cast(amount AS DECIMAL(18, 9)), CAST(amount AS DECIMAL(38, 9))) AS DECIMAL(38, 9))';
        await run(this.writer, `CREATE TABLE ${table} AS ${select(csv, amount)}`, { path: input.csvPath });
      }
      const [r] = await this.rows(this.writer, `SELECT count(*)::BIGINT AS n FROM ${table}`);
      return { rows: num(r?.n) };
    }, 'file');
  }

  async dropStaging(stagingId: string): Promise<void> {
    const table = stagingTable(stagingId);
    await this.exclusive(() => this.dropStagingObject(table));
  }

  /** A staging area is a table (CSV) or a view (Parquet); DuckDB drops each by its own kind. */
  private async dropStagingObject(name: string): Promise<void> {
    const [r] = await this.rows(
      this.writer,
      `SELECT (SELECT count(*) FROM duckdb_views() WHERE view_name = $name AND NOT temporary)::INTEGER AS views`,
      { name },
    );
    await run(this.writer, num(r?.views) > 0 ? `DROP VIEW IF EXISTS ${name}` : `DROP TABLE IF EXISTS ${name}`);
  }

  async replacePartitions(input: ReplaceInput): Promise<ReplaceResult> {
    const staging = stagingTable(input.stagingId);
    const status = FINAL_STATUS[input.kind];
    return this.transaction(async (c) => {
      const applied = await this.changeDates(c, input.changeId);
      if (applied.length > 0) return { outcome: 'already_applied', changeId: input.changeId, dates: applied };

      const ledger = await this.ledgerRows(c, input.covers);
      const refused = checkVersions(input, ledger);
      if (refused) return refused;

      // Dates are filtered with list_contains, not `IN (SELECT unnest(…))`: that semi-join over the rows this
      // transaction just inserted runs out of memory under the memory limit on a 10M-row file.
      const params = { change: input.changeId, dates: dateList(input.covers) };
      const types = LIST_TYPE;
      const before = await this.totalsByDate(c, `SELECT * FROM transactions WHERE list_contains($dates::DATE[], event_date)`, params, types);
      await run(c, 
        `INSERT INTO transactions_history SELECT ${TRANSACTION_COLUMN_NAMES}, $change, now()
         FROM transactions WHERE list_contains($dates::DATE[], event_date)`,
        params,
        types,
      );
      await run(c, 
        `INSERT INTO partition_ledger_history SELECT ${LEDGER_COLUMN_NAMES}, $change
         FROM partition_ledger WHERE list_contains($dates::DATE[], event_date)`,
        params,
        types,
      );
      await run(c, `DELETE FROM transactions WHERE list_contains($dates::DATE[], event_date)`, { dates: params.dates }, types);
      // One insert for every covered date, in staging order (no sort: it would spill on a large file).
      const versions = input.covers.map((d) => (ledger.find((l) => l.eventDate === d)?.version ?? 0) + 1);
      await run(
        c,
        `INSERT INTO transactions SELECT s.transaction_id, s.account_id, s.event_ts, s.event_date, s.amount, s.currency,
           s.merchant_id, s.description, $status, v.version, 'file', $file, $change, now()
         FROM ${staging} s JOIN (SELECT unnest($dates::DATE[]) AS event_date, unnest($versions::INTEGER[]) AS version) v
           ON s.event_date = v.event_date`,
        { status, file: input.fileId, change: input.changeId, dates: params.dates, versions: listValue(versions) },
        { dates: LIST(VARCHAR), versions: LIST(INTEGER) },
      );
      const afterByDate = await this.totalsByDate(
        c,
        `SELECT * FROM transactions WHERE list_contains($dates::DATE[], event_date)`,
        { dates: params.dates },
        types,
      );
      const dates: DateChange[] = [];
      for (const [i, eventDate] of input.covers.entries()) {
        const prior = ledger.find((l) => l.eventDate === eventDate);
        const fromVersion = prior?.version ?? 0;
        const toVersion = versions[i]!;
        const after = afterByDate.get(eventDate) ?? [];
        const beforeTotals = before.get(eventDate) ?? [];
        const change: DateChange = {
          eventDate,
          fromVersion,
          toVersion,
          fromStatus: prior?.status ?? 'provisional',
          rowsBefore: sumRows(beforeTotals),
          rowsAfter: sumRows(after),
          totalsBefore: beforeTotals,
          totalsAfter: after,
        };
        dates.push(change);
        await run(c, `DELETE FROM partition_ledger WHERE event_date = CAST($date AS DATE)`, { date: eventDate });
        await run(c, 
          `INSERT INTO partition_ledger VALUES (CAST($date AS DATE), $status, $version, $sequence, $file, $change, $rows,
             $totals, true, $wf, $run, now())`,
          {
            date: eventDate,
            status,
            version: toVersion,
            sequence: input.sequence,
            file: input.fileId,
            change: input.changeId,
            rows: change.rowsAfter,
            totals: JSON.stringify(after),
            wf: input.workflowId,
            run: input.runId,
          },
        );
        await this.insertChange(c, input.changeId, 'replace', change, status, {
          fileId: input.fileId,
          sequence: input.sequence,
          workflowId: input.workflowId,
          runId: input.runId,
          published: false,
        });
      }
      await this.hooks.beforeReplaceCommit?.(input.changeId);
      return { outcome: 'replaced', changeId: input.changeId, dates };
    }, 'file');
  }

  private async insertChange(
    c: DuckDBConnection,
    changeId: string,
    kind: 'replace' | 'restore',
    change: DateChange,
    toStatus: RowStatus,
    meta: { fileId: string | null; sequence: number | null; workflowId: string; runId: string; published: boolean },
  ): Promise<void> {
    await run(c, 
      `INSERT INTO partition_changes VALUES ($change, CAST($date AS DATE), $kind, $file, $sequence, $wf, $run, $fromV, $toV,
         $fromS, $toS, $rowsB, $rowsA, $totB, $totA, $published, now())`,
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
        toS: toStatus,
        rowsB: change.rowsBefore,
        rowsA: change.rowsAfter,
        totB: JSON.stringify(change.totalsBefore),
        totA: JSON.stringify(change.totalsAfter),
        published: meta.published,
      },
    );
  }

  async revertChange(changeId: string): Promise<{ reverted: boolean }> {
    return this.transaction(async (c) => {
      const dates = await this.changeDates(c, changeId);
      if (dates.length === 0) return { reverted: false };
      const ledger = await this.ledgerRows(c, dates.map((d) => d.eventDate));
      const moved = ledger.filter((l) => l.changeId !== changeId);
      if (moved.length > 0) {
        throw new WarehouseError(
          `change ${changeId} cannot be reverted exactly: ${moved.map((m) => m.eventDate).join(', ')} changed again since`,
          'INVARIANT',
        );
      }
      const params = { change: changeId, dates: dateList(dates.map((d) => d.eventDate)) };
      await run(c, `DELETE FROM transactions WHERE event_date IN (SELECT unnest($dates::DATE[]))`, { dates: params.dates }, LIST_TYPE);
      await run(c, 
        `INSERT INTO transactions SELECT ${TRANSACTION_COLUMN_NAMES} FROM transactions_history
         WHERE archived_by_change = $change ORDER BY event_date, transaction_id`,
        { change: changeId },
      );
      await run(c, `DELETE FROM partition_ledger WHERE event_date IN (SELECT unnest($dates::DATE[]))`, { dates: params.dates }, LIST_TYPE);
      await run(c, 
        `INSERT INTO partition_ledger SELECT ${LEDGER_COLUMN_NAMES} FROM partition_ledger_history WHERE archived_by_change = $change`,
        { change: changeId },
      );
      for (const sql of readmitLateStatements((table) => table, (column) => `list_contains($dates::DATE[], ${column})`)) {
        await run(c, sql, { dates: params.dates }, LIST_TYPE);
      }
      for (const table of ['transactions_history', 'partition_ledger_history']) {
        await run(c, `DELETE FROM ${table} WHERE archived_by_change = $change`, { change: changeId });
      }
      for (const table of ['partition_changes', 'reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries']) {
        await run(c, `DELETE FROM ${table} WHERE change_id = $change`, { change: changeId });
      }
      return { reverted: true };
    }, 'file');
  }

  async publishChange(changeId: string): Promise<ReconciliationReport[]> {
    await this.transaction(async (c) => {
      const dates = await this.changeDates(c, changeId);
      if (dates.length === 0) throw new WarehouseError(`change ${changeId} does not exist`, 'NOT_FOUND');
      for (const table of ['reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries']) {
        await run(c, `DELETE FROM ${table} WHERE change_id = $change`, { change: changeId });
      }
      const p = { change: changeId };
      await run(c, 
        `INSERT INTO reconciliation_reports
         WITH before AS (SELECT event_date, currency, count(*) AS n, sum(amount) AS total FROM transactions_history
                          WHERE archived_by_change = $change GROUP BY ALL),
              after AS (SELECT event_date, currency, count(*) AS n, sum(amount) AS total FROM transactions
                          WHERE change_id = $change GROUP BY ALL),
              dates AS (SELECT event_date, from_status FROM partition_changes WHERE change_id = $change)
         SELECT $change, d.event_date, d.from_status, coalesce(b.currency, a.currency),
                coalesce(b.n, 0), coalesce(b.total, 0), coalesce(a.n, 0), coalesce(a.total, 0)
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
        { change: changeId, cap: this.maxReportDiffs },
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
    for (const d of await this.changeDates(this.reader, changeId)) {
      const report = await this.reportFor(d.eventDate, changeId);
      if (report) reports.push(report);
    }
    return reports;
  }

  async unpublishChange(changeId: string): Promise<void> {
    await this.transaction(async (c) => {
      for (const table of ['reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries']) {
        await run(c, `DELETE FROM ${table} WHERE change_id = $change`, { change: changeId });
      }
      await run(c, `UPDATE partition_changes SET published = false WHERE change_id = $change`, { change: changeId });
    });
  }

  async restoreVersion(input: RestoreInput): Promise<DateChange> {
    return this.transaction(async (c) => {
      const [current] = await this.ledgerRows(c, [input.eventDate]);
      const currentVersion = current?.version ?? 0;
      if (current?.pendingChange) {
        throw new WarehouseError(`${input.eventDate} is being changed by ${current.changeId}; retry later`, 'CONFLICT');
      }
      if (input.version >= currentVersion) {
        throw new WarehouseError(`${input.eventDate} is at version ${currentVersion}; only an earlier version can be restored`, 'INVARIANT');
      }
      const [versionInfo] = await this.rows(
        c,
        `SELECT to_status FROM partition_changes WHERE event_date = CAST($date AS DATE) AND to_version = $v LIMIT 1`,
        { date: input.eventDate, v: input.version },
      );
      const restoredStatus = (versionInfo?.to_status as RowStatus | undefined) ?? 'provisional';
      const params = { change: input.changeId, date: input.eventDate };
      const before = (await this.totalsByDate(c, `SELECT * FROM transactions WHERE event_date = CAST($date AS DATE)`, { date: input.eventDate })).get(input.eventDate) ?? [];
      await run(c, 
        `CREATE OR REPLACE TEMP TABLE restore_rows AS SELECT ${TRANSACTION_COLUMN_NAMES} FROM transactions_history
         WHERE event_date = CAST($date AS DATE) AND partition_version = $v
         QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1`,
        { date: input.eventDate, v: input.version },
      );
      await run(c, 
        `INSERT INTO transactions_history SELECT ${TRANSACTION_COLUMN_NAMES}, $change, now() FROM transactions WHERE event_date = CAST($date AS DATE)`,
        params,
      );
      await run(c, 
        `INSERT INTO partition_ledger_history SELECT ${LEDGER_COLUMN_NAMES}, $change FROM partition_ledger WHERE event_date = CAST($date AS DATE)`,
        params,
      );
      await run(c, `DELETE FROM transactions WHERE event_date = CAST($date AS DATE)`, { date: input.eventDate });
      const toVersion = currentVersion + 1;
      await run(c, 
        `INSERT INTO transactions SELECT transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description,
           status, $version, 'restore', source_id, $change, now() FROM restore_rows ORDER BY transaction_id`,
        { version: toVersion, change: input.changeId },
      );
      const after = (await this.totalsByDate(c, `SELECT * FROM transactions WHERE event_date = CAST($date AS DATE)`, { date: input.eventDate })).get(input.eventDate) ?? [];
      const change: DateChange = {
        eventDate: input.eventDate,
        fromVersion: currentVersion,
        toVersion,
        fromStatus: current?.status ?? 'provisional',
        rowsBefore: sumRows(before),
        rowsAfter: sumRows(after),
        totalsBefore: before,
        totalsAfter: after,
      };
      await run(c, `DELETE FROM partition_ledger WHERE event_date = CAST($date AS DATE)`, { date: input.eventDate });
      await run(c, 
        `INSERT INTO partition_ledger VALUES (CAST($date AS DATE), $status, $version, $sequence, $file, $change, $rows, $totals,
           $sealed, $wf, $run, now())`,
        {
          date: input.eventDate,
          status: restoredStatus,
          version: toVersion,
          sequence: current?.sequence ?? null,
          file: current?.fileId ?? null,
          change: input.changeId,
          rows: change.rowsAfter,
          totals: JSON.stringify(after),
          sealed: current?.sealed ?? false,
          wf: input.workflowId,
          run: input.runId,
        },
      );
      await this.insertChange(c, input.changeId, 'restore', change, restoredStatus, {
        fileId: null,
        sequence: null,
        workflowId: input.workflowId,
        runId: input.runId,
        published: false,
      });
      return change;
    }, 'file');
  }

  private async changeDates(c: DuckDBConnection, changeId: string): Promise<DateChange[]> {
    const rows = await this.rows(
      c,
      `SELECT * FROM partition_changes WHERE change_id = $change ORDER BY event_date`,
      { change: changeId },
    );
    return rows.map(toDateChange);
  }

  private async ledgerRows(
    c: DuckDBConnection,
    dates: string[],
  ): Promise<Array<PartitionState & { sealed: boolean; pendingChange: boolean }>> {
    const rows = await this.rows(
      c,
      `SELECT l.*, strftime(l.updated_at, ${ISO_TS}) AS updated,
              coalesce((SELECT NOT bool_and(published) FROM partition_changes pc WHERE pc.change_id = l.change_id), false) AS pending
       FROM partition_ledger l WHERE event_date IN (SELECT unnest($dates::DATE[])) ORDER BY event_date`,
      { dates: dateList(dates) },
      LIST_TYPE,
    );
    return rows.map((r) => ({ ...toPartitionState(r), sealed: Boolean(r.sealed), pendingChange: Boolean(r.pending) }));
  }

  private async totalsByDate(
    c: DuckDBConnection,
    source: string,
    params: Params,
    types?: Record<string, DuckDBType>,
  ): Promise<Map<string, CurrencyTotal[]>> {
    const rows = await this.rows(
      c,
      `SELECT CAST(event_date AS VARCHAR) AS d, currency, count(*)::BIGINT AS n, sum(amount) AS total
       FROM (${source}) GROUP BY ALL ORDER BY d, currency`,
      params,
      types,
    );
    const map = new Map<string, CurrencyTotal[]>();
    for (const r of rows) {
      const list = map.get(String(r.d)) ?? [];
      list.push({ currency: String(r.currency), rows: num(r.n), total: canonicalAmount(String(r.total)) });
      map.set(String(r.d), list);
    }
    return map;
  }

  async getPartitions(dates?: string[]): Promise<PartitionState[]> {
    const known = dates ?? [];
    const stored = dates
      ? await this.ledgerRows(this.reader, dates)
      : (await this.rows(this.reader, `SELECT *, strftime(updated_at, ${ISO_TS}) AS updated FROM partition_ledger ORDER BY event_date`)).map(toPartitionState);
    // Dates only the stream has written have no ledger row yet: they are provisional at version 0.
    const streamOnly = await this.rows(
      this.reader,
      `SELECT CAST(event_date AS VARCHAR) AS d, currency, count(*)::BIGINT AS n, sum(amount) AS total FROM transactions
       WHERE event_date NOT IN (SELECT event_date FROM partition_ledger)
         AND ($all OR event_date IN (SELECT unnest($dates::DATE[])))
       GROUP BY ALL ORDER BY d, currency`,
      { all: dates === undefined, dates: dateList(known) },
      LIST_TYPE,
    );
    return withStreamOnlyDates(stored, streamOnly);
  }

  async getChanges(eventDate: string): Promise<PartitionChange[]> {
    const rows = await this.rows(
      this.reader,
      `SELECT *, strftime(changed_at, ${ISO_TS}) AS changed FROM partition_changes
       WHERE event_date = CAST($date AS DATE) ORDER BY to_version`,
      { date: eventDate },
    );
    return rows.map((r) => ({ ...toDateChange(r), ...changeFields(r) }));
  }

  async getReport(eventDate: string): Promise<ReconciliationReport | null> {
    const [latest] = await this.rows(
      this.reader,
      `SELECT s.change_id FROM reconciliation_summaries s JOIN partition_changes c USING (change_id, event_date)
       WHERE s.event_date = CAST($date AS DATE) ORDER BY c.to_version DESC LIMIT 1`,
      { date: eventDate },
    );
    return latest ? this.reportFor(eventDate, String(latest.change_id)) : null;
  }

  private async reportFor(eventDate: string, changeId: string): Promise<ReconciliationReport | null> {
    const p = { date: eventDate, change: changeId };
    const [summary] = await this.rows(
      this.reader,
      `SELECT * FROM reconciliation_summaries WHERE change_id = $change AND event_date = CAST($date AS DATE)`,
      p,
    );
    if (!summary) return null;
    const lines = await this.rows(
      this.reader,
      `SELECT * FROM reconciliation_reports WHERE change_id = $change AND event_date = CAST($date AS DATE) ORDER BY currency`,
      p,
    );
    const diffs = await this.rows(
      this.reader,
      `SELECT * FROM reconciliation_diffs WHERE change_id = $change AND event_date = CAST($date AS DATE) ORDER BY kind, transaction_id`,
      p,
    );
    const [change] = await this.rows(
      this.reader,
      `SELECT from_status FROM partition_changes WHERE change_id = $change AND event_date = CAST($date AS DATE)`,
      p,
    );
    return assembleReport(eventDate, changeId, { summary, lines, diffs, fromStatus: change?.from_status });
  }

  async dailyTotals(dates: string[]): Promise<DailyTotal[]> {
    const rows = await this.rows(
      this.reader,
      `SELECT CAST(event_date AS VARCHAR) AS d, date_status, date_version, currency, row_count, total_amount FROM daily_totals
       WHERE event_date IN (SELECT unnest($dates::DATE[])) ORDER BY d, currency`,
      { dates: dateList(dates) },
      LIST_TYPE,
    );
    return rows.map((r) => ({
      eventDate: String(r.d),
      status: r.date_status as RowStatus,
      version: num(r.date_version),
      currency: String(r.currency),
      rows: num(r.row_count),
      total: canonicalAmount(String(r.total_amount)),
    }));
  }

  async readRows(eventDate: string): Promise<Array<Transaction & { status: RowStatus; version: number }>> {
    const rows = await this.rows(
      this.reader,
      `SELECT *, strftime(event_ts, ${ISO_TS}) AS ts FROM transactions WHERE event_date = CAST($date AS DATE) ORDER BY transaction_id`,
      { date: eventDate },
    );
    return rows.map((r) => ({ ...toTransaction(r), status: r.status as RowStatus, version: num(r.partition_version) }));
  }

  async readVersion(eventDate: string, version: number): Promise<Array<Transaction & { status: RowStatus }>> {
    const rows = await this.rows(
      this.reader,
      `SELECT *, strftime(event_ts, ${ISO_TS}) AS ts FROM transactions_history
       WHERE event_date = CAST($date AS DATE) AND partition_version = $v
       QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1 ORDER BY transaction_id`,
      { date: eventDate, v: version },
    );
    return rows.map((r) => ({ ...toTransaction(r), status: r.status as RowStatus }));
  }

  async readConsumerView(view: ConsumerView, eventDate: string): Promise<ConsumerViewRow[]> {
    const rows = await this.rows(
      this.reader,
      `SELECT transaction_id, amount, status, partition_version FROM ${consumerView(view)}
       WHERE event_date = CAST($date AS DATE) ORDER BY transaction_id`,
      { date: eventDate },
    );
    return rows.map(toConsumerViewRow);
  }

  async countSideTables(): Promise<{ lateArrivals: number; conflicts: number; rejects: number; batches: number }> {
    const [r] = await this.rows(
      this.reader,
      `SELECT (SELECT count(*) FROM late_arrivals)::BIGINT AS late, (SELECT count(*) FROM stream_conflicts)::BIGINT AS conflicts,
              (SELECT count(*) FROM stream_rejects)::BIGINT AS rejects, (SELECT count(*) FROM stream_batches)::BIGINT AS batches`,
    );
    return { lateArrivals: num(r?.late), conflicts: num(r?.conflicts), rejects: num(r?.rejects), batches: num(r?.batches) };
  }

  async streamCursor(sourceId: string): Promise<number> {
    const [r] = await this.rows(this.reader, `SELECT coalesce(max(to_cursor), 0)::BIGINT AS c FROM stream_batches WHERE source_id = $source`, { source: sourceId });
    return num(r?.c);
  }

  async checksums(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const table of DATA_TABLES) {
      const [r] = await this.rows(this.reader, `SELECT count(*)::BIGINT AS n, coalesce(bit_xor(hash(t)), 0)::VARCHAR AS h FROM ${table} t`);
      out[table] = `${num(r?.n)}:${String(r?.h)}`;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.reader.closeSync();
      this.writer.closeSync();
      this.instance.closeSync();
    });
  }
}

const sqlLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;

const stagingTable = (stagingId: string): string => {
  if (!STAGING_ID.test(stagingId)) throw new WarehouseError(`invalid staging id ${JSON.stringify(stagingId)}`, 'INVARIANT');
  return `staging_${stagingId}`;
};

const sumRows = (totals: CurrencyTotal[]): number => totals.reduce((n, t) => n + t.rows, 0);

const batchResult = (r: Row): Omit<StreamBatchResult, 'alreadyApplied'> => ({
  inserted: num(r.inserted),
  duplicates: num(r.duplicates),
  conflicts: num(r.conflicts),
  late: num(r.late),
  rejected: num(r.rejected),
  toCursor: num(r.to_cursor),
});

const { toDateChange, toPartitionState, toTransaction } = rowMappers('event_date');

