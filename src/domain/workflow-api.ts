/**
 * Names shared by workflows, the worker, the CLI and the Temporal UI: search attributes, signals, queries,
 * and workflow id builders. Pure: safe inside the workflow sandbox.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FileKind } from './contract.js';

/**
 * Where a delivery is kept after its run: applied (`processed`), refused for an older sequence (`refused`, kept for
 * an operator's replay), or rejected (`quarantine`, with its error report).
 */
export type LandingArea = 'processed' | 'refused' | 'quarantine';
/** The order in which a replay looks for a file id's kept deliveries. */
export const REPLAYABLE_AREAS: readonly LandingArea[] = ['processed', 'refused', 'quarantine'];
/** Where to read a file from: just landed, or a kept delivery (operator replays). */
export type StoredIn = 'incoming' | { area: LandingArea; sha256: string };

/** Custom search attributes; the local stack registers them (scripts/temporal.sh), production once per namespace. */
export const searchAttributes = {
  ClientId: defineSearchAttributeKey('ClientId', SearchAttributeType.KEYWORD),
  EventDates: defineSearchAttributeKey('EventDates', SearchAttributeType.KEYWORD_LIST),
  FileKind: defineSearchAttributeKey('FileKind', SearchAttributeType.KEYWORD),
  FileId: defineSearchAttributeKey('FileId', SearchAttributeType.KEYWORD),
  Stage: defineSearchAttributeKey('Stage', SearchAttributeType.KEYWORD),
  LateFile: defineSearchAttributeKey('LateFile', SearchAttributeType.BOOL),
  StreamSource: defineSearchAttributeKey('StreamSource', SearchAttributeType.KEYWORD),
  Sequence: defineSearchAttributeKey('Sequence', SearchAttributeType.INT),
} as const;

/** `temporal server start-dev --search-attribute` arguments for the keys above. */
export const SEARCH_ATTRIBUTE_FLAGS: Record<keyof typeof searchAttributes, string> = {
  ClientId: 'Keyword',
  EventDates: 'KeywordList',
  FileKind: 'Keyword',
  FileId: 'Keyword',
  Stage: 'Keyword',
  LateFile: 'Bool',
  StreamSource: 'Keyword',
  Sequence: 'Int',
};

export type FileStage =
  | 'register'
  | 'duplicate'
  | 'validate'
  | 'rejected'
  | 'stage'
  | 'replace'
  | 'refused'
  | 'publish'
  | 'applied'
  | 'rolling_back'
  | 'rolled_back'
  | 'needs_operator';

export interface FileProgress {
  stage: FileStage;
  detail: string;
  fileId: string;
  covers: string[];
}
export const fileProgressQuery = defineQuery<FileProgress>('fileProgress');
/** Operator: run again the compensations of a file whose rollback failed (Stage=needs_operator). */
export const retryRollbackSignal = defineSignal<[{ requestedBy?: string }]>('retryRollback');

/** Workflow ids are business keys: a second delivery of the same file is a conflict, not a second run. */
export const workflowIds = {
  file: (clientId: string, kind: FileKind | 'unknown', covers: string[], fileId: string, sha256: string): string =>
    `${kind === 'reconciliation' ? 'reconcile' : kind === 'amendment' ? 'amend' : 'file'}/${clientId}/${covers[0] ?? 'none'}${covers.length > 1 ? `+${covers.length - 1}` : ''}/${fileId}/${sha256.slice(0, 8)}`,
  replay: (clientId: string, fileId: string, sha256: string, requestId: string): string =>
    `replay/${clientId}/${fileId}/${sha256.slice(0, 8)}/${requestId}`,
  stream: (sourceId: string): string => `stream/${sourceId}`,
  /** The supervisor that keeps one stream per partition of a Kafka topic. */
  kafkaSupervisor: (topic: string): string => `streams/kafka:${topic}`,
  daily: (clientId: string, eventDate: string): string => `daily/${clientId}/${eventDate}`,
  landing: (clientId: string): string => `landing/${clientId}`,
  restore: (clientId: string, eventDate: string, toVersion: number, requestId: string): string =>
    `restore/${clientId}/${eventDate}/v${toVersion}/${requestId}`,
};

