/**
 * An operator's rerun of a date's daily run (`npm run cli -- daily rerun <date>`). The schedule starts
 * `daily/<client>/<date>` once and refuses a second start of that id, so a run that failed, was terminated or timed
 * out stays down until someone starts it again: this does, under the same id, and only when the last run did not
 * succeed (Temporal's ALLOW_DUPLICATE_FAILED_ONLY enforces it even against a concurrent start).
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { workflowIds } from '../domain/workflow-api.js';
import type { dailyWorkflow, DailyWorkflowInput } from '../workflows/daily-workflow.js';

export interface RerunDailyOptions {
  clientId: string;
  date: string;
  timeZone: string;
  /** `HH:MM` local on the next day (RECONCILIATION_DEADLINE). */
  deadline: string;
  taskQueue: string;
  /** Who asks, for the run's summary. */
  requestedBy: string;
  /** Drills: an absolute deadline (ISO 8601) instead of `deadline`. */
  deadlineAt?: string;
  checkIntervalMs?: number;
}

export interface RerunDailyResult {
  started: boolean;
  workflowId: string;
  /** The last run's status before this call (`NONE` when the date never had a run). */
  previous: string;
  runId?: string;
  reason: string;
}

export const rerunDailyRun = async (client: Client, o: RerunDailyOptions): Promise<RerunDailyResult> => {
  const workflowId = workflowIds.daily(o.clientId, o.date);
  const previous = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.status.name as string)
    .catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return 'NONE';
      throw error;
    });
  if (previous === 'RUNNING') return { started: false, workflowId, previous, reason: `${workflowId} is running: nothing to rerun` };
  if (previous === 'COMPLETED') {
    return { started: false, workflowId, previous, reason: `${workflowId} completed (the date is reconciled): nothing to rerun` };
  }
  const input: DailyWorkflowInput = {
    clientId: o.clientId,
    timeZone: o.timeZone,
    deadline: o.deadline,
    date: o.date,
    ...(o.deadlineAt !== undefined ? { deadlineAt: o.deadlineAt } : {}),
    ...(o.checkIntervalMs !== undefined ? { checkIntervalMs: o.checkIntervalMs } : {}),
  };
  try {
    const handle = await client.workflow.start<typeof dailyWorkflow>('dailyWorkflow', {
      taskQueue: o.taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      staticSummary: `Rerun by ${o.requestedBy}: waits for ${o.clientId}'s reconciliation file of ${o.date}`,
      staticDetails: `The previous run ended ${previous}; rerun with npm run cli -- daily rerun ${o.date}.`,
    });
    return { started: true, workflowId, previous, runId: handle.firstExecutionRunId, reason: `started after a run that ended ${previous}` };
  } catch (error) {
    // Another start won the race, or the run completed meanwhile.
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { started: false, workflowId, previous, reason: `${workflowId}: ${error.message}` };
    throw error;
  }
};
