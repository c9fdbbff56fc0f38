/**
 * The stream's one activity: read a micro-batch from the source at the workflow's cursor, check it against
 * the contract, write it idempotently, and return the new cursor and counts (never the rows).
 */
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { parseStreamRecords, type ParsedStreamRecords } from '../domain/stream-event.js';
import type { SourceLookup, TransactionSource } from '../sources/source.js';
import type { StreamBatch, Warehouse } from '../warehouse/port.js';
import { warehouseCall, whileBeating } from './warehouse-call.js';
import type { FaultInjector } from './file-activities.js';

export interface StreamMetrics {
  /** Called once the batch is durable, with each record's emitted time. */
  batchWritten(input: { sourceId: string; emittedAtMs: number[]; durableAtMs: number; inserted: number; late: number; rejected: number; conflicts: number; lag: number }): void;
  /** The stream of a source parked on a non-retryable error (reason) or resumed (null). */
  streamParked?(sourceId: string, reason: string | null): void;
  /** A read from the source answered (possibly with nothing), or failed: a broker that is down shows as a stall. */
  sourceRead?(input: { sourceId: string; ok: boolean; atMs: number }): void;
}

export interface StreamActivityDeps {
  warehouse: Warehouse;
  sources: SourceLookup;
  timeZone: string;
  metrics?: StreamMetrics;
  faults?: FaultInjector;
  now?: () => number;
  /**
   * How often a batch run as a regular activity (BigQuery) beats while it reads and writes, well inside the
   * stream workflow's heartbeat timeout for it (30 s). Default 5 s.
   */
  heartbeatEveryMs?: number;
}

export interface ProcessBatchInput {
  sourceId: string;
  fromCursor: number;
  maxRows: number;
  maxWaitMs: number;
  /**
   * Size trigger for callers that keep the time trigger themselves (the stream workflow): with fewer records
   * available than this, nothing is written and the result says `deferred`.
   */
  minRows?: number;
}

export interface ProcessBatchResult {
  toCursor: number;
  headCursor: number;
  read: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  late: number;
  rejected: number;
  unknownFields: number;
  alreadyApplied: boolean;
  writtenAt: string;
  /** Fewer than `minRows` records were available: nothing was written, the cursor did not move. */
  deferred: boolean;
}

const unknownFieldsBetween = async (
  source: TransactionSource,
  input: ProcessBatchInput,
  toCursor: number,
  timeZone: string,
  signal: AbortSignal,
): Promise<number> => {
  if (toCursor <= input.fromCursor) return 0;
  const again = await source.read({ fromCursor: input.fromCursor, maxRows: toCursor - input.fromCursor, maxWaitMs: 0, signal });
  return parseStreamRecords({ sourceId: input.sourceId, records: again.records, timeZone }).unknownFields;
};

/**
 * The batch that records [fromCursor, toCursor) of a source make once parsed. The start cursor names it: a retry
 * after a crash is recognised and not written twice.
 */
export const streamBatchOf = (input: { sourceId: string; fromCursor: number; toCursor: number; parsed: ParsedStreamRecords }): StreamBatch => ({
  batchId: `${input.sourceId}@${input.fromCursor}`,
  sourceId: input.sourceId,
  fromCursor: input.fromCursor,
  toCursor: input.toCursor,
  events: input.parsed.events.map((e, i) => ({ ...e, offset: input.parsed.offsets[i] ?? -1 })),
  rejects: input.parsed.rejects,
  unknownFields: input.parsed.unknownFields,
});

