/**
 * The long-running stream: one workflow per source partition pulls micro-batches and writes them as
 * provisional rows. Its state is the cursor (next offset) and counters; rows never enter its history.
 * The cursor moves only after the batch is durable in the warehouse.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createStreamActivities } from '../activities/stream-activities.js';
import { flushSignal, pauseSignal, resumeSignal, searchAttributes, streamProgressQuery, type StreamProgress } from './definitions.js';

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

export interface StreamWorkflowInput {
  sourceId: string;
  clientId: string;
  /** Next offset to read. */
  cursor: number;
  counters?: StreamCounters;
  paused?: boolean;
  maxRows: number;
  maxWaitMs: number;
  /** Ends the workflow once the cursor reaches this offset (demos, tests, benchmarks); unset runs forever. */
  stopAt?: number;
  /** Continue-as-new generations so far, for the UI. */
  generation?: number;
  /** Carried across continue-as-new so the progress query keeps answering "when was the last write". */
  lastBatchAt?: string | null;
}

export const emptyCounters = (): StreamCounters => ({
  batches: 0,
  read: 0,
  written: 0,
  duplicates: 0,
  conflicts: 0,
  late: 0,
  rejected: 0,
  unknownFields: 0,
});

const { processBatch } = proxyActivities<ReturnType<typeof createStreamActivities>>({
  startToCloseTimeout: '2m',
  // The activity heartbeats after reading and before writing: a worker that dies mid-batch is noticed within this.
  heartbeatTimeout: '10s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: ['WarehouseInvariant'] },
});

export async function streamWorkflow(input: StreamWorkflowInput): Promise<StreamProgress> {
  let cursor = input.cursor;
  let paused = input.paused ?? false;
  let flushRequested = false;
  const counters = input.counters ?? emptyCounters();
  let headCursor = cursor;
  let lastBatchAt: string | null = input.lastBatchAt ?? null;
  const generation = input.generation ?? 0;

  const progress = (): StreamProgress => ({
    sourceId: input.sourceId,
    cursor,
    headCursor,
    lag: Math.max(0, headCursor - cursor),
    paused,
    lastBatchAt,
    generation,
    ...counters,
  });
  setHandler(pauseSignal, () => {
    paused = true;
  });
  setHandler(resumeSignal, () => {
    paused = false;
  });
  setHandler(flushSignal, () => {
    flushRequested = true;
  });
  setHandler(streamProgressQuery, progress);
  upsertSearchAttributes([
    { key: searchAttributes.StreamSource, value: input.sourceId },
    { key: searchAttributes.ClientId, value: input.clientId },
    { key: searchAttributes.Stage, value: paused ? 'paused' : 'running' },
  ]);

  for (;;) {
    if (input.stopAt !== undefined && cursor >= input.stopAt) return progress();
    if (paused) {
      upsertSearchAttributes([{ key: searchAttributes.Stage, value: 'paused' }]);
      await condition(() => !paused);
      upsertSearchAttributes([{ key: searchAttributes.Stage, value: 'running' }]);
    }
    const maxRows = input.stopAt === undefined ? input.maxRows : Math.min(input.maxRows, input.stopAt - cursor);
    const maxWaitMs = flushRequested ? 0 : input.maxWaitMs;
    flushRequested = false;
    const batch = await processBatch({ sourceId: input.sourceId, fromCursor: cursor, maxRows, maxWaitMs });
    cursor = batch.toCursor;
    headCursor = batch.headCursor;
    if (batch.read > 0) {
      counters.batches += 1;
      counters.read += batch.read;
      counters.written += batch.inserted;
      counters.duplicates += batch.duplicates;
      counters.conflicts += batch.conflicts;
      counters.late += batch.late;
      counters.rejected += batch.rejected;
      counters.unknownFields += batch.unknownFields;
      lastBatchAt = batch.writtenAt;
    }

    if (workflowInfo().continueAsNewSuggested) {
      // Never continue-as-new with a signal half-handled.
      await condition(allHandlersFinished);
      await continueAsNew<typeof streamWorkflow>({
        ...input,
        cursor,
        counters,
        paused,
        lastBatchAt,
        generation: generation + 1,
      });
    }
  }
}
