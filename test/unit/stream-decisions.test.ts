/**
 * The stream workflow's decisions (src/workflows/stream-decisions.ts), run outside the workflow sandbox: how each
 * batch attempt is asked for, when it is cut, when the workflow task ends and the run continues as new, what is
 * counted, and which failures park the stream. The workflow itself is tested on a dev server
 * (test/integration/stream-workflow.test.ts) and by replaying recorded histories (test/replay/).
 */
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import type { ProcessBatchResult } from '../../src/activities/stream-activities.js';
import {
  BATCHES_PER_TASK,
  CUT,
  MAX_BATCHES_PER_RUN,
  MAX_WAIT_IN_ACTIVITY_MS,
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
} from '../../src/workflows/stream-decisions.js';

const batch = (over: Partial<ProcessBatchResult> = {}): ProcessBatchResult => ({
  toCursor: 10,
  headCursor: 12,
  read: 0,
  inserted: 0,
  duplicates: 0,
  conflicts: 0,
  late: 0,
  rejected: 0,
  unknownFields: 0,
  alreadyApplied: false,
  writtenAt: '2026-11-21T10:00:00.000Z',
  deferred: false,
  ...over,
});

describe('when the stream stops', () => {
  it('stops once the cursor reaches stopAt, not before, and never without one', () => {
    expect(reachedStop(99, 100)).toBe(false);
    expect(reachedStop(100, 100)).toBe(true);
    expect(reachedStop(101, 100)).toBe(true);
    expect(reachedStop(0, 0)).toBe(true);
    expect(reachedStop(1_000_000, undefined)).toBe(false);
  });
});

describe('planning a batch', () => {
  it('takes a full batch and waits in the activity at most MAX_WAIT_IN_ACTIVITY_MS, the rest on a durable timer', () => {
    expect(MAX_WAIT_IN_ACTIVITY_MS).toBe(500);
    expect(planBatch({ maxRows: 1000, maxWaitMs: 5000 }, 0)).toEqual({ maxRows: 1000, inActivityMs: 500, timerMs: 4500 });
    expect(planBatch({ maxRows: 1000, maxWaitMs: 500 }, 0)).toEqual({ maxRows: 1000, inActivityMs: 500, timerMs: 0 });
    expect(planBatch({ maxRows: 1000, maxWaitMs: 200 }, 0)).toEqual({ maxRows: 1000, inActivityMs: 200, timerMs: 0 });
    expect(planBatch({ maxRows: 1000, maxWaitMs: 0 }, 0)).toEqual({ maxRows: 1000, inActivityMs: 0, timerMs: 0 });
  });

  it('takes no more than is left before stopAt', () => {
    expect(planBatch({ maxRows: 1000, maxWaitMs: 2000, stopAt: 1500 }, 1200)).toEqual({ maxRows: 300, inActivityMs: 500, timerMs: 1500 });
    expect(planBatch({ maxRows: 1000, maxWaitMs: 2000, stopAt: 5000 }, 1200).maxRows).toBe(1000);
    expect(planBatch({ maxRows: 1000, maxWaitMs: 2000, stopAt: 2200 }, 1200).maxRows).toBe(1000);
  });
});

describe('the first attempt of a batch', () => {
  const withTimer = planBatch({ maxRows: 1000, maxWaitMs: 5000 }, 0);
  const noTimer = planBatch({ maxRows: 1000, maxWaitMs: 300 }, 0);

  it('is a cut, written at once whatever its size, when a flush is pending', () => {
    expect(firstAttempt(withTimer, true)).toEqual({ maxWaitMs: 0, minRows: 1 });
    expect(firstAttempt(noTimer, true)).toEqual({ maxWaitMs: 0, minRows: 1 });
    expect(isCut(firstAttempt(withTimer, true))).toBe(true);
  });

  it('with a timer to follow, writes only a full batch and leaves less to the timer', () => {
    const attempt = firstAttempt(withTimer, false);
    expect(attempt).toEqual({ maxWaitMs: 500, minRows: 1000 });
    expect(isCut(attempt)).toBe(false);
  });

  it('with no timer to follow, writes whatever came in its wait (a cut)', () => {
    const attempt = firstAttempt(noTimer, false);
    expect(attempt).toEqual({ maxWaitMs: 300, minRows: 1 });
    expect(isCut(attempt)).toBe(true);
  });

  it('counts only minRows 1 as a cut', () => {
    expect(CUT).toEqual({ maxWaitMs: 0, minRows: 1 });
    expect(isCut({ minRows: 2 })).toBe(false);
    expect(isCut({})).toBe(false);
  });
});

