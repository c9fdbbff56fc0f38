/**
 * The file saga's decisions, apart from the calls that carry them out: the ids a run writes under, whether a file
 * is skipped as already applied, the order compensations run in and which ones a retry runs again, the outcome
 * recorded after a failure, and the applied dates. Pure and deterministic (no clock, no I/O): `file-workflow.ts`
 * runs them in the sandbox, unit tests run them directly.
 */
import type { FileStage, FileWorkflowResult } from '../domain/workflow-api.js';
import { rootMessage } from './failures.js';

/** The change a run writes: the file id and the run, so a rerun of the same file is a different change. */
export const changeIdFor = (fileId: string, runId: string): string => `${fileId}/${runId}`;

/** A file the registry says is applied already ends as a duplicate, unless an operator asked to replay it. */
export const skipsAsDuplicate = (registered: { alreadyApplied: boolean }, replay: boolean | undefined): boolean =>
  registered.alreadyApplied && !replay;

export interface Compensation {
  step: string;
  run: () => Promise<unknown>;
}

export interface FailedCompensation {
  step: string;
  reason: string;
}

/**
 * Registers a step's compensation before the step runs: the latest first, so compensations undo the steps in
 * reverse order.
 */
export const registerCompensation = (compensations: Compensation[], compensation: Compensation): void => {
  compensations.unshift(compensation);
};

/** Runs every compensation in order; one that fails does not stop the others. Returns the ones that failed. */
export const compensate = async (
  compensations: Compensation[],
  onFailure: (failed: FailedCompensation) => void,
): Promise<FailedCompensation[]> => {
  const failed: FailedCompensation[] = [];
  for (const c of compensations) {
    try {
      await c.run();
    } catch (error) {
      const f = { step: c.step, reason: rootMessage(error) };
      failed.push(f);
      onFailure(f);
    }
  }
  return failed;
};

/** The compensations an operator's retry runs again: the ones that failed, in their original order. */
export const compensationsToRetry = (compensations: Compensation[], failed: FailedCompensation[]): Compensation[] => {
  const retry = new Set(failed.map((f) => f.step));
  return compensations.filter((c) => retry.has(c.step));
};

/** Why the saga stopped: an operator's cancel, or the failing stage and the innermost message. */
export const failureReason = (stage: FileStage, cancelled: boolean, error: unknown): string =>
  cancelled ? `cancelled by an operator during ${stage}` : `${stage} failed: ${rootMessage(error)}`;

/** A rejected or refused file has its outcome recorded by its own step; anything else is recorded after the rollback. */
export const outcomeDecided = (stage: FileStage): boolean => stage === 'rejected' || stage === 'refused';

/** Whether the run shows a rollback: something to undo, and an outcome not decided already. */
export const showsRollback = (compensations: Compensation[], decided: boolean): boolean => compensations.length > 0 && !decided;

/** The outcome recorded after a failure: rolled back when a step had to be undone, failed when none had run. */
export const outcomeAfterFailure = (compensations: Compensation[]): 'rolled_back' | 'failed' =>
  compensations.length > 0 ? 'rolled_back' : 'failed';

/** The steps that failed, for the alert. */
export const failedStepNames = (failed: FailedCompensation[]): string => failed.map((f) => f.step).join(', ');

/** What the run shows, records and alerts while a rollback waits for an operator. */
export const rollbackIncomplete = (failed: FailedCompensation[], reason: string): string =>
  `rollback incomplete: ${failed.map((f) => `${f.step} failed: ${f.reason}`).join('; ')} (after: ${reason})`;

/** The applied dates of a published change, each with the number of transactions its publication found changed. */
export const appliedDates = (
  replaced: Array<{ eventDate: string; fromVersion: number; toVersion: number; rowsBefore: number; rowsAfter: number }>,
  published: Array<{ eventDate: string; diffCount: number }>,
): FileWorkflowResult['dates'] =>
  replaced.map((d) => ({
    eventDate: d.eventDate,
    fromVersion: d.fromVersion,
    toVersion: d.toVersion,
    rowsBefore: d.rowsBefore,
    rowsAfter: d.rowsAfter,
    diffCount: published.find((p) => p.eventDate === d.eventDate)?.diffCount ?? 0,
  }));
