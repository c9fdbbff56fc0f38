/**
 * The long-running stream: one workflow per source partition pulls micro-batches and writes them as
 * provisional rows. Its state is the cursor (next offset) and counters; rows never enter its history.
 * The cursor moves only after the batch is durable in the warehouse.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createStreamActivities } from '../activities/stream-activities.js';
import {
  flushSignal,
  flushUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  searchAttributes,
  streamProgressQuery,
  type DurableCursor,
  type StreamCounters,
  type StreamProgress,
} from '../domain/workflow-api.js';

export type { StreamCounters };

export interface StreamWorkflowInput {
  sourceId: string;
  clientId: string;
  /** Next offset to read; unset: where the warehouse's last recorded batch of this source ended. */
  cursor?: number;
  counters?: StreamCounters;
  paused?: boolean;
  maxRows: number;
  maxWaitMs: number;
  /** Ends the workflow once the cursor reaches this offset (demos, tests, benchmarks); unset runs forever. */
  stopAt?: number;
  /** Continues as new after this many batch attempts (default 2,000), even if Temporal has not suggested it. */
  maxBatchesPerRun?: number;
  /** Continue-as-new generations so far, for the UI. */
  generation?: number;
  /** Carried across continue-as-new so the progress query keeps answering "when was the last write". */
  lastBatchAt?: string | null;
  /**
   * How a micro-batch runs: 'local' (default; DuckDB: a short local activity in this worker) or 'regular' (BigQuery:
   * a multi-second remote write, scheduled by the server, retried server-side and held to the task queue's
   * activity rate limit, `maxTaskQueueActivitiesPerSecond` of the worker).
   */
  activityKind?: 'local' | 'regular';
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

/**
 * A micro-batch is a short local activity: it runs in the worker that runs this workflow, with no round trip to
 * the server to schedule it, which was most of Temporal's cost per batch at high rates. It never waits for
 * events: the time trigger is a durable timer in the workflow, so signals (flush, pause) act at once.
 * A worker that dies mid-batch loses its workflow task; the next worker reruns the batch, which the warehouse
 * recognises by its id.
 */
const NON_RETRYABLE = ['WarehouseInvariant', 'UnknownSource'];
const batchRetry = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE };
const local = proxyLocalActivities<ReturnType<typeof createStreamActivities>>({
  startToCloseTimeout: '1m',
  localRetryThreshold: '10s',
  retry: batchRetry,
});
/** BigQuery: appends take seconds and count against quotas; the server schedules, rate-limits and retries them. */
const regular = proxyActivities<ReturnType<typeof createStreamActivities>>({ startToCloseTimeout: '2m', retry: batchRetry });

/**
 * Versioned change (patched): every batch that is not full, an empty one included, ends the workflow task, so
 * signals, updates and queries are handled within one in-activity wait even when the source is idle; and a flush
 * that arrives during the in-activity wait cuts a batch at once. Runs recorded before it replay the old path.
 */
export const ANSWERS_WHEN_IDLE_PATCH = 'stream-answers-when-idle';

/** The failure retrying will not fix, if that is what a batch raised (a local activity's may arrive unwrapped): the stream parks on it. */
const permanentFailure = (error: unknown): ApplicationFailure | null => {
  const failure = error instanceof ActivityFailure ? error.cause : error;
  return failure instanceof ApplicationFailure && (failure.nonRetryable || NON_RETRYABLE.includes(failure.type ?? '')) ? failure : null;
};

const rootMessage = (error: unknown): string => {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
};

/** Longest wait for events inside one activity: bounds how long a signal waits to be handled. */
const MAX_WAIT_IN_ACTIVITY_MS = 500;

/**
 * Full batches back to back run inside one workflow task; ending the task every few batches keeps the progress
 * query current and bounds what a crashed worker's successor has to re-run (batches it finds already written).
 */
const BATCHES_PER_TASK = 8;

/** Batches per run before continuing as new, whatever the history size: local activities grow it slowly. */
const MAX_BATCHES_PER_RUN = 2_000;

