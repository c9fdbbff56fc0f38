/**
 * The midnight run for one business date. The schedule starts it without a date (a trigger): it works out
 * the date from the scheduled time in the client's zone and starts `daily/<client>/<date>`, which waits for
 * that date's reconciliation file. The landing watcher starts every file workflow (one entry point, so no
 * file runs twice); this workflow follows it, and raises the late-file alert when the deadline passes first.
 */
import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  condition,
  continueAsNew,
  defineQuery,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { createOpsActivities, FileRunState } from '../activities/ops-activities.js';
import { businessDateForRun } from '../domain/schedule-time.js';
import { fileLandedSignal, searchAttributes, siblingQueue, workflowIds, type FileLanded } from '../domain/workflow-api.js';
import {
  dailyDetails,
  deadlineMsOf,
  deadlineTimerMs,
  dispatchedDeadlineAt,
  droppedProblem,
  fileRunVerdict,
  followsLanded,
  lateAlert,
  lateByMsOf,
  raisesLateAlert,
  resolvedAlert,
  stageWhenLate,
  waitingStage,
  type DailyStage,
} from './daily-decisions.js';

export interface DailyWorkflowInput {
  clientId: string;
  timeZone: string;
  /** `HH:MM` local time, on the day after the business date, after which the file is late. */
  deadline: string;
  /** The business date; unset when the schedule starts the run (it is computed from the scheduled time). */
  date?: string;
  /** An absolute deadline (ISO 8601) instead of `deadline`: drills and the demo. */
  deadlineAt?: string;
  /** For a scheduled trigger: the deadline this long after the scheduled time instead of `deadline` (drills, the demo). */
  deadlineAfterMs?: number;
  /** How often the partition ledger is checked besides the watcher's signal (default one minute). */
  checkIntervalMs?: number;
  /** Carried over continue-as-new. */
  carry?: { late: boolean; landed: FileLanded[]; lateSince?: string };
}

export interface DailyWorkflowResult {
  date: string;
  /** `dispatched`: a scheduled trigger that started (or found) the date's run; `reconciled`: the date is final. */
  outcome: 'dispatched' | 'already_running' | 'reconciled';
  workflowId: string;
  fileId: string | null;
  fileWorkflowId: string | null;
  late: boolean;
  /** Arrival minus deadline: positive when late. */
  lateByMs: number | null;
  deadline: string;
}

export interface DailyState {
  date: string;
  deadline: string;
  stage: DailyStage;
  late: boolean;
  landed: FileLanded[];
  lastProblem: string | null;
}
export const dailyStateQuery = defineQuery<DailyState>('dailyState');

/** Set by Temporal on every workflow a schedule starts: the nominal time (also for catch-up runs). */
const scheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

type OpsActivities = ReturnType<typeof createOpsActivities>;

/**
 * Patch marker: the deadline timer is measured from the workflow's clock when its code first runs, not from the run's
 * start time. Runs recorded before it replay the old way.
 */
export const DEADLINE_FROM_WORKFLOW_CLOCK = 'daily-deadline-from-workflow-clock';

const ops = proxyActivities<OpsActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});
const alerts = proxyActivities<OpsActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 20, nonRetryableErrorTypes: ['WebhookRejected'] },
});

