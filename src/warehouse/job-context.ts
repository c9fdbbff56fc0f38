/**
 * Who is asking the warehouse: the workflow, step and attempt of the activity that runs a warehouse call, and its
 * cancellation signal. The activity layer sets it around a call (`withJobContext`); the BigQuery adapter reads it to
 * label its jobs, to give them ids that are the same on a retry of the same attempt (so a retried call waits on the
 * job still running instead of running the DML twice) and to cancel them when the activity is cancelled.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface JobContext {
  workflowId: string;
  step: string;
  attempt: number;
  signal?: AbortSignal;
}

interface Scope extends JobContext {
  /** Jobs sent so far in this scope: the n-th job of an attempt has the same id every time it is sent. */
  jobs: number;
}

const storage = new AsyncLocalStorage<Scope>();

export const withJobContext = <T>(context: JobContext, work: () => Promise<T>): Promise<T> =>
  storage.run({ ...context, jobs: 0 }, work);

/** The caller's context and the sequence number of the job about to be sent, or undefined outside any context. */
export const nextJob = (): (JobContext & { sequence: number }) | undefined => {
  const scope = storage.getStore();
  if (!scope) return undefined;
  scope.jobs += 1;
  return { workflowId: scope.workflowId, step: scope.step, attempt: scope.attempt, sequence: scope.jobs, ...(scope.signal ? { signal: scope.signal } : {}) };
};

/** A BigQuery label value: lower case letters, digits, `_` and `-`, at most 63 characters. */
export const labelValue = (text: string): string => text.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);

/** A BigQuery job id: letters, digits, `_` and `-`, at most 1,024 characters. */
export const jobIdOf = (context: JobContext & { sequence: number }): string =>
  `${context.workflowId}-${context.step}-${context.attempt}-${context.sequence}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 1024);

/** The caller's cancellation signal, if it runs in a context that has one (counts no job). */
export const currentSignal = (): AbortSignal | undefined => storage.getStore()?.signal;
