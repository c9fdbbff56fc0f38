/**
 * The daily run's decisions, apart from the calls that carry them out: which landed files it follows, what a file
 * run's state means for the date, when the late alert is raised, what the alerts say, and the deadline a scheduled
 * trigger hands to the date's run. Pure and deterministic (times are passed in): `daily-workflow.ts` runs them in
 * the sandbox, unit tests run them directly.
 */
import type { AlertInput, FileRunState } from '../activities/ops-activities.js';
import { formatDuration, reconciliationDeadline } from '../domain/schedule-time.js';
import type { FileLanded } from '../domain/workflow-api.js';

export type DailyStage = 'waiting' | 'late' | 'processing' | 'reconciled';

/** The deadline of a date's run: an absolute one if given (drills, the demo), else `HH:MM` in the client's zone. */
export const deadlineMsOf = (input: { deadlineAt?: string | undefined; deadline: string; timeZone: string }, date: string): number =>
  input.deadlineAt !== undefined ? Date.parse(input.deadlineAt) : reconciliationDeadline(date, input.deadline, input.timeZone);

/** The deadline timer, measured from the workflow's clock; never negative (a run started after its deadline fires at once). */
export const deadlineTimerMs = (deadlineMs: number, fromMs: number): number => Math.max(0, deadlineMs - fromMs);

/** A landed file the run follows: one covering its date, announced once (a repeated signal is ignored). */
export const followsLanded = (date: string, following: FileLanded[], landed: FileLanded): boolean =>
  landed.covers.includes(date) && !following.some((l) => l.workflowId === landed.workflowId);

/**
 * What a followed file's run means for the date: `arrived` (applied, or a duplicate of an applied file: the date is
 * final), `running` (wait for it), `dropped` (it failed or is gone: wait for a corrected file).
 */
export const fileRunVerdict = (run: Pick<FileRunState, 'status'>): 'arrived' | 'running' | 'dropped' =>
  run.status === 'applied' || run.status === 'duplicate' ? 'arrived' : run.status === 'running' ? 'running' : 'dropped';

/** What the run shows for a dropped file. */
export const droppedProblem = (landed: Pick<FileLanded, 'fileId'>, run: Pick<FileRunState, 'status' | 'reason'>): string =>
  `${landed.fileId}: ${run.reason ?? run.status}; waiting for a corrected file`;

/** The stage while no followed file is running: late once the deadline has passed, waiting before. */
export const waitingStage = (late: boolean): DailyStage => (late ? 'late' : 'waiting');

/** The late alert is raised once: the first time the run finds its deadline passed. */
export const raisesLateAlert = (deadlinePassed: boolean, alreadyLate: boolean): boolean => deadlinePassed && !alreadyLate;

/** The stage when the run goes late: still processing if a followed file is running, late otherwise. */
export const stageWhenLate = (following: number): DailyStage => (following > 0 ? 'processing' : 'late');

interface AlertContext {
  clientId: string;
  date: string;
  deadline: string;
  workflowId: string;
}

/** The alert raised when the deadline passes with the date not reconciled. */
export const lateAlert = (c: AlertContext): AlertInput & { event: 'late' } => ({
  clientId: c.clientId,
  date: c.date,
  event: 'late',
  deadline: c.deadline,
  workflowId: c.workflowId,
  message: `reconciliation file for ${c.clientId} ${c.date} is late: deadline ${c.deadline} passed; ${c.workflowId} keeps waiting`,
});

/** How late the file arrived (positive: after the deadline); null when its arrival time is unknown. */
export const lateByMsOf = (arrivedAt: string | null, deadlineMs: number): number | null =>
  arrivedAt !== null ? Date.parse(arrivedAt) - deadlineMs : null;

/** The alert that clears a late one: the file arrived and is applied. */
export const resolvedAlert = (c: AlertContext, arrived: { fileId: string | null }, lateByMs: number | null): AlertInput & { event: 'resolved' } => ({
  clientId: c.clientId,
  date: c.date,
  event: 'resolved',
  deadline: c.deadline,
  workflowId: c.workflowId,
  message: `reconciliation file for ${c.clientId} ${c.date} arrived ${lateByMs !== null ? formatDuration(lateByMs) : ''} after its deadline (${arrived.fileId ?? 'unknown file'}) and is applied`,
  ...(arrived.fileId !== null ? { fileId: arrived.fileId } : {}),
  ...(lateByMs !== null ? { lateByMs } : {}),
});

/** The run's details in the Temporal UI (Markdown). */
export const dailyDetails = (
  input: { clientId: string; deadline: string; deadlineAt?: string; timeZone: string },
  state: { date: string; deadline: string; stage: DailyStage; landed: FileLanded[]; lastProblem: string | null },
): string =>
  [
    `**Reconciliation of ${state.date}** for ${input.clientId}: ${state.stage}`,
    `Deadline: ${state.deadline} (${input.deadlineAt ?? `${input.deadline} ${input.timeZone}`})`,
    ...state.landed.map((l) => `Landed: ${l.fileId} → ${l.workflowId}`),
    ...(state.lastProblem ? [`Last problem: ${state.lastProblem}`] : []),
  ].join('\n\n');

/**
 * The absolute deadline a scheduled trigger passes to the date's run: the one it was given, or `deadlineAfterMs`
 * after the scheduled time (drills, the demo); undefined when the run works it out from `HH:MM`.
 */
export const dispatchedDeadlineAt = (
  input: { deadlineAt?: string; deadlineAfterMs?: number },
  scheduledAtMs: number,
): string | undefined =>
  input.deadlineAt ?? (input.deadlineAfterMs !== undefined ? new Date(scheduledAtMs + input.deadlineAfterMs).toISOString() : undefined);