export async function dailyWorkflow(input: DailyWorkflowInput): Promise<DailyWorkflowResult> {
  const info = workflowInfo();
  if (input.date === undefined) return dispatch(input);

  const date = input.date;
  const deadlineMs = deadlineMsOf(input, date);
  const deadline = new Date(deadlineMs).toISOString();
  const state: DailyState = {
    date,
    deadline,
    stage: waitingStage(input.carry?.late ?? false),
    late: input.carry?.late ?? false,
    landed: input.carry?.landed ?? [],
    lastProblem: null,
  };
  let wake = false;
  let deadlinePassed = state.late;
  setHandler(dailyStateQuery, () => state);
  setHandler(fileLandedSignal, (landed) => {
    if (!followsLanded(date, state.landed, landed)) return;
    state.landed.push(landed);
    wake = true;
  });
  upsertSearchAttributes([
    { key: searchAttributes.ClientId, value: input.clientId },
    { key: searchAttributes.EventDates, value: [date] },
    { key: searchAttributes.FileKind, value: 'reconciliation' },
    { key: searchAttributes.LateFile, value: state.late },
    { key: searchAttributes.Stage, value: state.stage },
  ]);
  const enter = (stage: DailyState['stage']): void => {
    if (state.stage === stage) return;
    state.stage = stage;
    upsertSearchAttributes([{ key: searchAttributes.Stage, value: stage }]);
  };
  const showDetails = (): void => {
    setCurrentDetails(dailyDetails(input, state));
  };

  if (!deadlinePassed) {
    // A run started while no worker was up (an outage at midnight) first runs hours later: a timer of
    // "deadline - start time" set then would fire that much after the deadline. Date.now() in a workflow is the
    // time of the current workflow task, recorded in history, so it replays the same. (SDK 1.24's runStartTime,
    // documented as the run's start, is the first task's time too; this no longer depends on that.)
    const from = patched(DEADLINE_FROM_WORKFLOW_CLOCK)
      ? // eslint-disable-next-line no-restricted-syntax -- the sandbox's deterministic clock is exactly what is wanted here
        Date.now()
      : info.runStartTime.getTime();
    void sleep(deadlineTimerMs(deadlineMs, from)).then(() => {
      deadlinePassed = true;
      wake = true;
    });
  }

  let arrived: { fileId: string | null; fileWorkflowId: string | null; at: string | null } | null = null;
  for (;;) {
    // Cleared before looking, so a signal that arrives while an activity runs wakes the next wait at once.
    wake = false;
    // The files the watcher announced, newest first: the first applied one completes the date.
    for (const landed of [...state.landed].reverse()) {
      const run: FileRunState = await ops.fileRunState({ workflowId: landed.workflowId, fileId: landed.fileId, sha256: landed.sha256 });
      const verdict = fileRunVerdict(run);
      if (verdict === 'arrived') {
        arrived = { fileId: landed.fileId, fileWorkflowId: landed.workflowId, at: run.receivedAt };
        break;
      }
      if (verdict === 'running') {
        enter('processing');
        continue;
      }
      state.lastProblem = droppedProblem(landed, run);
      state.landed = state.landed.filter((l) => l.workflowId !== landed.workflowId);
      enter(waitingStage(state.late));
    }
    // The ledger covers a file applied before this run started, or announced while no one listened.
    if (arrived === null) {
      const ledger = await ops.checkReconciliation({ date });
      if (ledger.final) arrived = { fileId: ledger.fileId, fileWorkflowId: null, at: ledger.updatedAt };
    }
    if (arrived !== null) break;

    if (raisesLateAlert(deadlinePassed, state.late)) {
      state.late = true;
      enter(stageWhenLate(state.landed.length));
      upsertSearchAttributes([{ key: searchAttributes.LateFile, value: true }]);
      const alert = lateAlert({ clientId: input.clientId, date, deadline, workflowId: info.workflowId });
      log.error(alert.message, { clientId: input.clientId, date, deadline });
      await ops.recordLateFile(alert);
      await alerts.postAlert(alert).catch((error: unknown) => log.error('late-file webhook failed', { error: String(error) }));
    }
    showDetails();
    await condition(() => wake, input.checkIntervalMs ?? 60_000);

    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof dailyWorkflow>({
        ...input,
        carry: { late: state.late, landed: state.landed },
      });
    }
  }

  const lateByMs = lateByMsOf(arrived.at, deadlineMs);
  enter('reconciled');
  if (state.late) {
    upsertSearchAttributes([{ key: searchAttributes.LateFile, value: false }]);
    const alert = resolvedAlert({ clientId: input.clientId, date, deadline, workflowId: info.workflowId }, arrived, lateByMs);
    await ops.recordLateFile(alert);
    await alerts.postAlert(alert).catch((error: unknown) => log.error('late-file webhook failed', { error: String(error) }));
  }
  showDetails();
  log.info('date reconciled', { date, fileId: arrived.fileId, late: state.late, lateByMs });
  return {
    date,
    outcome: 'reconciled',
    workflowId: info.workflowId,
    fileId: arrived.fileId,
    fileWorkflowId: arrived.fileWorkflowId,
    late: state.late,
    lateByMs,
    deadline,
  };
}

/** The scheduled trigger: starts the date's run under its business key, once, and returns. */
async function dispatch(input: DailyWorkflowInput): Promise<DailyWorkflowResult> {
  const info = workflowInfo();
  const scheduledAt = info.typedSearchAttributes.get(scheduledStartTime) ?? info.startTime;
  const date = businessDateForRun(scheduledAt.getTime(), input.timeZone);
  const workflowId = workflowIds.daily(input.clientId, date);
  const { deadlineAfterMs: _deadlineAfterMs, ...rest } = input;
  const deadlineAt = dispatchedDeadlineAt(input, scheduledAt.getTime());
  const deadline = new Date(deadlineMsOf({ deadlineAt, deadline: input.deadline, timeZone: input.timeZone }, date)).toISOString();
  const base = { date, workflowId, fileId: null, fileWorkflowId: null, late: false, lateByMs: null, deadline };
  try {
    await startChild(dailyWorkflow, {
      workflowId,
      taskQueue: siblingQueue(workflowInfo().taskQueue, 'ops'),
      args: [{ ...rest, date, ...(deadlineAt !== undefined ? { deadlineAt } : {}) }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `Waits for ${input.clientId}'s reconciliation file of ${date}; late after ${deadline}`,
      staticDetails: `Started by ${info.workflowId} (scheduled ${scheduledAt.toISOString()}).`,
    });
    setCurrentDetails(`Started ${workflowId} for business date ${date}.`);
    return { ...base, outcome: 'dispatched' };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    setCurrentDetails(`${workflowId} already ran or is running: nothing to do.`);
    return { ...base, outcome: 'already_running' };
  }
}
