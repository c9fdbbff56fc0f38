/**
 * The long-running stream: one workflow per source partition pulls micro-batches and writes them as
 * provisional rows. Its state is the cursor (next offset) and counters; rows never enter its history.
 * The cursor moves only after the batch is durable in the warehouse.
 */
import {
  allHandlersFinished,
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
import {
  CUT,
  NON_RETRYABLE,
  afterAttempt,
  continuesAsNew,
  countBatch,
  emptyCounters,
  endsTask,
  firstAttempt,
  flushAnswered,
  isCut,
  lag,
  parkReason,
  permanentFailure,
  planBatch,
  reachedStop,
} from './stream-decisions.js';

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

/**
 * A micro-batch is a short local activity: it runs in the worker that runs this workflow, with no round trip to
 * the server to schedule it, which was most of Temporal's cost per batch at high rates. It never waits for
 * events: the time trigger is a durable timer in the workflow, so signals (flush, pause) act at once.
 * A worker that dies mid-batch loses its workflow task; the next worker reruns the batch, which the warehouse
 * recognises by its id.
 */
const batchRetry = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE };
const local = proxyLocalActivities<ReturnType<typeof createStreamActivities>>({
  startToCloseTimeout: '1m',
  localRetryThreshold: '10s',
  retry: batchRetry,
});
/** BigQuery: appends take seconds and count against quotas; the server schedules, rate-limits and retries them. */
const regular = proxyActivities<ReturnType<typeof createStreamActivities>>({ startToCloseTimeout: '2m', retry: batchRetry });
/**
 * The batch itself beats every 5 s while it runs, so a worker that dies mid-batch (a deploy's kill, a lost node) is
 * noticed after 30 s, not after the 2-minute start-to-close timeout. The cursor lookup and the parked alert do not beat.
 */
const regularBatch = proxyActivities<ReturnType<typeof createStreamActivities>>({ startToCloseTimeout: '2m', heartbeatTimeout: '30s', retry: batchRetry });

/**
 * Versioned change (patched): every batch that is not full, an empty one included, ends the workflow task, so
 * signals, updates and queries are handled within one in-activity wait even when the source is idle; and a flush
 * that arrives during the in-activity wait cuts a batch at once. Runs recorded before it replay the old path.
 */
export const ANSWERS_WHEN_IDLE_PATCH = 'stream-answers-when-idle';

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
  const { resumeCursor, reportStreamParked } = input.activityKind === 'regular' ? regular : local;
  const { processBatch } = input.activityKind === 'regular' ? regularBatch : local;

  const progress = (): StreamProgress => ({
    sourceId: input.sourceId,
    cursor,
    headCursor,
    lag: lag(headCursor, cursor),
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
    await condition(() => flushAnswered({ cutsDone, wanted, paused, parked }));
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
    const cut = isCut(request);
    const ticket = cut ? ++cutsStarted : 0;
    if (cut && answersIdle) flushRequested = false;
    const result = await processBatch(request);
    if (cut) cutsDone = ticket;
    return result;
  };

  for (;;) {
    if (reachedStop(cursor, input.stopAt)) return progress();
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
    const plan = planBatch(input, cursor);
    const { maxRows } = plan;
    const request = { sourceId: input.sourceId, fromCursor: cursor, maxRows };
    let batch;
    batchInFlight = true;
    try {
      batch = await runBatch({ ...request, ...firstAttempt(plan, flushRequested) }, answersIdle);
      const next = afterAttempt({ deferred: batch.deferred, timerMs: plan.timerMs, flushRequested, answersIdle });
      if (next === 'wait') {
        batchInFlight = false;
        await condition(() => flushRequested || paused, plan.timerMs);
        if (paused) continue;
        batchInFlight = true;
        batch = await runBatch({ ...request, ...CUT }, answersIdle);
      } else if (next === 'cut') {
        // A flush arrived while the activity waited for a full batch: cut now.
        batch = await runBatch({ ...request, ...CUT }, answersIdle);
      }
    } catch (error) {
      const failure = permanentFailure(error);
      if (failure === null) throw error;
      parked = parkReason(failure);
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
    if (countBatch(counters, batch)) lastBatchAt = batch.writtenAt;
    if (endsTask({ answersIdle, read: batch.read, maxRows, deferred: batch.deferred, batchesThisRun })) await sleep(1);

    if (continuesAsNew(workflowInfo().continueAsNewSuggested, batchesThisRun, input.maxBatchesPerRun)) {
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