/**
 * The staging id of a file workflow run: `f_` and its run id's letters and digits, lower-cased. The workflow names its
 * staging table with it and the validate activity its staged object, so both derive it here and never disagree.
 */
export const stagingIdOf = (runId: string): string => `f_${runId.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;

/**
 * Isolated workloads: the stream, file work and operations each have their own task queue (`<TASK_QUEUE>-stream`,
 * `-files`, `-ops`), so a 10M-row validation never takes a slot the stream needs. `shared` is `<TASK_QUEUE>` itself:
 * every workload on one queue, as before the split (runs started then finish there; tests run one queue).
 */
export const WORKLOADS = ['stream', 'files', 'ops'] as const;
export type Workload = (typeof WORKLOADS)[number];
export type QueueName = Workload | 'shared';
export const QUEUE_NAMES: readonly QueueName[] = [...WORKLOADS, 'shared'];

/** The task queue of a workload. */
export const workloadQueue = (base: string, workload: Workload): string => `${base}-${workload}`;

/**
 * The queue of `workload` as seen from a run on `current` (workflow code and activities): a workload queue's sibling,
 * or `current` itself when it is a shared queue (everything on one queue).
 */
export const siblingQueue = (current: string, workload: Workload): string => {
  const own = WORKLOADS.find((w) => current.endsWith(`-${w}`));
  return own === undefined ? current : `${current.slice(0, current.length - own.length)}${workload}`;
};

/** Which workload runs each workflow type. */
export const WORKLOAD_OF_WORKFLOW = {
  streamWorkflow: 'stream',
  kafkaSupervisorWorkflow: 'stream',
  fileWorkflow: 'files',
  dailyWorkflow: 'ops',
  landingWorkflow: 'ops',
  restoreWorkflow: 'ops',
} as const satisfies Record<string, Workload>;

/** Signals and queries of the other workflows, defined here so the CLI can use them without importing workflow code. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const flushSignal = defineSignal('flush');
export interface ReplayRequest {
  fileId: string;
  /** Optional: a specific delivery of that file id. */
  sha256?: string;
  requestedBy?: string;
}
export const replayFileSignal = defineSignal<[ReplayRequest]>('replayFile');
export interface FileLanded {
  fileId: string;
  sha256: string;
  kind: FileKind;
  covers: string[];
  workflowId: string;
}
export const fileLandedSignal = defineSignal<[FileLanded]>('fileLanded');

/** What the stream has done since it started (carried across continue-as-new). */
export interface StreamCounters {
  batches: number;
  read: number;
  written: number;
  duplicates: number;
  conflicts: number;
  late: number;
  rejected: number;
  unknownFields: number;
}

export interface StreamProgress extends StreamCounters {
  sourceId: string;
  /** Next offset the stream will read; everything before it is durable in the warehouse. */
  cursor: number;
  headCursor: number;
  lag: number;
  paused: boolean;
  lastBatchAt: string | null;
  /**
   * When the source last answered a read, even with nothing (workflow time). Older than a few batch waits while
   * the stream is not paused: the source is unreachable and the stream is stalled (it retries until it answers).
   */
  lastReadAt?: string | null;
  generation: number;
  /** Why the stream is parked (a non-retryable error; `resume` retries), or null. */
  parked: string | null;
}
export const streamProgressQuery = defineQuery<StreamProgress>('streamProgress');

/** What the stream's updates answer: everything before `cursor` is durable in the warehouse. */
export interface DurableCursor {
  cursor: number;
  headCursor: number;
  paused: boolean;
  parked: string | null;
}
/**
 * `pause` and `flush` as Updates (same names as the signals, which stay for the UI and `temporal workflow signal`):
 * pause answers once no batch is in flight, flush once a batch has been cut and written, each with the durable cursor.
 */
export const pauseUpdate = defineUpdate<DurableCursor>('pause');
export const flushUpdate = defineUpdate<DurableCursor>('flush');

/** What the supervisor of a topic's streams knows. */
export interface SupervisorProgress {
  topic: string;
  /** Partitions whose stream workflow runs (started or attached to by this supervisor). */
  partitions: number[];
  /** Last successful look at the topic's partitions (workflow time, ISO 8601). */
  lastDiscoveryAt: string | null;
}
export const supervisorProgressQuery = defineQuery<SupervisorProgress>('supervisorProgress');

/** One supervisor per topic: starts or attaches to `stream/kafka:<topic>:<partition>` for each partition. */
export interface KafkaSupervisorInput {
  topic: string;
  clientId: string;
  maxRows: number;
  maxWaitMs: number;
  /** How often the topic is checked for new partitions (default 10 s). */
  discoverEveryMs?: number;
  /** Passed to every stream (tests, benchmarks): end at this offset; continue-as-new after so many batches. */
  streamStopAt?: number;
  streamMaxBatchesPerRun?: number;
  /** The engine's stream activity kind, passed to every stream (BigQuery: regular activities; DuckDB: local). */
  streamActivityKind?: 'local' | 'regular';
  /** Ends the supervisor once this many partitions have streams (tests); unset runs forever. */
  stopAfterPartitions?: number;
  /** Carried across continue-as-new. */
  partitions?: number[];
}

/** One delivered file, as the landing watcher, the CLI and replays start it. */
export interface FileWorkflowInput {
  clientId: string;
  fileId: string;
  /** Digest from the manifest; validation checks the bytes against it. */
  sha256: string;
  /** From a first read of the manifest, for ids and search attributes; validation has the final word. */
  kind: FileKind | 'unknown';
  covers: string[];
  sequence: number;
  /** Where the file is read from: the landing area, or a kept copy for a replay. */
  from: StoredIn;
  /** The client's business date when the file was picked up; a file covering a later date is rejected. */
  today?: string;
  /** Operator replay: reruns a stored file, even over a newer sequence. */
  replay: boolean;
}

/** What a file run returns: counts and versions per date, never rows. */
export interface FileWorkflowResult {
  outcome: 'applied' | 'duplicate';
  changeId: string | null;
  dates: Array<{ eventDate: string; fromVersion: number; toVersion: number; rowsBefore: number; rowsAfter: number; diffCount: number }>;
}

/** The file workflow's signature, for typed handles outside the workflow bundle. */
export type FileWorkflowFn = (input: FileWorkflowInput) => Promise<FileWorkflowResult>;

/**
 * An operator's restore of a date to an earlier version (`npm run cli -- restore <date> --to-version N`, or
 * "Start Workflow" in the Temporal UI: type `restoreWorkflow`, this object as input).
 */
export interface RestoreWorkflowInput {
  clientId: string;
  /** YYYY-MM-DD. */
  eventDate: string;
  /** The archived version to bring back; it becomes the date's next version. */
  toVersion: number;
  requestedBy?: string;
}

export type RestoreStage = 'restore' | 'publish' | 'restored' | 'rolling_back' | 'rolled_back';

export interface RestoreWorkflowResult {
  changeId: string;
  eventDate: string;
  /** The version that was replaced, and the new one holding the restored rows. */
  fromVersion: number;
  toVersion: number;
  restoredVersion: number;
  rowsBefore: number;
  rowsAfter: number;
  /** Transactions that differ from the replaced version (the report's count). */
  diffCount: number;
}

export type RestoreWorkflowFn = (input: RestoreWorkflowInput) => Promise<RestoreWorkflowResult>;
export const restoreProgressQuery = defineQuery<{ stage: RestoreStage; detail: string }>('restoreProgress');
