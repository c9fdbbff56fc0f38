/**
 * The file saga's decisions (src/workflows/file-decisions.ts), run outside the workflow sandbox: the ids a run
 * writes under, the duplicate skip, the order compensations run in and what a retry runs again, the outcome
 * recorded after a failure, and the applied dates. The saga itself is tested on a dev server
 * (test/integration/file-workflow.test.ts, saga.test.ts) and by replaying recorded histories (test/replay/).
 */
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  appliedDates,
  changeIdFor,
  compensate,
  compensationsToRetry,
  failedStepNames,
  failureReason,
  outcomeAfterFailure,
  outcomeDecided,
  registerCompensation,
  rollbackIncomplete,
  showsRollback,
  skipsAsDuplicate,
  type Compensation,
  type FailedCompensation,
} from '../../src/workflows/file-decisions.js';
import { rootMessage } from '../../src/workflows/failures.js';
import { stagingIdOf, type FileStage } from '../../src/domain/workflow-api.js';

const RUN_ID = '0193a1b2-C3d4-7e5f-8a9b-0c1d2e3f4a5b';

describe('the ids a run writes under', () => {
  it('names the change after the file and the run', () => {
    expect(changeIdFor('acme-recon-1', RUN_ID)).toBe(`acme-recon-1/${RUN_ID}`);
  });

  it('names the staging table from the run id: f_ then its letters and digits, lower case', () => {
    expect(stagingIdOf(RUN_ID)).toBe('f_0193a1b2c3d47e5f8a9b0c1d2e3f4a5b');
    expect(stagingIdOf('A_b.C-9')).toBe('f_abc9');
  });
});

describe('a file applied already', () => {
  it('ends as a duplicate, unless an operator replays it', () => {
    expect(skipsAsDuplicate({ alreadyApplied: true }, false)).toBe(true);
    expect(skipsAsDuplicate({ alreadyApplied: true }, undefined)).toBe(true);
    expect(skipsAsDuplicate({ alreadyApplied: true }, true)).toBe(false);
    expect(skipsAsDuplicate({ alreadyApplied: false }, false)).toBe(false);
    expect(skipsAsDuplicate({ alreadyApplied: false }, true)).toBe(false);
  });
});

describe('compensations', () => {
  /** A saga's compensations as registered before stage, replace and publish, with a log of what ran. */
  const saga = (failing: Set<string> = new Set()) => {
    const ran: string[] = [];
    const compensations: Compensation[] = [];
    for (const step of ['dropStaging', 'revertChange', 'unpublishChange']) {
      registerCompensation(compensations, {
        step,
        run: async () => {
          ran.push(step);
          if (failing.has(step)) {
            throw new ActivityFailure('Activity task failed', step, '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, undefined, new Error(`${step} timed out`));
          }
          return step;
        },
      });
    }
    return { ran, compensations };
  };

  it('run in reverse order of their steps', async () => {
    const { ran, compensations } = saga();
    expect(compensations.map((c) => c.step)).toEqual(['unpublishChange', 'revertChange', 'dropStaging']);
    const logged: FailedCompensation[] = [];
    expect(await compensate(compensations, (f) => logged.push(f))).toEqual([]);
    expect(ran).toEqual(['unpublishChange', 'revertChange', 'dropStaging']);
    expect(logged).toEqual([]);
  });

  it('keep running after one fails, and report each failure with its innermost message', async () => {
    const { ran, compensations } = saga(new Set(['revertChange', 'dropStaging']));
    const logged: FailedCompensation[] = [];
    const failed = await compensate(compensations, (f) => logged.push(f));
    expect(ran).toEqual(['unpublishChange', 'revertChange', 'dropStaging']);
    expect(failed).toEqual([
      { step: 'revertChange', reason: 'revertChange timed out' },
      { step: 'dropStaging', reason: 'dropStaging timed out' },
    ]);
    expect(logged).toEqual(failed);
  });

  it('a retry runs only the failed ones again, in their original order', async () => {
    const { compensations } = saga();
    const failed = [
      { step: 'dropStaging', reason: 'x' },
      { step: 'unpublishChange', reason: 'y' },
    ];
    expect(compensationsToRetry(compensations, failed).map((c) => c.step)).toEqual(['unpublishChange', 'dropStaging']);
    expect(compensationsToRetry(compensations, [])).toEqual([]);
  });

  it('say which steps failed and why, and after what, while waiting for an operator', () => {
    const failed = [
      { step: 'revertChange', reason: 'busy' },
      { step: 'dropStaging', reason: 'gone' },
    ];
    expect(failedStepNames(failed)).toBe('revertChange, dropStaging');
    expect(rollbackIncomplete(failed, 'replace failed: boom')).toBe(
      'rollback incomplete: revertChange failed: busy; dropStaging failed: gone (after: replace failed: boom)',
    );
  });
});

describe('after a failure', () => {
  it('says an operator cancelled during the stage, or which stage failed with the innermost message', () => {
    const error = new ActivityFailure('Activity task failed', 'stageFile', '1', RetryState.MAXIMUM_ATTEMPTS_REACHED, undefined, new Error('disk full'));
    expect(failureReason('stage', true, error)).toBe('cancelled by an operator during stage');
    expect(failureReason('stage', false, error)).toBe('stage failed: disk full');
    expect(failureReason('validate', false, 'plain text')).toBe('validate failed: plain text');
  });

  it('leaves the outcome of a rejected or refused file as its step recorded it', () => {
    const stages: FileStage[] = ['register', 'validate', 'stage', 'replace', 'publish', 'rejected', 'refused'];
    expect(stages.filter(outcomeDecided)).toEqual(['rejected', 'refused']);
  });

  it('shows a rollback only with something to undo and no outcome decided', () => {
    const one: Compensation[] = [{ step: 'dropStaging', run: async () => undefined }];
    expect(showsRollback(one, false)).toBe(true);
    expect(showsRollback(one, true)).toBe(false);
    expect(showsRollback([], false)).toBe(false);
  });

  it('records rolled_back when a step was undone, failed when none had run', () => {
    expect(outcomeAfterFailure([{ step: 'dropStaging', run: async () => undefined }])).toBe('rolled_back');
    expect(outcomeAfterFailure([])).toBe('failed');
  });
});

describe('rootMessage', () => {
  it('reads the innermost cause of a failure chain, or the text of a non-error', () => {
    const inner = new Error('innermost');
    const chain = ApplicationFailure.create({ message: 'outer', cause: new Error('middle', { cause: inner }) });
    expect(rootMessage(chain)).toBe('innermost');
    expect(rootMessage(new Error('alone'))).toBe('alone');
    expect(rootMessage(new Error('kept', { cause: 'not an error' }))).toBe('kept');
    expect(rootMessage(42)).toBe('42');
  });
});

describe('the applied dates', () => {
  it('carry each replaced date with the differences its publication found, zero when it found none', () => {
    const replaced = [
      { eventDate: '2026-11-20', fromVersion: 1, toVersion: 2, rowsBefore: 10, rowsAfter: 11 },
      { eventDate: '2026-11-21', fromVersion: 0, toVersion: 1, rowsBefore: 0, rowsAfter: 5 },
    ];
    expect(appliedDates(replaced, [{ eventDate: '2026-11-20', diffCount: 3 }])).toEqual([
      { eventDate: '2026-11-20', fromVersion: 1, toVersion: 2, rowsBefore: 10, rowsAfter: 11, diffCount: 3 },
      { eventDate: '2026-11-21', fromVersion: 0, toVersion: 1, rowsBefore: 0, rowsAfter: 5, diffCount: 0 },
    ]);
  });
});
