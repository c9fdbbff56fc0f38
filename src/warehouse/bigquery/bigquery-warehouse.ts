/**
 * The BigQuery warehouse: one dataset, the same model and semantics as the DuckDB adapter (docs/warehouse.md).
 * Every write is one multi-statement transaction (a script) that first touches the write fence, so writers are
 * serialised and no reader sees half a change. Provisional rows are written by DML or the Storage Write API, never by
 * the legacy streaming insert API, whose rows DML cannot change for about 30 minutes.
 *
 * This class only composes the roles: connection.ts (jobs, scripts, retries), schema.ts, stream-dml.ts and
 * stream-sink.ts (stream writes), file-registry.ts, staging.ts, partition-changes.ts, reports.ts, reads.ts.
 */
import type { Transaction } from '../../domain/contract.js';
import type {
  ConsumerView,
  ConsumerViewRow,
  ConsumerViews,
  DailyTotal,
  DateChange,
  FileRecord,
  FileRegistryEntry,
  PartitionChange,
  PartitionState,
  ReconciliationReport,
  ReplaceInput,
  ReplaceResult,
  RestoreInput,
  RowStatus,
  StreamBatch,
  StreamBatchResult,
  Warehouse,
} from '../port.js';
import { BigQueryConnection, type BigQueryWarehouseOptions } from './connection.js';
import { FileRegistry } from './file-registry.js';
import { Ledger } from './ledger.js';
import { PartitionChanges } from './partition-changes.js';
import { Reads } from './reads.js';
import { Reports } from './reports.js';
import { migrateTables } from './schema.js';
import { Staging } from './staging.js';
import { DmlStreamPath } from './stream-dml.js';
import { BigQueryStreamPath } from './stream-sink.js';

export type { BigQueryWarehouseOptions } from './connection.js';
export { isTransient } from './connection.js';

export class BigQueryWarehouse implements Warehouse, ConsumerViews {
  readonly engine = 'bigquery' as const;
  /** The Storage Write stream path when configured (its classification can be run on demand by tests and benchmarks). */
  readonly streamPath: BigQueryStreamPath | undefined;
  private readonly c: BigQueryConnection;
  private readonly dml: DmlStreamPath;
  private readonly files: FileRegistry;
  private readonly staging: Staging;
  private readonly changes: PartitionChanges;
  private readonly reports: Reports;
  private readonly reads: Reads;

  constructor(options: BigQueryWarehouseOptions) {
    this.c = new BigQueryConnection(options);
    const ledger = new Ledger(this.c);
    this.dml = new DmlStreamPath(this.c);
    this.files = new FileRegistry(this.c);
    this.staging = new Staging(this.c);
    this.reports = new Reports(this.c, ledger);
    this.changes = new PartitionChanges(this.c, ledger, this.reports);
    this.reads = new Reads(this.c, ledger);
    this.streamPath = options.streamSink
      ? new BigQueryStreamPath(
          this.c.bq,
          (n) => this.c.t(n),
          { ...options.streamSink, projectId: options.projectId, datasetId: options.datasetId, location: options.location },
          (sql) => this.c.query(sql, {}, { role: 'stream-sink' }),
        )
      : undefined;
  }

  /** Builds the adapter and runs the (idempotent) migrations. */
  static async open(options: BigQueryWarehouseOptions): Promise<BigQueryWarehouse> {
    const warehouse = new BigQueryWarehouse(options);
    await warehouse.migrate();
    return warehouse;
  }

  async migrate(): Promise<void> {
    await migrateTables(this.c);
    await this.staging.migrate();
    await this.streamPath?.migrate();
  }

  writeStreamBatch(batch: StreamBatch): Promise<StreamBatchResult> {
    return this.streamPath ? this.streamPath.write(batch) : this.dml.write(batch);
  }

  registerFile(record: FileRecord): Promise<FileRegistryEntry> {
    return this.files.registerFile(record);
  }

  getFile(fileId: string, sha256: string): Promise<FileRegistryEntry | null> {
    return this.files.getFile(fileId, sha256);
  }

  setFileOutcome(input: Parameters<Warehouse['setFileOutcome']>[0]): Promise<void> {
    return this.files.setFileOutcome(input);
  }

  stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
    return this.staging.stageFile(input);
  }

  dropStaging(stagingId: string): Promise<void> {
    return this.staging.dropStaging(stagingId);
  }

  replacePartitions(input: ReplaceInput): Promise<ReplaceResult> {
    return this.changes.replacePartitions(input);
  }

  revertChange(changeId: string): Promise<{ reverted: boolean }> {
    return this.changes.revertChange(changeId);
  }

  restoreVersion(input: RestoreInput): Promise<DateChange> {
    return this.changes.restoreVersion(input);
  }

  publishChange(changeId: string): Promise<ReconciliationReport[]> {
    return this.reports.publishChange(changeId);
  }

  unpublishChange(changeId: string): Promise<void> {
    return this.changes.unpublishChange(changeId);
  }

  getReport(eventDate: string): Promise<ReconciliationReport | null> {
    return this.reports.getReport(eventDate);
  }

  getPartitions(dates?: string[]): Promise<PartitionState[]> {
    return this.reads.getPartitions(dates);
  }

  getChanges(eventDate: string): Promise<PartitionChange[]> {
    return this.reads.getChanges(eventDate);
  }

  dailyTotals(dates: string[]): Promise<DailyTotal[]> {
    return this.reads.dailyTotals(dates);
  }

  readRows(eventDate: string): Promise<Array<Transaction & { status: RowStatus; version: number }>> {
    return this.reads.readRows(eventDate);
  }

  readVersion(eventDate: string, version: number): Promise<Array<Transaction & { status: RowStatus }>> {
    return this.reads.readVersion(eventDate, version);
  }

  readConsumerView(view: ConsumerView, eventDate: string): Promise<ConsumerViewRow[]> {
    return this.reads.readConsumerView(view, eventDate);
  }

  countSideTables(): Promise<{ lateArrivals: number; conflicts: number; rejects: number; batches: number }> {
    return this.reads.countSideTables();
  }

  streamCursor(sourceId: string): Promise<number> {
    return this.reads.streamCursor(sourceId);
  }

  checksums(): Promise<Record<string, string>> {
    return this.reads.checksums();
  }

  async close(): Promise<void> {
    // The REST client holds no connections; the stream path's gRPC connections and classification loop stop here.
    await this.streamPath?.close();
  }
}