describe('after an attempt', () => {
  const states = (deferred: boolean, timerMs: number, flushRequested: boolean, answersIdle: boolean) =>
    afterAttempt({ deferred, timerMs, flushRequested, answersIdle });

  it('keeps a batch that was written, whatever else is pending', () => {
    for (const flush of [false, true]) for (const idle of [false, true]) expect(states(false, 4500, flush, idle)).toBe('keep');
  });

  it('keeps a deferred batch when no timer is left (it is then empty, nothing to wait for)', () => {
    for (const flush of [false, true]) for (const idle of [false, true]) expect(states(true, 0, flush, idle)).toBe('keep');
  });

  it('waits for the timer (or a flush or pause) after a deferred batch when no flush is pending', () => {
    expect(states(true, 4500, false, true)).toBe('wait');
    expect(states(true, 4500, false, false)).toBe('wait');
    expect(states(true, 1, false, true)).toBe('wait');
  });

  it('cuts at once when a flush arrived during the wait; runs recorded before the patch kept the deferred batch', () => {
    expect(states(true, 4500, true, true)).toBe('cut');
    expect(states(true, 4500, true, false)).toBe('keep');
  });
});

describe('ending the workflow task', () => {
  const ends = (s: Partial<Parameters<typeof endsTask>[0]>) =>
    endsTask({ answersIdle: true, read: 1000, maxRows: 1000, deferred: false, batchesThisRun: 1, ...s });

  it('ends after a batch that was not full, so signals and queries are handled while the source is idle', () => {
    expect(BATCHES_PER_TASK).toBe(8);
    expect(ends({ read: 999 })).toBe(true);
    expect(ends({ read: 0 })).toBe(true);
    expect(ends({ read: 1000 })).toBe(false);
  });

  it('ends every BATCHES_PER_TASK full batches', () => {
    expect(ends({ batchesThisRun: 7 })).toBe(false);
    expect(ends({ batchesThisRun: 8 })).toBe(true);
    expect(ends({ batchesThisRun: 9 })).toBe(false);
    expect(ends({ batchesThisRun: 16 })).toBe(true);
  });

  it('before the answers-when-idle patch: every BATCHES_PER_TASK batches that were not deferred, full or not', () => {
    expect(ends({ answersIdle: false, read: 0, batchesThisRun: 3 })).toBe(false);
    expect(ends({ answersIdle: false, read: 0, batchesThisRun: 8 })).toBe(true);
    expect(ends({ answersIdle: false, read: 0, batchesThisRun: 8, deferred: true })).toBe(false);
    expect(ends({ answersIdle: false, batchesThisRun: 7 })).toBe(false);
  });
});

describe('continuing as new', () => {
  it('when Temporal suggests it, or after the run batch budget (default MAX_BATCHES_PER_RUN)', () => {
    expect(MAX_BATCHES_PER_RUN).toBe(2000);
    expect(continuesAsNew(true, 1, undefined)).toBe(true);
    expect(continuesAsNew(false, 1999, undefined)).toBe(false);
    expect(continuesAsNew(false, 2000, undefined)).toBe(true);
    expect(continuesAsNew(false, 4, 5)).toBe(false);
    expect(continuesAsNew(false, 5, 5)).toBe(true);
    expect(continuesAsNew(false, 6, 5)).toBe(true);
  });
});