export async function streamWorkflow(input: StreamWorkflowInput): Promise<StreamProgress> {
  let cursor = input.cursor ?? 0;
  let paused = input.paused ?? false;
  let parked: string | null = null;
  let flushRequested = false;
  let batchInFlight = false;
  /** Cut batches (written whatever their size) started and finished: a flush update waits for one started after it. */
  let cutsStarted = 0;
  let cutsDone = 0;
  const counters = input.counters ?? emptyCounters();
  let headCursor = cursor;
  let lastBatchAt: string | null = input.lastBatchAt ?? null;
  let lastReadAt: string | null = null;
  let batchesThisRun = 0;
  const generation = input.generation ?? 0;
  const { processBatch, resumeCursor, reportStreamParked } = input.activityKind === 'regular' ? regular : local;

  const progress = (): StreamProgress => ({
    sourceId: input.sourceId,
    cursor,
    headCursor,
    lag: Math.max(0, headCursor - cursor),
    paused,
    lastBatchAt,
    lastReadAt,
    generation,
    parked,
    ...counters,
  });
  const durable = (): DurableCursor => ({ cursor, headCursor, paused, parked });
  setHandler(pauseSignal, () => {
    paused = true;
  });
  setHandler(resumeSignal, () => {
    paused = false;
    parked = null;
  });
  setHandler(flushSignal, () => {
    flushRequested = true;
  });
  setHandler(pauseUpdate, async () => {
    paused = true;
    await condition(() => !batchInFlight);
    return durable();
  });
  setHandler(flushUpdate, async () => {
    const wanted = cutsStarted + 1;
    flushRequested = true;
    await condition(() => cutsDone >= wanted || paused || parked !== null);
    return durable();
  });
  setHandler(streamProgressQuery, progress);
  upsertSearchAttributes([
    { key: searchAttributes.StreamSource, value: input.sourceId },
    { key: searchAttributes.ClientId, value: input.clientId },
    { key: searchAttributes.Stage, value: paused ? 'paused' : 'running' },
  ]);

  if (input.cursor === undefined) {
    // A stream started without a cursor (its workflow was gone): resume where the warehouse's record ends.
    cursor = await resumeCursor({ sourceId: input.sourceId });
    headCursor = cursor;
  }

  /** One batch attempt; `cut` writes whatever is available (flush, or no time trigger left). */
  const runBatch = async (request: Parameters<typeof processBatch>[0], answersIdle: boolean): Promise<Awaited<ReturnType<typeof processBatch>>> => {
    const cut = request.minRows === 1;
    const ticket = cut ? ++cutsStarted : 0;
    if (cut && answersIdle) flushRequested = false;
    const result = await processBatch(request);
    if (cut) cutsDone = ticket;
    return result;
  };

  for (;;) {
    if (input.stopAt !== undefined && cursor >= input.stopAt) return progress();
    if (parked !== null) {
      upsertSearchAttributes([{ key: searchAttributes.Stage, value: 'parked' }]);
      await condition(() => parked === null);
      await reportStreamParked({ sourceId: input.sourceId, workflowId: workflowInfo().workflowId, cursor, reason: null });
      upsertSearchAttributes([{ key: searchAttributes.Stage, value: paused ? 'paused' : 'running' }]);
    }
    if (paused) {
      upsertSearchAttributes([{ key: searchAttributes.Stage, value: 'paused' }]);
      await condition(() => !paused);
      upsertSearchAttributes([{ key: searchAttributes.Stage, value: 'running' }]);
    }
    const answersIdle = patched(ANSWERS_WHEN_IDLE_PATCH);
    const maxRows = input.stopAt === undefined ? input.maxRows : Math.min(input.maxRows, input.stopAt - cursor);
    const request = { sourceId: input.sourceId, fromCursor: cursor, maxRows };
    // The activity waits for a full batch for at most a short while (a signal is handled once it returns);
    // a longer time trigger continues as a durable timer that a flush or a pause cuts short.
    const inActivityMs = Math.min(input.maxWaitMs, MAX_WAIT_IN_ACTIVITY_MS);
    const timerMs = input.maxWaitMs - inActivityMs;
    let batch;
    batchInFlight = true;
    try {
      batch = flushRequested
        ? await runBatch({ ...request, maxWaitMs: 0, minRows: 1 }, answersIdle)
        : await runBatch({ ...request, maxWaitMs: inActivityMs, minRows: timerMs > 0 ? maxRows : 1 }, answersIdle);
      if (batch.deferred && timerMs > 0) {
        if (!flushRequested) {
          batchInFlight = false;
          await condition(() => flushRequested || paused, timerMs);
          if (paused) continue;
          batchInFlight = true;
          batch = await runBatch({ ...request, maxWaitMs: 0, minRows: 1 }, answersIdle);
        } else if (answersIdle) {
          // A flush arrived while the activity waited for a full batch: cut now.
          batch = await runBatch({ ...request, maxWaitMs: 0, minRows: 1 }, answersIdle);
        }
      }
    } catch (error) {
      const failure = permanentFailure(error);
      if (failure === null) throw error;
      parked = `${failure.type ?? 'Error'}: ${rootMessage(failure)}`;
      batchInFlight = false;
      await reportStreamParked({ sourceId: input.sourceId, workflowId: workflowInfo().workflowId, cursor, reason: parked });
      continue;
    } finally {
      batchInFlight = false;
    }
    if (!answersIdle) flushRequested = false;
    lastReadAt = new Date().toISOString();
    batchesThisRun += 1;
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
    // Only full batches back to back share a workflow task: anything less means the source is (nearly) idle, and
    // the task ends so that signals, updates and queries are handled now.
    const endTask = answersIdle
      ? batch.read < maxRows || batchesThisRun % BATCHES_PER_TASK === 0
      : !batch.deferred && batchesThisRun % BATCHES_PER_TASK === 0;
    if (endTask) await sleep(1);

    if (workflowInfo().continueAsNewSuggested || batchesThisRun >= (input.maxBatchesPerRun ?? MAX_BATCHES_PER_RUN)) {
      // Never continue-as-new with a signal or update half-handled.
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
