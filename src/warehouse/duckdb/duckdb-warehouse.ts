/**
 * The embedded warehouse (local default): one DuckDB database file, opened by one process (the worker).
 * Writes are serialised through one connection and run as transactions, so a partition replacement and a
 * stream micro-batch never interleave; reads use a second connection and see committed snapshots only.
 * This class composes the role files beside it; the rules both engines follow are in ../core/.
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
  WarehouseHooks,
} from '../port.js';
import { DuckDbConnections, type ConnectionOptions } from './connection.js';
import { dropStaging, fileEntry, registerFile, setFileOutcome, stageFile } from './file-registry.js';
import { replacePartitions, restoreVersion, revertChange } from './partition-changes.js';
import * as reads from './reads.js';
import { getReport, publishChange, unpublishChange } from './reports.js';
import { migrate } from './schema.js';
import { writeStreamBatch } from './stream-writes.js';

export interface DuckDbWarehouseOptions extends ConnectionOptions {
  /** Diffs stored per date in a reconciliation report; the rest are counted. */
  maxReportDiffs?: number;
  hooks?: WarehouseHooks;
}

export class DuckDbWarehouse implements Warehouse, ConsumerViews {
  readonly engine = 'duckdb' as const;
  private readonly maxReportDiffs: number;
  private readonly hooks: WarehouseHooks;

  private constructor(
    private readonly db: DuckDbConnections,
    options: DuckDbWarehouseOptions,
  ) {
    this.maxReportDiffs = options.maxReportDiffs ?? 1000;
    this.hooks = options.hooks ?? {};
  }

  static async open(options: DuckDbWarehouseOptions): Promise<DuckDbWarehouse> {
    const warehouse = new DuckDbWarehouse(await DuckDbConnections.open(options), options);
    await warehouse.migrate();
    return warehouse;
  }

  migrate(): Promise<void> {
    return migrate(this.db);
  }

  writeStreamBatch(batch: StreamBatch): Promise<StreamBatchResult> {
    return writeStreamBatch(this.db, batch);
  }

  registerFile(record: FileRecord): Promise<FileRegistryEntry> {
    return registerFile(this.db, record);
  }

  getFile(fileId: string, sha256: string): Promise<FileRegistryEntry | null> {
    return fileEntry(this.db.reader, fileId, sha256);
  }

  setFileOutcome(input: Parameters<Warehouse['setFileOutcome']>[0]): Promise<void> {
    return setFileOutcome(this.db, input);
  }

  stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
    return stageFile(this.db, input);
  }

  dropStaging(stagingId: string): Promise<void> {
    return dropStaging(this.db, stagingId);
  }

  replacePartitions(input: ReplaceInput): Promise<ReplaceResult> {
    return replacePartitions(this.db, this.hooks, input);
  }

  revertChange(changeId: string): Promise<{ reverted: boolean }> {
    return revertChange(this.db, changeId);
  }

  publishChange(changeId: string): Promise<ReconciliationReport[]> {
    return publishChange(this.db, changeId, this.maxReportDiffs);
  }

  unpublishChange(changeId: string): Promise<void> {
    return unpublishChange(this.db, changeId);
  }

  restoreVersion(input: RestoreInput): Promise<DateChange> {
    return restoreVersion(this.db, input);
  }

  getPartitions(dates?: string[]): Promise<PartitionState[]> {
    return reads.getPartitions(this.db.reader, dates);
  }

  getChanges(eventDate: string): Promise<PartitionChange[]> {
    return reads.getChanges(this.db.reader, eventDate);
  }

  getReport(eventDate: string): Promise<ReconciliationReport | null> {
    return getReport(this.db.reader, eventDate);
  }

  dailyTotals(dates: string[]): Promise<DailyTotal[]> {
    return reads.dailyTotals(this.db.reader, dates);
  }

  readRows(eventDate: string): Promise<Array<Transaction & { status: RowStatus; version: number }>> {
    return reads.readRows(this.db.reader, eventDate);
  }

  readVersion(eventDate: string, version: number): Promise<Array<Transaction & { status: RowStatus }>> {
    return reads.readVersion(this.db.reader, eventDate, version);
  }

  readConsumerView(view: ConsumerView, eventDate: string): Promise<ConsumerViewRow[]> {
    return reads.readConsumerView(this.db.reader, view, eventDate);
  }

  countSideTables(): Promise<{ lateArrivals: number; conflicts: number; rejects: number; batches: number }> {
    return reads.countSideTables(this.db.reader);
  }

  streamCursor(sourceId: string): Promise<number> {
    return reads.streamCursor(this.db.reader, sourceId);
  }

  checksums(): Promise<Record<string, string>> {
    return reads.checksums(this.db.reader);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
