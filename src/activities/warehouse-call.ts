/**
 * Every warehouse call an activity makes runs inside the activity's job context: the adapters label their jobs with
 * the workflow, step and attempt, and stop the call when the activity is cancelled (the signal aborts once a
 * heartbeat's answer carries the cancel, or the worker shuts down).
 */
import { Context } from '@temporalio/activity';
import { withJobContext, type JobContext } from '../warehouse/job-context.js';
import { classified } from './errors.js';

/** The running activity's job context for `step`. */
export const jobContextOf = (step: string): JobContext => {
  const ctx = Context.current();
  return { workflowId: ctx.info.workflowExecution?.workflowId ?? ctx.info.activityId, step, attempt: ctx.info.attempt, signal: ctx.cancellationSignal };
};

/** Runs a warehouse call in the job context of the current activity, its permanent errors classified. */
export const warehouseCall = <T>(step: string, work: () => Promise<T>): Promise<T> => withJobContext(jobContextOf(step), () => classified(work));

/**
 * Runs `work` while heartbeating every `everyMs`, so the activity's heartbeat timeout catches a dead worker only, and
 * a cancel reaches the activity (it arrives with a heartbeat's answer). Local activities have no heartbeats.
 */
export const whileBeating = async <T>(everyMs: number, work: () => Promise<T>): Promise<T> => {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
};
