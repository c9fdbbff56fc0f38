/**
 * The BigQuery warehouse: one dataset, the same model and semantics as the DuckDB adapter (docs/warehouse.md).
 * Every write is one multi-statement transaction (a script) that first touches the write fence, so writers are
 * serialised and no reader sees half a change. Provisional rows are written by DML, never by the legacy streaming
 * insert API, whose rows DML cannot change for about 30 minutes.
 */
import { BigQuery, type Dataset, type Job, type Query, type TableMetadata } from '@google-cloud/bigquery';
import { jobIdOf, labelValue, nextJob } from '../job-context.js';
import { OAuth2Client } from 'google-auth-library';
import { canonicalAmount } from '../../domain/decimal.js';
import type { InputIssue, Transaction } from '../../domain/contract.js';
import {
  FINAL_STATUS,
  WarehouseError,
  type ConsumerView,
  type ConsumerViewRow,
  type ConsumerViews,
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
import { consumerView, differingIds, readmitLateStatements, DIFF_KIND_COUNTS, SUMMARY_COLUMNS } from '../core/sql.js';
import { toConsumerViewRow, num, rowMappers, toFileEntry, type Row } from '../core/mappers.js';
import { checkVersions } from '../core/rules.js';
import { assembleReport, changeFields, withStreamOnlyDates } from '../core/report.js';
import { DATA_TABLES, LEDGER_COLUMN_NAMES, STAGING_FIELDS, TABLES, TRANSACTION_COLUMN_NAMES, tableMetadata, viewStatements } from './schema.js';
import { BigQueryStreamPath, type StreamPathOptions } from './stream-sink.js';
import { outcomeCase } from './stream-sql.js';
import {
  DATASET_ID,
  EVENT_STRUCT,
  GUARD_MARKER,
  ISO_TS,
  LOCATION,
  PROJECT_ID,
  REJECT_STRUCT,
  STAGING_ID,
  VERSION_STRUCT,
  bindLiterals,
  dateValue,
  p,
  timestampValue,
  totalsJson,
  type ParamType,
  type Params,
  type Statement,
} from './sql.js';

export interface BigQueryWarehouseOptions {
  projectId: string;
  datasetId: string;
  /** Dataset and job location, e.g. 'EU' or 'europe-west1'. */
  location: string;
  /** A local emulator's base URL (http://127.0.0.1:PORT); production uses Application Default Credentials. */
  apiEndpoint?: string;
  /** Diffs stored per date in a reconciliation report; the rest are counted. */
  maxReportDiffs?: number;
  /** Labels on every job (e.g. `{ client: 'acme' }`); workflow id, step and attempt come from the job context. */
  labels?: Record<string, string>;
  /** The longest a job may run before BigQuery cancels it (default 10 minutes). */
  jobTimeoutMs?: number;
  /** Attempts at a write that hits a concurrent update before giving up with a retryable error (default 6). */
  maxAttempts?: number;
  hooks?: WarehouseHooks;
  /**
   * Stream writes through the Storage Write API and periodic classification (docs/bigquery-cost.md) instead of one
   * DML script per batch. Left out: the DML path.
   */
  streamSink?: Omit<StreamPathOptions, 'projectId' | 'datasetId' | 'location'>;
}


const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Only the parameters a statement names (BigQuery is strict about parameter lists in some modes). */
const usedParams = (sql: string, params: Params): Params =>
  Object.fromEntries(Object.entries(params).filter(([name]) => new RegExp(`@${name}\\b`).test(sql)));

const amount = (v: unknown): string => canonicalAmount(String(v));

export class BigQueryWarehouse implements Warehouse, ConsumerViews {
  readonly engine = 'bigquery' as const;
  private readonly bq: BigQuery;
  private readonly dataset: Dataset;
  private readonly maxReportDiffs: number;
  private readonly hooks: WarehouseHooks;
  private readonly labels: Record<string, string>;
  private readonly jobTimeoutMs: number;
  private readonly maxAttempts: number;
  /** The Storage Write stream path when configured (its classification can be run on demand by tests and benchmarks). */
  readonly streamPath: BigQueryStreamPath | undefined;

  constructor(private readonly options: BigQueryWarehouseOptions) {
    if (!PROJECT_ID.test(options.projectId)) throw new WarehouseError(`invalid BigQuery project id ${JSON.stringify(options.projectId)}`, 'CONFIG');
    if (!DATASET_ID.test(options.datasetId)) throw new WarehouseError(`invalid BigQuery dataset id ${JSON.stringify(options.datasetId)}`, 'CONFIG');
    if (!LOCATION.test(options.location)) throw new WarehouseError(`invalid BigQuery location ${JSON.stringify(options.location)}`, 'CONFIG');
    if (options.apiEndpoint !== undefined && !/^https?:\/\/[A-Za-z0-9.[\]:-]+\/?$/.test(options.apiEndpoint)) {
      throw new WarehouseError(`invalid BigQuery apiEndpoint ${JSON.stringify(options.apiEndpoint)}`, 'CONFIG');
    }
    this.maxReportDiffs = options.maxReportDiffs ?? 1000;
    this.hooks = options.hooks ?? {};
    this.labels = Object.fromEntries(Object.entries(options.labels ?? {}).map(([k, v]) => [labelValue(k), labelValue(v)]));
    this.jobTimeoutMs = options.jobTimeoutMs ?? 600_000;
    this.maxAttempts = options.maxAttempts ?? 6;
    if (options.apiEndpoint) {
      // An emulator needs no credentials; a fixed token keeps the client from looking for real ones.
      const authClient = new OAuth2Client();
      authClient.setCredentials({ access_token: 'emulator' });
      this.bq = new BigQuery({ projectId: options.projectId, location: options.location, apiEndpoint: options.apiEndpoint, authClient });
    } else {
      this.bq = new BigQuery({ projectId: options.projectId, location: options.location });
    }
    this.dataset = this.bq.dataset(options.datasetId, { location: options.location });
    this.streamPath = options.streamSink
      ? new BigQueryStreamPath(this.bq, (n) => this.t(n), { ...options.streamSink, projectId: options.projectId, datasetId: options.datasetId, location: options.location })
      : undefined;
  }

  /** Builds the adapter and runs the (idempotent) migrations. */
  static async open(options: BigQueryWarehouseOptions): Promise<BigQueryWarehouse> {
    const warehouse = new BigQueryWarehouse(options);
    await warehouse.migrate();
    return warehouse;
  }

  /** Fully qualified, quoted table reference; the parts were validated in the constructor. */
  private t(name: string): string {
    return `\`${this.options.projectId}.${this.options.datasetId}.${name}\``;
  }

  private async query(sql: string, params: Params = {}): Promise<Row[]> {
    const used = usedParams(sql, params);
    const names = Object.keys(used);
    const request: Query = { query: sql, useLegacySql: false, location: this.options.location };
    if (names.length > 0) {
      request.params = Object.fromEntries(names.map((n) => [n, used[n]?.value]));
      // The client's QueryParamTypes cannot express a map of named types; its runtime accepts exactly this shape.
      request.types = Object.fromEntries(names.map((n) => [n, used[n]?.type])) as Record<string, ParamType> as unknown as NonNullable<Query['types']>;
    }
    const context = nextJob();
    request.jobTimeoutMs = this.jobTimeoutMs;
    request.labels = {
      ...this.labels,
      ...(context ? { workflow_id: labelValue(context.workflowId), step: labelValue(context.step), attempt: String(context.attempt) } : {}),
    };
    if (context) request.jobId = jobIdOf(context);
    await this.hooks.beforeJob?.(sql);
    const job = await this.createOrAttach(request);
    const cancel = (): void => void job.cancel().catch(() => undefined);
    context?.signal?.addEventListener('abort', cancel, { once: true });
    try {
      const [rows] = await job.getQueryResults();
      return rows as Row[];
    } finally {
      context?.signal?.removeEventListener('abort', cancel);
    }
  }

  /** Creates the job, or attaches to the job of the same id that a previous try of this attempt started. */
  private async createOrAttach(request: Query): Promise<Job> {
    try {
      const [job] = await this.bq.createQueryJob(request);
      return job;
    } catch (error) {
      if (request.jobId === undefined || !isAlreadyExists(error)) throw error;
      return this.bq.job(request.jobId, { location: this.options.location });
    }
  }

  /**
   * Runs statements as one transaction script: the write fence first, so concurrent writers conflict and are
   * retried instead of interleaving. The script carries its values as validated literals (`bindLiterals`), never
   * as parameters: the same script runs on BigQuery and on the emulator, which binds no parameters in scripts.
   */
  private async transaction(statements: Statement[], beforeCommit?: () => Promise<void>): Promise<void> {
    const all: Statement[] = [
      { sql: `UPDATE ${this.t('write_fence')} SET touched_at = CURRENT_TIMESTAMP() WHERE id = 1`, params: {} },
      ...statements,
    ];
    const merged: Params = {};
    for (const s of all) {
      for (const [name, param] of Object.entries(usedParams(s.sql, s.params))) {
        const existing = merged[name];
        if (existing && JSON.stringify(existing) !== JSON.stringify(param)) {
          throw new WarehouseError(`parameter @${name} has two values in one transaction`, 'INVARIANT');
        }
        merged[name] = param;
      }
    }
    const script = ['BEGIN TRANSACTION', ...all.map((s) => bindLiterals(s.sql, merged)), 'COMMIT TRANSACTION'].join(';\n') + ';';
    // A script cannot be held open from the client: the hook runs once everything is decided, before it is sent.
    await beforeCommit?.();
    await this.query(script);
  }

  /** Re-runs a read-decide-write operation when BigQuery reports a concurrent update or a guard saw moved state. */
  private async retrying<T>(what: string, work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!isTransient(error)) throw error;
        if (attempt >= this.maxAttempts) {
          // A plain Error: Temporal retries the activity with its own policy.
          throw new Error(`${what}: still conflicting after ${attempt} attempts: ${errorMessage(error)}`, { cause: error });
        }
        const ceiling = Math.min(8000, 250 * 2 ** (attempt - 1));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
  }

  async migrate(): Promise<void> {
    const [exists] = await this.dataset.exists();
    if (!exists) {
      try {
        await this.bq.createDataset(this.options.datasetId, { location: this.options.location });
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
      }
    }
    for (const spec of TABLES) {
      const table = this.dataset.table(spec.name);
      const [tableExists] = await table.exists();
      if (tableExists) {
        await this.addMissingColumns(spec);
        continue;
      }
      try {
        await this.dataset.createTable(spec.name, tableMetadata(spec));
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
      }
    }
    for (const statement of viewStatements((n) => this.t(n))) await this.query(statement);
    await this.query(
      `INSERT INTO ${this.t('write_fence')} (id, touched_at) SELECT 1, CURRENT_TIMESTAMP() FROM UNNEST([1])
       WHERE NOT EXISTS (SELECT 1 FROM ${this.t('write_fence')})`,
    );
    await this.streamPath?.migrate();
  }

  /** A table created by an earlier release gains the nullable columns added since (never drops or retypes one). */
  private async addMissingColumns(spec: (typeof TABLES)[number]): Promise<void> {
    const [metadata] = await this.dataset.table(spec.name).getMetadata();
    const present = new Set(((metadata as TableMetadata).schema?.fields ?? []).map((field) => field.name));
    for (const field of spec.fields.filter((x) => !present.has(x.name) && x.mode === 'NULLABLE')) {
      await this.query(`ALTER TABLE ${this.t(spec.name)} ADD COLUMN IF NOT EXISTS ${field.name} ${field.type}`);
    }
  }

  // ---------------------------------------------------------------- stream

  async writeStreamBatch(batch: StreamBatch): Promise<StreamBatchResult> {
    if (this.streamPath) return this.streamPath.write(batch);
    return this.retrying(`stream batch ${batch.batchId}`, async () => {
      const stored = await this.storedBatch(batch.batchId);
      if (stored) return { ...stored, alreadyApplied: true };

      const params: Params = {
        batch: p.str(batch.batchId),
        source: p.str(batch.sourceId),
        from: p.int(batch.fromCursor),
        to: p.int(batch.toCursor),
        rejected: p.int(batch.rejects.length),
        unknown: p.int(batch.unknownFields),
      };
      await this.stageStreamBatch(batch);
      const classified = this.classifiedEvents();
      const eventColumns = 'transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description';
      const sideTable = (table: string, outcome: string): Statement => ({
        sql: `INSERT INTO ${this.t(table)} (${eventColumns}, source_id, batch_id, stream_offset, received_at)
              ${classified}
              SELECT ${eventColumns}, @source, @batch, c.stream_offset, CURRENT_TIMESTAMP() FROM classified c
              WHERE c.outcome = '${outcome}'`,
        params,
      });
      await this.transaction([
        {
          sql: `SELECT IF(EXISTS (SELECT 1 FROM ${this.t('stream_batches')} WHERE batch_id = @batch),
                          ERROR('${GUARD_MARKER}: batch written concurrently'), 0)`,
          params,
        },
        {
          sql: `INSERT INTO ${this.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                ${classified}
                SELECT ${eventColumns}, 'provisional', 0, 'stream', @batch, NULL, CURRENT_TIMESTAMP() FROM classified c
                WHERE c.outcome = 'insert'`,
          params,
        },
        sideTable('late_arrivals', 'late'),
        sideTable('stream_conflicts', 'conflict'),
        {
          sql: `INSERT INTO ${this.t('stream_rejects')} (source_id, batch_id, stream_offset, reason, raw, received_at)
                SELECT @source, @batch, r.stream_offset, r.reason, r.raw, CURRENT_TIMESTAMP() FROM ${this.t('stream_incoming')} r
                WHERE r.batch_id = @batch AND r.is_reject`,
          params,
        },
        {
          sql: `INSERT INTO ${this.t('stream_batches')}
                  (batch_id, source_id, from_cursor, to_cursor, inserted, duplicates, conflicts, late, rejected, unknown_fields, written_at)
                ${classified}
                SELECT @batch, @source, @from, @to, COUNTIF(outcome = 'insert'), COUNTIF(outcome = 'duplicate'),
                       COUNTIF(outcome = 'conflict'), COUNTIF(outcome = 'late'), @rejected, @unknown, CURRENT_TIMESTAMP()
                FROM classified`,
          params,
        },
        { sql: `DELETE FROM ${this.t('stream_incoming')} WHERE batch_id = @batch`, params },
      ]);
      const written = await this.storedBatch(batch.batchId);
      if (!written) throw new WarehouseError(`batch ${batch.batchId} was not recorded`, 'INVARIANT');
      return { ...written, alreadyApplied: false };
    });
  }

  /**
   * Stages a batch's events and rejects with parameterised single statements (a script cannot carry parameters
   * on every engine the adapter runs on, nor 10 MB of events as literals); the batch's script reads them by batch id
   * and deletes them. A retried batch finds its rows staged already and stages nothing twice.
   */
  private async stageStreamBatch(batch: StreamBatch): Promise<void> {
    const staged = `NOT EXISTS (SELECT 1 FROM ${this.t('stream_incoming')} WHERE batch_id = @batch AND is_reject = @reject)`;
    const columns = `batch_id, is_reject, ord, stream_offset, transaction_id, account_id, event_ts, event_date, amount, currency,
                     merchant_id, description, reason, raw`;
    // Empty arrays of structs are not sent: nothing to stage, and not every engine can type them.
    if (batch.events.length > 0) {
      await this.query(
        `INSERT INTO ${this.t('stream_incoming')} (${columns})
         SELECT @batch, @reject, e.ord, e.stream_offset, e.transaction_id, e.account_id, e.event_ts, e.event_date, e.amount, e.currency,
                e.merchant_id, e.description, NULL, NULL
         FROM UNNEST(@events) AS e WHERE ${staged}`,
        {
          batch: p.str(batch.batchId),
          reject: p.bool(false),
          events: p.structs(
            batch.events.map((e, i) => ({
              ord: i,
              stream_offset: e.offset,
              transaction_id: e.transactionId,
              account_id: e.accountId,
              event_ts: timestampValue(e.eventTs),
              event_date: dateValue(e.eventDate),
              amount: e.amount,
              currency: e.currency,
              merchant_id: e.merchantId,
              description: e.description,
            })),
            EVENT_STRUCT,
          ),
        },
      );
    }
    if (batch.rejects.length > 0) {
      await this.query(
        `INSERT INTO ${this.t('stream_incoming')} (${columns})
         SELECT @batch, @reject, NULL, r.stream_offset, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, r.reason, r.raw
         FROM UNNEST(@rejects) AS r WHERE ${staged}`,
        {
          batch: p.str(batch.batchId),
          reject: p.bool(true),
          rejects: p.structs(batch.rejects.map((r) => ({ stream_offset: r.offset, reason: r.reason, raw: r.raw })), REJECT_STRUCT),
        },
      );
    }
  }

  /**
   * Sorts each event of `@events` into insert / duplicate / conflict / late, as the DuckDB adapter does.
   * Rows this same batch wrote are left out of the comparison, so every statement of the batch sees the same
   * classification whatever ran before it.
   */
  private classifiedEvents(): string {
    return `WITH inc AS (
        SELECT e.ord, e.stream_offset, e.transaction_id, e.account_id, e.event_ts, e.event_date, e.amount, e.currency,
               e.merchant_id, e.description
        FROM ${this.t('stream_incoming')} AS e WHERE e.batch_id = @batch AND NOT e.is_reject),
      firsts AS (SELECT transaction_id, MIN(ord) AS first_ord FROM inc GROUP BY transaction_id),
      stored AS (SELECT * FROM ${this.t('transactions')}
                 WHERE transaction_id IN (SELECT transaction_id FROM inc) AND NOT (source_kind = 'stream' AND source_id = @batch)),
      late AS (SELECT * FROM ${this.t('late_arrivals')} WHERE transaction_id IN (SELECT transaction_id FROM inc) AND batch_id <> @batch),
      sealed AS (SELECT event_date FROM ${this.t('partition_ledger')} WHERE sealed),
      classified AS (
        SELECT i.*,
          ${outcomeCase({ event: 'i', isRepeat: 'i.ord <> f.first_ord', sealed: 's' })} AS outcome
        FROM inc i
        JOIN firsts f ON f.transaction_id = i.transaction_id
        JOIN inc fi ON fi.ord = f.first_ord
        LEFT JOIN sealed s ON s.event_date = i.event_date
        LEFT JOIN late la ON la.transaction_id = i.transaction_id
        LEFT JOIN stored st ON st.transaction_id = i.transaction_id
        WHERE TRUE
        QUALIFY ROW_NUMBER() OVER (PARTITION BY i.ord) = 1)`;
  }

  private async storedBatch(batchId: string): Promise<Omit<StreamBatchResult, 'alreadyApplied'> | null> {
    const [r] = await this.query(`SELECT * FROM ${this.t('stream_batches')} WHERE batch_id = @id LIMIT 1`, { id: p.str(batchId) });
    if (!r) return null;
    return {
      inserted: num(r.inserted),
      duplicates: num(r.duplicates),
      conflicts: num(r.conflicts),
      late: num(r.late),
      rejected: num(r.rejected),
      toCursor: num(r.to_cursor),
    };
  }

  // ---------------------------------------------------------------- file registry

  async registerFile(record: FileRecord): Promise<FileRegistryEntry> {
    return this.retrying(`register file ${record.fileId}`, async () => {
      const existing = await this.getFile(record.fileId, record.sha256);
      if (existing) return existing;
      // One parameterised statement, atomic by itself: a file's manifest and path are text no script may carry.
      await this.query(
          `INSERT INTO ${this.t('file_registry')} (file_id, sha256, client_id, kind, covers, sequence, row_count, data_path,
                  workflow_id, run_id, replay, outcome, reason, errors, change_id, received_at, updated_at)
                SELECT @fileId, @sha, @client, @kind, @covers, @sequence, @rows, @path, @wf, @run, @replay, 'received', NULL, '[]', NULL,
                       CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP()
                FROM UNNEST([1])
                WHERE NOT EXISTS (SELECT 1 FROM ${this.t('file_registry')} WHERE file_id = @fileId AND sha256 = @sha)`,
          {
            fileId: p.str(record.fileId),
            sha: p.str(record.sha256),
            client: p.str(record.clientId),
            kind: p.str(record.kind),
            covers: p.str(JSON.stringify(record.covers)),
            sequence: p.int(record.sequence),
            rows: p.int(record.rowCount),
            path: p.str(record.dataPath),
            wf: p.str(record.workflowId),
            run: p.str(record.runId),
            replay: p.bool(record.replay),
          },
      );
      const created = await this.getFile(record.fileId, record.sha256);
      if (!created) throw new WarehouseError(`file ${record.fileId} was not registered`, 'INVARIANT');
      return created;
    });
  }

  async getFile(fileId: string, sha256: string): Promise<FileRegistryEntry | null> {
    const [r] = await this.query(
      `SELECT *, ${ISO_TS('received_at')} AS received, ${ISO_TS('updated_at')} AS updated
       FROM ${this.t('file_registry')} WHERE file_id = @fileId AND sha256 = @sha LIMIT 1`,
      { fileId: p.str(fileId), sha: p.str(sha256) },
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
    // One parameterised statement: a rejection's reason and errors are free text no script may carry.
    await this.retrying(`file outcome ${input.fileId}`, () =>
      this.query(
          `UPDATE ${this.t('file_registry')} SET outcome = @outcome, reason = @reason, errors = COALESCE(@errors, errors),
                  change_id = COALESCE(@change, change_id), updated_at = CURRENT_TIMESTAMP()
                WHERE file_id = @fileId AND sha256 = @sha`,
          {
            outcome: p.str(input.outcome),
            reason: p.str(input.reason),
            errors: p.str(input.errors === undefined ? null : JSON.stringify(input.errors)),
            change: p.str(input.changeId ?? null),
            fileId: p.str(input.fileId),
            sha: p.str(input.sha256),
          },
      ),
    );
  }

  // ---------------------------------------------------------------- staging

  async stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
    const name = stagingTable(input.stagingId);
    // A load job (not DML, not streaming): counts toward the 1,500 table operations per day of the staging table only.
    await this.dataset.table(name).load(input.csvPath, {
      sourceFormat: 'CSV',
      skipLeadingRows: 1,
      writeDisposition: 'WRITE_TRUNCATE',
      createDisposition: 'CREATE_IF_NEEDED',
      allowQuotedNewlines: true,
      encoding: 'UTF-8',
      schema: { fields: STAGING_FIELDS.map((c) => ({ name: c.name, type: c.type, mode: c.mode })) },
    });
    const [r] = await this.query(`SELECT COUNT(*) AS n FROM ${this.t(name)}`);
    return { rows: num(r?.n) };
  }

  async dropStaging(stagingId: string): Promise<void> {
    await this.dataset.table(stagingTable(stagingId)).delete({ ignoreNotFound: true });
  }

  // ---------------------------------------------------------------- partition changes

  async replacePartitions(input: ReplaceInput): Promise<ReplaceResult> {
    const staging = this.t(stagingTable(input.stagingId));
    const status = FINAL_STATUS[input.kind];
    return this.retrying(`replace ${input.changeId}`, async () => {
      const applied = await this.changeDates(input.changeId);
      if (applied.length > 0) return { outcome: 'already_applied', changeId: input.changeId, dates: applied };

      const ledger = await this.ledgerRows(input.covers);
      const refused = checkVersions(input, ledger);
      if (refused) return refused;

      const fingerprint = await this.ledgerFingerprint(input.covers);
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
      await this.transaction([
        this.guardStatement(params),
        ...this.archiveStatements(params),
        {
          sql: `INSERT INTO ${this.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                SELECT s.transaction_id, s.account_id, s.event_ts, s.event_date, s.amount, s.currency, s.merchant_id, s.description,
                       @status, ver.to_version, 'file', @file, @change, CURRENT_TIMESTAMP()
                FROM ${staging} s JOIN UNNEST(@versions) AS ver ON ver.event_date = s.event_date`,
          params,
        },
        this.changeStatement(params),
        ...this.ledgerStatements(params, {
          status: p.str(status),
          sequence: p.int(input.sequence),
          file: p.str(input.fileId),
          sealed: p.bool(true),
        }),
      ], async () => this.hooks.beforeReplaceCommit?.(input.changeId));
      return { outcome: 'replaced', changeId: input.changeId, dates: await this.changeDates(input.changeId) };
    });
  }

  /** Fails the transaction when the ledger of `@dates` moved since it was read, or `@change` exists already. */
  private guardStatement(params: Params): Statement {
    return {
      sql: `SELECT IF((${this.fingerprintSql()}) = @fingerprint
                      AND NOT EXISTS (SELECT 1 FROM ${this.t('partition_changes')} WHERE change_id = @change),
                      0, ERROR('${GUARD_MARKER}: partition ledger moved'))`,
      params,
    };
  }

  /** Archive the current rows and ledger entries of `@dates` under `@change`, then clear the dates. */
  private archiveStatements(params: Params): Statement[] {
    return [
      {
        sql: `INSERT INTO ${this.t('transactions_history')} (${TRANSACTION_COLUMN_NAMES}, archived_by_change, archived_at)
              SELECT ${TRANSACTION_COLUMN_NAMES}, @change, CURRENT_TIMESTAMP() FROM ${this.t('transactions')} WHERE event_date IN UNNEST(@dates)`,
        params,
      },
      {
        sql: `INSERT INTO ${this.t('partition_ledger_history')} (${LEDGER_COLUMN_NAMES}, archived_by_change)
              SELECT ${LEDGER_COLUMN_NAMES}, @change FROM ${this.t('partition_ledger')} WHERE event_date IN UNNEST(@dates)`,
        params,
      },
      { sql: `DELETE FROM ${this.t('transactions')} WHERE event_date IN UNNEST(@dates)`, params },
    ];
  }

  /** One partition_changes row per date of `@versions`: totals before (archived by the change) and after. */
  private changeStatement(params: Params): Statement {
    return {
      sql: `INSERT INTO ${this.t('partition_changes')} (change_id, event_date, kind, file_id, sequence, workflow_id, run_id, from_version,
              to_version, from_status, to_status, rows_before, rows_after, totals_before, totals_after, published, changed_at)
            WITH ${totalsJson('old_side', `SELECT event_date, currency, amount FROM ${this.t('transactions_history')}
                                           WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)`)},
                 ${totalsJson('new_side', `SELECT event_date, currency, amount FROM ${this.t('transactions')}
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
  private ledgerStatements(params: Params, entry: { status: Params[string]; sequence: Params[string]; file: Params[string]; sealed: Params[string] }): Statement[] {
    const ledgerParams: Params = { ...params, lstatus: entry.status, lsequence: entry.sequence, lfile: entry.file, lsealed: entry.sealed };
    return [
      { sql: `DELETE FROM ${this.t('partition_ledger')} WHERE event_date IN UNNEST(@dates)`, params },
      {
        sql: `INSERT INTO ${this.t('partition_ledger')} (${LEDGER_COLUMN_NAMES})
              SELECT event_date, @lstatus, to_version, @lsequence, @lfile, @change, rows_after, totals_after, @lsealed, @wf, @run,
                     CURRENT_TIMESTAMP()
              FROM ${this.t('partition_changes')} WHERE change_id = @change`,
        params: ledgerParams,
      },
    ];
  }

  async revertChange(changeId: string): Promise<{ reverted: boolean }> {
    return this.retrying(`revert ${changeId}`, async () => {
      const dates = (await this.changeDates(changeId)).map((d) => d.eventDate);
      if (dates.length === 0) return { reverted: false };
      const ledger = await this.ledgerRows(dates);
      const moved = ledger.filter((l) => l.changeId !== changeId);
      if (moved.length > 0) {
        throw new WarehouseError(
          `change ${changeId} cannot be reverted exactly: ${moved.map((m) => m.eventDate).join(', ')} changed again since`,
          'INVARIANT',
        );
      }
      const params: Params = { change: p.str(changeId), dates: p.dates(dates), fingerprint: p.str(await this.ledgerFingerprint(dates)) };
      await this.transaction([
        {
          sql: `SELECT IF((${this.fingerprintSql()}) = @fingerprint, 0, ERROR('${GUARD_MARKER}: partition ledger moved'))`,
          params,
        },
        { sql: `DELETE FROM ${this.t('transactions')} WHERE event_date IN UNNEST(@dates)`, params },
        {
          sql: `INSERT INTO ${this.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                SELECT ${TRANSACTION_COLUMN_NAMES} FROM ${this.t('transactions_history')}
                WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)`,
          params,
        },
        { sql: `DELETE FROM ${this.t('partition_ledger')} WHERE event_date IN UNNEST(@dates)`, params },
        {
          sql: `INSERT INTO ${this.t('partition_ledger')} (${LEDGER_COLUMN_NAMES})
                SELECT ${LEDGER_COLUMN_NAMES} FROM ${this.t('partition_ledger_history')} WHERE archived_by_change = @change`,
          params,
        },
        ...readmitLateStatements((table) => this.t(table), (column) => `${column} IN UNNEST(@dates)`).map((sql) => ({ sql, params })),
        { sql: `DELETE FROM ${this.t('transactions_history')} WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)`, params },
        { sql: `DELETE FROM ${this.t('partition_ledger_history')} WHERE archived_by_change = @change`, params },
        ...['partition_changes', 'reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries'].map((table) => ({
          sql: `DELETE FROM ${this.t(table)} WHERE change_id = @change`,
          params,
        })),
      ]);
      return { reverted: true };
    });
  }

  async publishChange(changeId: string): Promise<ReconciliationReport[]> {
    const dates = await this.changeDates(changeId);
    if (dates.length === 0) throw new WarehouseError(`change ${changeId} does not exist`, 'NOT_FOUND');
    const params: Params = { change: p.str(changeId), dates: p.dates(dates.map((d) => d.eventDate)), cap: p.int(this.maxReportDiffs) };
    const diffs = `WITH old_side AS (SELECT event_date, transaction_id, amount FROM ${this.t('transactions_history')}
                                     WHERE archived_by_change = @change AND event_date IN UNNEST(@dates)),
             new_side AS (SELECT event_date, transaction_id, amount FROM ${this.t('transactions')}
                          WHERE change_id = @change AND event_date IN UNNEST(@dates)),
             diffs AS (${differingIds('old_side', 'new_side')})`;
    await this.retrying(`publish ${changeId}`, () =>
      this.transaction([
        ...this.clearReportStatements(params),
        {
          sql: `INSERT INTO ${this.t('reconciliation_reports')} (change_id, event_date, compared_with, currency, provisional_rows,
                  provisional_total, final_rows, final_total)
                WITH old_side AS (SELECT event_date, currency, COUNT(*) AS n, SUM(amount) AS total FROM ${this.t('transactions_history')}
                                  WHERE archived_by_change = @change AND event_date IN UNNEST(@dates) GROUP BY event_date, currency),
                     new_side AS (SELECT event_date, currency, COUNT(*) AS n, SUM(amount) AS total FROM ${this.t('transactions')}
                                  WHERE change_id = @change AND event_date IN UNNEST(@dates) GROUP BY event_date, currency),
                     joined AS (SELECT COALESCE(o.event_date, n.event_date) AS event_date, COALESCE(o.currency, n.currency) AS currency,
                                       COALESCE(o.n, 0) AS old_n, COALESCE(o.total, 0) AS old_total,
                                       COALESCE(n.n, 0) AS new_n, COALESCE(n.total, 0) AS new_total
                                FROM old_side o FULL OUTER JOIN new_side n ON n.event_date = o.event_date AND n.currency = o.currency)
                SELECT @change, d.event_date, d.from_status, j.currency, j.old_n, j.old_total, j.new_n, j.new_total
                FROM ${this.t('partition_changes')} d JOIN joined j ON j.event_date = d.event_date
                WHERE d.change_id = @change`,
          params,
        },
        {
          sql: `INSERT INTO ${this.t('reconciliation_diffs')} (change_id, event_date, transaction_id, kind, before_amount, after_amount)
                ${diffs}
                SELECT @change, event_date, transaction_id, kind, before_amount, after_amount FROM diffs
                WHERE TRUE
                QUALIFY ROW_NUMBER() OVER (PARTITION BY event_date ORDER BY kind, transaction_id) <= @cap`,
          params,
        },
        {
          sql: `INSERT INTO ${this.t('reconciliation_summaries')} (${SUMMARY_COLUMNS})
                ${diffs},
                diff_counts AS (SELECT event_date, ${DIFF_KIND_COUNTS} FROM diffs GROUP BY event_date),
                late_counts AS (SELECT event_date, COUNT(*) AS n FROM ${this.t('late_arrivals')}
                                WHERE event_date IN UNNEST(@dates) GROUP BY event_date)
                SELECT @change, d.event_date, COALESCE(dc.n, 0), COALESCE(lc.n, 0),
                       COALESCE(dc.only_in_stream, 0), COALESCE(dc.only_in_file, 0), COALESCE(dc.amount_changed, 0)
                FROM ${this.t('partition_changes')} d
                LEFT JOIN diff_counts dc ON dc.event_date = d.event_date
                LEFT JOIN late_counts lc ON lc.event_date = d.event_date
                WHERE d.change_id = @change`,
          params,
        },
        { sql: `UPDATE ${this.t('partition_changes')} SET published = TRUE WHERE change_id = @change`, params },
      ]),
    );
    const reports: ReconciliationReport[] = [];
    for (const d of dates) {
      const report = await this.reportFor(d.eventDate, changeId);
      if (report) reports.push(report);
    }
    return reports;
  }

  private clearReportStatements(params: Params): Statement[] {
    return ['reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries'].map((table) => ({
      sql: `DELETE FROM ${this.t(table)} WHERE change_id = @change`,
      params,
    }));
  }

  async unpublishChange(changeId: string): Promise<void> {
    const params: Params = { change: p.str(changeId) };
    await this.retrying(`unpublish ${changeId}`, () =>
      this.transaction([
        ...this.clearReportStatements(params),
        { sql: `UPDATE ${this.t('partition_changes')} SET published = FALSE WHERE change_id = @change`, params },
      ]),
    );
  }

  async restoreVersion(input: RestoreInput): Promise<DateChange> {
    return this.retrying(`restore ${input.changeId}`, async () => {
      const [current] = await this.ledgerRows([input.eventDate]);
      const currentVersion = current?.version ?? 0;
      if (current?.pendingChange) {
        throw new WarehouseError(`${input.eventDate} is being changed by ${current.changeId}; retry later`, 'CONFLICT');
      }
      if (input.version >= currentVersion) {
        throw new WarehouseError(`${input.eventDate} is at version ${currentVersion}; only an earlier version can be restored`, 'INVARIANT');
      }
      const [versionInfo] = await this.query(
        `SELECT to_status FROM ${this.t('partition_changes')} WHERE event_date = @date AND to_version = @v LIMIT 1`,
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
        fingerprint: p.str(await this.ledgerFingerprint([input.eventDate])),
        kind: p.str('restore'),
        published: p.bool(false),
      };
      await this.transaction([
        this.guardStatement(params),
        ...this.archiveStatements(params),
        {
          // The archived version is read after this change archived the current one: that copy has another version.
          sql: `INSERT INTO ${this.t('transactions')} (${TRANSACTION_COLUMN_NAMES})
                SELECT transaction_id, account_id, event_ts, event_date, amount, currency, merchant_id, description, status,
                       @toVersion, 'restore', source_id, @change, CURRENT_TIMESTAMP()
                FROM ${this.t('transactions_history')}
                WHERE event_date = @date AND partition_version = @v AND archived_by_change <> @change
                QUALIFY ROW_NUMBER() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1`,
          params,
        },
        this.changeStatement(params),
        ...this.ledgerStatements(params, {
          status: p.str(restoredStatus),
          sequence: p.int(current?.sequence ?? null),
          file: p.str(current?.fileId ?? null),
          sealed: p.bool(current?.sealed ?? false),
        }),
      ]);
      const [change] = await this.changeDates(input.changeId);
      if (!change) throw new WarehouseError(`restore ${input.changeId} was not recorded`, 'INVARIANT');
      return change;
    });
  }

  // ---------------------------------------------------------------- reads

  private async changeDates(changeId: string): Promise<DateChange[]> {
    const rows = await this.query(
      `SELECT *, CAST(event_date AS STRING) AS d FROM ${this.t('partition_changes')} WHERE change_id = @change ORDER BY event_date`,
      { change: p.str(changeId) },
    );
    return rows.map(toDateChange);
  }

  /** The ledger state of some dates as one string, computed by the same SQL before and inside a transaction. */
  private fingerprintSql(): string {
    return `SELECT COALESCE(STRING_AGG(CONCAT(CAST(l.event_date AS STRING), ':', CAST(l.version AS STRING), ':',
                     COALESCE(l.change_id, '-'), ':', IF(COALESCE(pc.published, TRUE), 'p', 'u')), ',' ORDER BY l.event_date), '')
            FROM ${this.t('partition_ledger')} l
            LEFT JOIN (SELECT change_id, LOGICAL_AND(published) AS published FROM ${this.t('partition_changes')} GROUP BY change_id) pc
              ON pc.change_id = l.change_id
            WHERE l.event_date IN UNNEST(@dates)`;
  }

  private async ledgerFingerprint(dates: string[]): Promise<string> {
    const [r] = await this.query(`SELECT (${this.fingerprintSql()}) AS fp`, { dates: p.dates(dates) });
    return String(r?.fp ?? '');
  }

  private async ledgerRows(dates: string[]): Promise<Array<PartitionState & { sealed: boolean; pendingChange: boolean }>> {
    const rows = await this.query(
      `SELECT l.*, CAST(l.event_date AS STRING) AS d, ${ISO_TS('l.updated_at')} AS updated,
              COALESCE(NOT pc.published, FALSE) AS pending
       FROM ${this.t('partition_ledger')} l
       LEFT JOIN (SELECT change_id, LOGICAL_AND(published) AS published FROM ${this.t('partition_changes')} GROUP BY change_id) pc
         ON pc.change_id = l.change_id
       WHERE l.event_date IN UNNEST(@dates) ORDER BY l.event_date`,
      { dates: p.dates(dates) },
    );
    return rows.map((r) => ({ ...toPartitionState(r), sealed: Boolean(r.sealed), pendingChange: Boolean(r.pending) }));
  }

  async getPartitions(dates?: string[]): Promise<PartitionState[]> {
    const stored = dates
      ? await this.ledgerRows(dates)
      : (
          await this.query(
            `SELECT *, CAST(event_date AS STRING) AS d, ${ISO_TS('updated_at')} AS updated FROM ${this.t('partition_ledger')} ORDER BY event_date`,
          )
        ).map(toPartitionState);
    // Dates only the stream has written have no ledger row yet: they are provisional at version 0.
    const streamOnly = await this.query(
      `SELECT CAST(event_date AS STRING) AS d, currency, COUNT(*) AS n, CAST(SUM(amount) AS STRING) AS total
       FROM ${this.t('transactions')}
       WHERE event_date NOT IN (SELECT event_date FROM ${this.t('partition_ledger')})
         AND (@all OR event_date IN UNNEST(@dates))
       GROUP BY event_date, currency ORDER BY d, currency`,
      { all: p.bool(dates === undefined), dates: p.dates(dates ?? []) },
    );
    return withStreamOnlyDates(stored, streamOnly);
  }

  async getChanges(eventDate: string): Promise<PartitionChange[]> {
    const rows = await this.query(
      `SELECT *, CAST(event_date AS STRING) AS d, ${ISO_TS('changed_at')} AS changed FROM ${this.t('partition_changes')}
       WHERE event_date = @date ORDER BY to_version`,
      { date: p.date(eventDate) },
    );
    return rows.map((r) => ({ ...toDateChange(r), ...changeFields(r) }));
  }

  async getReport(eventDate: string): Promise<ReconciliationReport | null> {
    const [latest] = await this.query(
      `SELECT s.change_id FROM ${this.t('reconciliation_summaries')} s
       JOIN ${this.t('partition_changes')} c ON c.change_id = s.change_id AND c.event_date = s.event_date
       WHERE s.event_date = @date ORDER BY c.to_version DESC LIMIT 1`,
      { date: p.date(eventDate) },
    );
    return latest ? this.reportFor(eventDate, String(latest.change_id)) : null;
  }

  private async reportFor(eventDate: string, changeId: string): Promise<ReconciliationReport | null> {
    const params: Params = { date: p.date(eventDate), change: p.str(changeId) };
    const [summary] = await this.query(
      `SELECT * FROM ${this.t('reconciliation_summaries')} WHERE change_id = @change AND event_date = @date`,
      params,
    );
    if (!summary) return null;
    const lines = await this.query(
      `SELECT currency, provisional_rows, CAST(provisional_total AS STRING) AS provisional_total, final_rows,
              CAST(final_total AS STRING) AS final_total
       FROM ${this.t('reconciliation_reports')} WHERE change_id = @change AND event_date = @date ORDER BY currency`,
      params,
    );
    const diffs = await this.query(
      `SELECT transaction_id, kind, CAST(before_amount AS STRING) AS before_amount, CAST(after_amount AS STRING) AS after_amount
       FROM ${this.t('reconciliation_diffs')} WHERE change_id = @change AND event_date = @date ORDER BY kind, transaction_id`,
      params,
    );
    const [change] = await this.query(
      `SELECT from_status FROM ${this.t('partition_changes')} WHERE change_id = @change AND event_date = @date`,
      params,
    );
    return assembleReport(eventDate, changeId, { summary, lines, diffs, fromStatus: change?.from_status });
  }

  async dailyTotals(dates: string[]): Promise<DailyTotal[]> {
    const rows = await this.query(
      `SELECT CAST(event_date AS STRING) AS d, date_status, date_version, currency, row_count, CAST(total_amount AS STRING) AS total
       FROM ${this.t('daily_totals')} WHERE event_date IN UNNEST(@dates) ORDER BY d, currency`,
      { dates: p.dates(dates) },
    );
    return rows.map((r) => ({
      eventDate: String(r.d),
      status: r.date_status as RowStatus,
      version: num(r.date_version),
      currency: String(r.currency),
      rows: num(r.row_count),
      total: amount(r.total),
    }));
  }

  private transactionSelect(table: string): string {
    return `SELECT transaction_id, account_id, ${ISO_TS('event_ts')} AS ts, CAST(event_date AS STRING) AS d, CAST(amount AS STRING) AS amount,
                   currency, merchant_id, description, status, partition_version
            FROM ${this.t(table)}`;
  }

  async readRows(eventDate: string): Promise<Array<Transaction & { status: RowStatus; version: number }>> {
    const rows = await this.query(`${this.transactionSelect('transactions')} WHERE event_date = @date ORDER BY transaction_id`, {
      date: p.date(eventDate),
    });
    return rows.map((r) => ({ ...toTransaction(r), status: r.status as RowStatus, version: num(r.partition_version) }));
  }

  async readVersion(eventDate: string, version: number): Promise<Array<Transaction & { status: RowStatus }>> {
    const rows = await this.query(
      `${this.transactionSelect('transactions_history')}
       WHERE event_date = @date AND partition_version = @v
       QUALIFY ROW_NUMBER() OVER (PARTITION BY transaction_id ORDER BY archived_at) = 1 ORDER BY transaction_id`,
      { date: p.date(eventDate), v: p.int(version) },
    );
    return rows.map((r) => ({ ...toTransaction(r), status: r.status as RowStatus }));
  }

  async readConsumerView(view: ConsumerView, eventDate: string): Promise<ConsumerViewRow[]> {
    const rows = await this.query(
      `SELECT transaction_id, CAST(amount AS STRING) AS amount, status, partition_version FROM ${this.t(consumerView(view))}
       WHERE event_date = @date ORDER BY transaction_id`,
      { date: p.date(eventDate) },
    );
    return rows.map(toConsumerViewRow);
  }

  async countSideTables(): Promise<{ lateArrivals: number; conflicts: number; rejects: number; batches: number }> {
    const [r] = await this.query(
      `SELECT (SELECT COUNT(*) FROM ${this.t('late_arrivals')}) AS late, (SELECT COUNT(*) FROM ${this.t('stream_conflicts')}) AS conflicts,
              (SELECT COUNT(*) FROM ${this.t('stream_rejects')}) AS rejects, (SELECT COUNT(*) FROM ${this.t('stream_batches')}) AS batches`,
    );
    return { lateArrivals: num(r?.late), conflicts: num(r?.conflicts), rejects: num(r?.rejects), batches: num(r?.batches) };
  }

  async streamCursor(sourceId: string): Promise<number> {
    const [r] = await this.query(`SELECT COALESCE(MAX(to_cursor), 0) AS c FROM ${this.t('stream_batches')} WHERE source_id = @source`, { source: p.str(sourceId) });
    return num(r?.c);
  }

  async checksums(): Promise<Record<string, string>> {
    const rows = await this.query(
      DATA_TABLES.map(
        (table) =>
          `SELECT '${table}' AS name, COUNT(*) AS n, CAST(COALESCE(BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(x))), 0) AS STRING) AS h
           FROM ${this.t(table)} x`,
      ).join('\nUNION ALL\n'),
    );
    const out: Record<string, string> = {};
    for (const table of DATA_TABLES) {
      const r = rows.find((row) => row.name === table);
      out[table] = `${num(r?.n)}:${String(r?.h)}`;
    }
    return out;
  }

  async close(): Promise<void> {
    // The REST client holds no connections; the stream path's gRPC connections and classification loop stop here.
    await this.streamPath?.close();
  }
}

const stagingTable = (stagingId: string): string => {
  if (!STAGING_ID.test(stagingId)) throw new WarehouseError(`invalid staging id ${JSON.stringify(stagingId)}`, 'INVARIANT');
  return `staging_${stagingId}`;
};

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const isAlreadyExists = (error: unknown): boolean => (error as { code?: number }).code === 409;

const TRANSIENT_REASONS = new Set(['backendError', 'internalError', 'rateLimitExceeded', 'jobRateLimitExceeded', 'jobBackendError']);

/**
 * Worth another attempt: a concurrent DML or transaction conflict, a guard of ours that saw moved state, or a
 * transient service error. BigQuery reports serialisation conflicts with reason 'invalidQuery' like any SQL error,
 * so its documented message is the only signal.
 */
export const isTransient = (error: unknown): boolean => {
  if (error instanceof WarehouseError) return false;
  const e = error as { code?: number; message?: string; errors?: Array<{ reason?: string; message?: string }> };
  const messages = [e.message ?? '', ...(e.errors ?? []).map((x) => x.message ?? '')].join('\n');
  if (messages.includes(GUARD_MARKER)) return true;
  if (/could not serialize access|concurrent update|transaction is aborted/i.test(messages)) return true;
  if ((e.errors ?? []).some((x) => x.reason !== undefined && TRANSIENT_REASONS.has(x.reason))) return true;
  return e.code === 429 || e.code === 500 || e.code === 502 || e.code === 503;
};

const { toDateChange, toPartitionState, toTransaction } = rowMappers('d');

