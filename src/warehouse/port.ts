/**
 * The warehouse port: the only way workflows' activities touch stored data.
 * Adapters: DuckDB (local default, src/warehouse/duckdb) and BigQuery (src/warehouse/bigquery).
 * Every operation is idempotent or guarded, because activities are retried.
 */
import type { StreamReject } from '../domain/stream-event.js';
import type { FileKind, InputIssue, Transaction } from '../domain/contract.js';

export type RowStatus = 'provisional' | 'reconciled' | 'amended';
export const FINAL_STATUS: Record<FileKind, Exclude<RowStatus, 'provisional'>> = {
  reconciliation: 'reconciled',
  amendment: 'amended',
};

/** An event that failed the contract, kept in quarantine with its reason. */
export type { StreamReject };

export interface StreamBatch {
  /** Deterministic from source and start cursor, so a retried batch is recognised. */
  batchId: string;
  sourceId: string;
  fromCursor: number;
  toCursor: number;
  /** Valid events with their source offsets, in source order. */
  events: Array<Transaction & { offset: number }>;
  rejects: StreamReject[];
  /** Unknown fields ignored in this batch's events (contract: ignored and counted). */
  unknownFields: number;
}

export interface StreamBatchResult {
  inserted: number;
  /** Same id, same content as a row already stored (or earlier in the batch). */
  duplicates: number;
  /** Same id, different content: kept aside in stream_conflicts. */
  conflicts: number;
  /** Events for sealed (reconciled or amended) dates: kept aside in late_arrivals. */
  late: number;
  rejected: number;
  /** True when this batch id had been written before; the counts are the stored ones. */
  alreadyApplied: boolean;
  toCursor: number;
}

export type FileOutcome =
  | 'received'
  | 'rejected'
  | 'refused_stale'
  | 'applied'
  | 'rolled_back'
  /** A compensation failed: the rollback waits for an operator (`cli rollback retry`). */
  | 'needs_operator'
  | 'failed';

export interface FileRecord {
  fileId: string;
  sha256: string;
  clientId: string;
  /** 'unknown' when the manifest could not be read: the file is registered, then rejected. */
  kind: FileKind | 'unknown';
  covers: string[];
  sequence: number;
  rowCount: number;
  dataPath: string;
  workflowId: string;
  runId: string;
  replay: boolean;
}

export interface FileRegistryEntry extends FileRecord {
  outcome: FileOutcome;
  reason: string | null;
  errors: InputIssue[];
  changeId: string | null;
  receivedAt: string;
  updatedAt: string;
}

export interface CurrencyTotal {
  currency: string;
  rows: number;
  /** Exact decimal as text. */
  total: string;
}

export interface PartitionState {
  eventDate: string;
  status: RowStatus;
  version: number;
  sequence: number | null;
  fileId: string | null;
  changeId: string | null;
  rowCount: number;
  totals: CurrencyTotal[];
  updatedAt: string | null;
}

export interface ReplaceInput {
  changeId: string;
  fileId: string;
  stagingId: string;
  kind: FileKind;
  covers: string[];
  sequence: number;
  workflowId: string;
  runId: string;
  /** Operator replay: apply even if a covered date holds a newer sequence. */
  force: boolean;
}

export interface DateChange {
  eventDate: string;
  fromVersion: number;
  toVersion: number;
  fromStatus: RowStatus;
  rowsBefore: number;
  rowsAfter: number;
  totalsBefore: CurrencyTotal[];
  totalsAfter: CurrencyTotal[];
}

export type ReplaceResult =
  | { outcome: 'replaced'; changeId: string; dates: DateChange[] }
  /** The same change id was applied before (a retried activity): nothing done again. */
  | { outcome: 'already_applied'; changeId: string; dates: DateChange[] }
  | { outcome: 'refused_stale'; reason: string; newerSequences: Array<{ eventDate: string; sequence: number }> };

export interface PartitionChange extends DateChange {
  changeId: string;
  kind: 'replace' | 'restore';
  fileId: string | null;
  sequence: number | null;
  workflowId: string;
  runId: string;
  published: boolean;
  changedAt: string;
}

export interface ReportLine {
  currency: string;
  provisionalRows: number;
  provisionalTotal: string;
  finalRows: number;
  finalTotal: string;
}

export interface ReportDiff {
  transactionId: string;
  kind: 'only_in_stream' | 'only_in_file' | 'amount_changed';
  before: string | null;
  after: string | null;
}

export interface DiffKindCounts {
  onlyInStream: number;
  onlyInFile: number;
  amountChanged: number;
}

export interface ReconciliationReport {
  eventDate: string;
  changeId: string;
  /** Status of the version that was replaced (provisional, reconciled, amended). */
  comparedWith: RowStatus;
  lines: ReportLine[];
  diffs: ReportDiff[];
  /** Diffs beyond the stored cap are counted, not listed. */
  diffCount: number;
  /** Every differing id counted by kind in the warehouse (not from the capped list); they add up to `diffCount`. */
  diffKinds: DiffKindCounts;
  lateArrivals: number;
}