describe('counting batches', () => {
  it('adds every counter of a batch that read something and says so', () => {
    const counters = { ...emptyCounters(), batches: 2, read: 100 };
    const counted = countBatch(counters, batch({ read: 10, inserted: 6, duplicates: 1, conflicts: 1, late: 1, rejected: 1, unknownFields: 3 }));
    expect(counted).toBe(true);
    expect(counters).toEqual({ batches: 3, read: 110, written: 6, duplicates: 1, conflicts: 1, late: 1, rejected: 1, unknownFields: 3 });
    countBatch(counters, batch({ read: 1, inserted: 1 }));
    expect(counters).toEqual({ batches: 4, read: 111, written: 7, duplicates: 1, conflicts: 1, late: 1, rejected: 1, unknownFields: 3 });
  });

  it('leaves the counters alone for an empty batch, and says it counted nothing', () => {
    const counters = emptyCounters();
    expect(countBatch(counters, batch({ read: 0, deferred: true }))).toBe(false);
    expect(counters).toEqual({ batches: 0, read: 0, written: 0, duplicates: 0, conflicts: 0, late: 0, rejected: 0, unknownFields: 0 });
  });
});

describe('progress and updates', () => {
  it('reports lag as what the source has beyond the cursor, never negative', () => {
    expect(lag(120, 100)).toBe(20);
    expect(lag(100, 100)).toBe(0);
    expect(lag(90, 100)).toBe(0);
  });

  it('answers a flush once a cut started after it is written, or the stream pauses or parks', () => {
    const base = { cutsDone: 2, wanted: 3, paused: false, parked: null };
    expect(flushAnswered(base)).toBe(false);
    expect(flushAnswered({ ...base, cutsDone: 3 })).toBe(true);
    expect(flushAnswered({ ...base, cutsDone: 4 })).toBe(true);
    expect(flushAnswered({ ...base, paused: true })).toBe(true);
    expect(flushAnswered({ ...base, parked: 'WarehouseInvariant: x' })).toBe(true);
  });
});

describe('failures that park the stream', () => {
  const wrapped = (cause: Error) => new ActivityFailure('Activity task failed', 'processBatch', '1', RetryState.NON_RETRYABLE_FAILURE, undefined, cause);

  it('parks on a non-retryable failure, wrapped by an activity or not', () => {
    const failure = ApplicationFailure.nonRetryable('the table is gone', 'TableMissing');
    expect(permanentFailure(failure)).toBe(failure);
    expect(permanentFailure(wrapped(failure))).toBe(failure);
  });

  it('parks on the types retrying will not fix even when raised as retryable', () => {
    expect(NON_RETRYABLE).toEqual(['WarehouseInvariant', 'UnknownSource']);
    for (const type of NON_RETRYABLE) {
      const failure = ApplicationFailure.retryable('no', type);
      expect(permanentFailure(wrapped(failure))).toBe(failure);
    }
  });

  it('lets anything else be retried', () => {
    expect(permanentFailure(ApplicationFailure.retryable('busy', 'Busy'))).toBeNull();
    expect(permanentFailure(ApplicationFailure.retryable('busy'))).toBeNull();
    expect(permanentFailure(ApplicationFailure.create({ message: 'no type' }))).toBeNull();
    expect(permanentFailure(wrapped(ApplicationFailure.retryable('busy', 'Busy')))).toBeNull();
    expect(permanentFailure(new Error('socket hang up'))).toBeNull();
    expect(permanentFailure(wrapped(new Error('socket hang up')))).toBeNull();
    expect(permanentFailure('a string')).toBeNull();
  });

  it('names the failure type and the innermost message', () => {
    const inner = new Error('row 7 breaks the invariant');
    const failure = ApplicationFailure.create({ message: 'batch failed', type: 'WarehouseInvariant', nonRetryable: true, cause: inner });
    expect(parkReason(failure)).toBe('WarehouseInvariant: row 7 breaks the invariant');
    expect(parkReason(ApplicationFailure.create({ message: 'no type', nonRetryable: true }))).toBe('Error: no type');
    expect(parkReason(ApplicationFailure.create({ message: 'typed', type: 'UnknownSource' }))).toBe('UnknownSource: typed');
  });
});
