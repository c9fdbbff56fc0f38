/**
 * The stream workflow's decisions, apart from the calls that carry them out: how a batch attempt is asked for,
 * when it is cut, when the workflow task ends, when the run continues as new, when a failure parks the stream.
 * Pure and deterministic (no clock, no I/O): `stream-workflow.ts` runs them in the sandbox, unit tests run them
 * directly.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { ProcessBatchInput, ProcessBatchResult } from '../activities/stream-activities.js';
import type { StreamCounters } from '../domain/workflow-api.js';
import { rootMessage } from './failures.js';

/** Failure types retrying will not fix: the stream parks on them until an operator resumes it. */
export const NON_RETRYABLE = ['WarehouseInvariant', 'UnknownSource'];

/** Longest wait for events inside one activity: bounds how long a signal waits to be handled. */
export const MAX_WAIT_IN_ACTIVITY_MS = 500;

/**
 * Full batches back to back run inside one workflow task; ending the task every few batches keeps the progress
 * query current and bounds what a crashed worker's successor has to re-run (batches it finds already written).
 */
export const BATCHES_PER_TASK = 8;

/** Batches per run before continuing as new, whatever the history size: local activities grow it slowly. */
export const MAX_BATCHES_PER_RUN = 2_000;

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

/** The stream has reached the offset it was asked to stop at (unset: it never stops). */
export const reachedStop = (cursor: number, stopAt: number | undefined): boolean => stopAt !== undefined && cursor >= stopAt;

export interface BatchPlan {
  /** Records one attempt may take: the batch size, or fewer when `stopAt` is nearer. */
  maxRows: number;
  /** How long the activity itself waits for a full batch. */
  inActivityMs: number;
  /** The rest of the time trigger, waited as a durable timer that a flush or a pause cuts short. */
  timerMs: number;
}

/**
 * The limits of the next attempt from `cursor`: the activity waits for a full batch for at most a short while
 * (a signal is handled once it returns); a longer time trigger continues as a durable timer in the workflow.
 */
export const planBatch = (input: { maxRows: number; maxWaitMs: number; stopAt?: number }, cursor: number): BatchPlan => {
  const maxRows = input.stopAt === undefined ? input.maxRows : Math.min(input.maxRows, input.stopAt - cursor);
  const inActivityMs = Math.min(input.maxWaitMs, MAX_WAIT_IN_ACTIVITY_MS);
  return { maxRows, inActivityMs, timerMs: input.maxWaitMs - inActivityMs };
};

type AttemptLimits = Pick<ProcessBatchInput, 'maxWaitMs' | 'minRows'>;

/** A cut: write whatever is available now, however little. */
export const CUT: AttemptLimits = { maxWaitMs: 0, minRows: 1 };

/** Whether an attempt is a cut (written whatever its size): what a flush waits for. */
export const isCut = (request: Pick<ProcessBatchInput, 'minRows'>): boolean => request.minRows === 1;

/**
 * The first attempt of a batch: a cut when a flush is pending; otherwise a wait in the activity that, when a
 * timer follows, writes only a full batch (less is deferred to the timer), and with no timer writes what came.
 */
export const firstAttempt = (plan: BatchPlan, flushRequested: boolean): AttemptLimits =>
  flushRequested ? CUT : { maxWaitMs: plan.inActivityMs, minRows: plan.timerMs > 0 ? plan.maxRows : 1 };

/**
 * What follows an attempt: `keep` its result; `wait` for the timer (or a flush or pause), then cut; `cut` at once
 * (a flush arrived while the activity waited for a full batch; only with the answers-when-idle patch).
 */
export const afterAttempt = (s: { deferred: boolean; timerMs: number; flushRequested: boolean; answersIdle: boolean }): 'keep' | 'wait' | 'cut' => {
  if (!s.deferred || s.timerMs <= 0) return 'keep';
  if (!s.flushRequested) return 'wait';
  return s.answersIdle ? 'cut' : 'keep';
};

/**
 * Whether the workflow task ends after a batch. Only full batches back to back share a task: anything less means
 * the source is (nearly) idle, and the task ends so that signals, updates and queries are handled now. Runs
 * recorded before the answers-when-idle patch ended it only every BATCHES_PER_TASK batches that were not deferred.
 */
export const endsTask = (s: { answersIdle: boolean; read: number; maxRows: number; deferred: boolean; batchesThisRun: number }): boolean =>
  s.answersIdle
    ? s.read < s.maxRows || s.batchesThisRun % BATCHES_PER_TASK === 0
    : !s.deferred && s.batchesThisRun % BATCHES_PER_TASK === 0;

/** Continue as new when Temporal suggests it or after the run's batch budget, whichever comes first. */
export const continuesAsNew = (suggested: boolean, batchesThisRun: number, maxBatchesPerRun: number | undefined): boolean =>
  suggested || batchesThisRun >= (maxBatchesPerRun ?? MAX_BATCHES_PER_RUN);

/** Adds a batch that read something to the counters; returns false (and changes nothing) for an empty one. */
export const countBatch = (counters: StreamCounters, batch: ProcessBatchResult): boolean => {
  if (batch.read <= 0) return false;
  counters.batches += 1;
  counters.read += batch.read;
  counters.written += batch.inserted;
  counters.duplicates += batch.duplicates;
  counters.conflicts += batch.conflicts;
  counters.late += batch.late;
  counters.rejected += batch.rejected;
  counters.unknownFields += batch.unknownFields;
  return true;
};

/** Records the source has and the stream has not written yet. */
export const lag = (headCursor: number, cursor: number): number => Math.max(0, headCursor - cursor);

/** A flush update is answered once a cut started after it is written, or the stream pauses or parks instead. */
export const flushAnswered = (s: { cutsDone: number; wanted: number; paused: boolean; parked: string | null }): boolean =>
  s.cutsDone >= s.wanted || s.paused || s.parked !== null;

/** The failure retrying will not fix, if that is what a batch raised (a local activity's may arrive unwrapped): the stream parks on it. */
export const permanentFailure = (error: unknown): ApplicationFailure | null => {
  const failure = error instanceof ActivityFailure ? error.cause : error;
  return failure instanceof ApplicationFailure && (failure.nonRetryable || NON_RETRYABLE.includes(failure.type ?? '')) ? failure : null;
};

/** Why the stream is parked, as the progress query and the alert show it. */
export const parkReason = (failure: ApplicationFailure): string => `${failure.type ?? 'Error'}: ${rootMessage(failure)}`;