export interface DailyTotal {
  eventDate: string;
  /** The date's badge from the partition ledger. */
  status: RowStatus;
  version: number;
  currency: string;
  rows: number;
  total: string;
}

export interface RestoreInput {
  changeId: string;
  eventDate: string;
  /** The archived version to bring back. */
  version: number;
  workflowId: string;
  runId: string;
}

export interface Warehouse {
  readonly engine: 'duckdb' | 'bigquery';
  /** Creates tables and views if missing; safe to run at every start. */
  migrate(): Promise<void>;

  /** Writes one micro-batch as provisional rows, exactly once in effect. */
  writeStreamBatch(batch: StreamBatch): Promise<StreamBatchResult>;

  /** Records a file as received (or returns the existing entry for the same id and digest). */
  registerFile(record: FileRecord): Promise<FileRegistryEntry>;
  getFile(fileId: string, sha256: string): Promise<FileRegistryEntry | null>;
  setFileOutcome(input: {
    fileId: string;
    sha256: string;
    outcome: FileOutcome;
    reason: string | null;
    errors?: InputIssue[];
    changeId?: string | null;
  }): Promise<void>;

  /**
   * Loads the validator's normalised file (FILE_COLUMNS order) into a staging table: a local path, or for BigQuery a
   * `gs://bucket/object` the load job reads itself (the file activities pass one when a staging area is injected).
   */
  stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }>;
  dropStaging(stagingId: string): Promise<void>;

  /**
   * Replaces every covered date's rows with the staged rows in one atomic step, archiving the
   * replaced rows, moving each date's version forward and sealing it against the stream.
   */
  replacePartitions(input: ReplaceInput): Promise<ReplaceResult>;
  /** Saga compensation of replacePartitions: puts back exactly what the change replaced. */
  revertChange(changeId: string): Promise<{ reverted: boolean }>;

  /** Status flip: marks the change published and writes the reconciliation report of each date. */
  publishChange(changeId: string): Promise<ReconciliationReport[]>;
  /** Saga compensation of publishChange. */
  unpublishChange(changeId: string): Promise<void>;

  /**
   * Brings back an archived version of a date as a new version (operator action). Like a replacement it is
   * refused (CONFLICT, retry later) while the date has an unpublished change, and stays unpublished itself until
   * `publishChange` writes its report against the version it replaced; `revertChange` undoes it.
   */
  restoreVersion(input: RestoreInput): Promise<DateChange>;

  // Reads for operators, reports and tests.
  getPartitions(dates?: string[]): Promise<PartitionState[]>;
  getChanges(eventDate: string): Promise<PartitionChange[]>;
  getReport(eventDate: string): Promise<ReconciliationReport | null>;
  dailyTotals(dates: string[]): Promise<DailyTotal[]>;
  /** Rows of a date as stored now, ordered by transaction id (tests and the CLI's diff). */
  readRows(eventDate: string): Promise<Array<Transaction & { status: RowStatus; version: number }>>;
  /** Rows of an archived version of a date. */
  readVersion(eventDate: string, version: number): Promise<Array<Transaction & { status: RowStatus }>>;
  countSideTables(): Promise<{ lateArrivals: number; conflicts: number; rejects: number; batches: number }>;
  /** The end cursor of the last batch recorded for a source (0 if none): where a restarted stream resumes. */
  streamCursor(sourceId: string): Promise<number>;
  /** A checksum per table, for proving that a rollback left everything as it was. */
  checksums(): Promise<Record<string, string>>;

  close(): Promise<void>;
}

/** Views the consumers read: finance sees final rows only, operations every row with its date's badge. */
export type ConsumerView = 'finance_transactions' | 'operations_transactions';

export interface ConsumerViewRow {
  transactionId: string;
  amount: string;
  status: RowStatus;
  version: number;
}

/** Reads a date through a consumer view, as a consumer's query would (tests of what readers see; not in the port). */
export interface ConsumerViews {
  readConsumerView(view: ConsumerView, eventDate: string): Promise<ConsumerViewRow[]>;
}

/** Test seams of an adapter; production never sets them. */
export interface WarehouseHooks {
  /** Awaited once a replacement has decided and written what it will commit, before it commits. */
  beforeReplaceCommit?: (changeId: string) => Promise<void>;
  /** BigQuery: awaited before each job is sent; a test throws from it to stand for an error of the service. */
  beforeJob?: (sql: string) => Promise<void>;
}

/** Raised by adapters for errors that retrying cannot fix (bad configuration, broken invariants). */
export class WarehouseError extends Error {
  constructor(
    message: string,
    readonly code: 'CONFIG' | 'INVARIANT' | 'NOT_FOUND' | 'CONFLICT',
  ) {
    super(message);
    this.name = 'WarehouseError';
  }
}