export const createStreamActivities = ({ warehouse, sources, timeZone, metrics, faults, now = Date.now, heartbeatEveryMs = 5_000 }: StreamActivityDeps) => {
  const processBatch = async (input: ProcessBatchInput): Promise<ProcessBatchResult> => {
    const ctx = Context.current();
    const source = sources.get(input.sourceId);
    if (!source) throw ApplicationFailure.nonRetryable(`no source ${input.sourceId} on this worker`, 'UnknownSource');
    await faults?.before('stream.read', ctx.info.attempt);
    const read = await source
      .read({ fromCursor: input.fromCursor, maxRows: input.maxRows, maxWaitMs: input.maxWaitMs, signal: ctx.cancellationSignal })
      .catch((error: unknown) => {
        metrics?.sourceRead?.({ sourceId: input.sourceId, ok: false, atMs: now() });
        throw error;
      });
    metrics?.sourceRead?.({ sourceId: input.sourceId, ok: true, atMs: now() });
    if (!ctx.info.isLocal) ctx.heartbeat({ read: read.records.length });
    if (read.records.length < (input.minRows ?? 0)) {
      const zero = { inserted: 0, duplicates: 0, conflicts: 0, late: 0, rejected: 0, unknownFields: 0 };
      return { ...zero, toCursor: input.fromCursor, headCursor: read.headCursor, read: 0, alreadyApplied: false, writtenAt: '', deferred: true };
    }
    const parsed = parseStreamRecords({ sourceId: input.sourceId, records: read.records, timeZone });
    if (!ctx.info.isLocal) ctx.heartbeat({ read: read.records.length, parsed: parsed.events.length });
    await faults?.before('stream.write', ctx.info.attempt);
    const result = await warehouseCall('stream.write', () =>
      warehouse.writeStreamBatch(streamBatchOf({ sourceId: input.sourceId, fromCursor: input.fromCursor, toCursor: read.nextCursor, parsed })),
    );
    await faults?.before('stream.ack', ctx.info.attempt);
    source.acknowledge?.(result.toCursor);
    const durableAtMs = now();
    if (!result.alreadyApplied) {
      metrics?.batchWritten({
        sourceId: input.sourceId,
        emittedAtMs: read.records.map((r) => r.emittedAtMs),
        durableAtMs,
        inserted: result.inserted,
        late: result.late,
        rejected: result.rejected,
        conflicts: result.conflicts,
        lag: Math.max(0, read.headCursor - result.toCursor),
      });
    }
    // A batch written before a crash may have covered a different range than this read: the stored cursor wins,
    // and the unknown-field count is taken over that stored range (reads are repeatable).
    const unknownFields =
      result.alreadyApplied && result.toCursor !== read.nextCursor
        ? await unknownFieldsBetween(source, input, result.toCursor, timeZone, ctx.cancellationSignal)
        : parsed.unknownFields;
    return {
      toCursor: result.toCursor,
      headCursor: read.headCursor,
      read: result.toCursor - input.fromCursor,
      inserted: result.inserted,
      duplicates: result.duplicates,
      conflicts: result.conflicts,
      late: result.late,
      rejected: result.rejected,
      unknownFields,
      alreadyApplied: result.alreadyApplied,
      writtenAt: new Date(durableAtMs).toISOString(),
      deferred: false,
  };
  };

  return {
    /** Where a stream started without a cursor resumes: the end of the last batch the warehouse recorded for it. */
    async resumeCursor(input: { sourceId: string }): Promise<number> {
      return warehouse.streamCursor(input.sourceId);
    },

    /** The parked-stream alert: an error log line and the `pipeline_stream_parked` gauge; `reason: null` clears it. */
    async reportStreamParked(input: { sourceId: string; workflowId: string; cursor: number; reason: string | null }): Promise<void> {
      if (input.reason === null) log.info('stream resumed after being parked', { ...input });
      else log.error(`STREAM PARKED: ${input.sourceId} at offset ${input.cursor}: ${input.reason}`, { ...input });
      metrics?.streamParked?.(input.sourceId, input.reason);
    },

    /**
     * A batch: read, parse, write. As a regular activity (BigQuery) it beats all along, so a worker that dies mid-batch
     * is noticed within the heartbeat timeout, not the start-to-close timeout.
     */
    async processBatch(input: ProcessBatchInput): Promise<ProcessBatchResult> {
      return Context.current().info.isLocal ? processBatch(input) : whileBeating(heartbeatEveryMs, () => processBatch(input));
    },
  };
};
