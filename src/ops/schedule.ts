/**
 * The midnight schedule: one Temporal Schedule per client that starts the daily trigger at SCHEDULE_TIME in
 * the client's time zone. Created or updated idempotently, so every `up` (and every deploy) converges it.
 *
 * Policies:
 * - overlap ALLOW_ALL: days are independent, and a trigger only starts `daily/<client>/<date>` (refused by
 *   Temporal if that date's run exists) and ends within seconds. BUFFER_ONE would keep one missed run and drop
 *   the rest after an outage; SKIP would drop a day outright.
 * - catch-up window 7 days: after a Temporal outage every missed midnight still fires, with its own scheduled
 *   time, so each missed date gets its run; a week covers a long weekend plus a slow recovery.
 * - pauseOnFailure off: one bad night must not stop the next nights.
 * - two calendar entries: SCHEDULE_TIME and a second firing the same local day (`secondFiringTime`), because
 *   Temporal skips a local time that a DST change jumps over; the second firing finds the date's run and does nothing.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleHandle,
  type ScheduleOptions,
} from '@temporalio/client';
import { searchAttributes } from '../domain/workflow-api.js';
import type { DailyWorkflowInput } from '../workflows/daily-workflow.js';
import { businessDateForRun, minutesOfDay, secondFiringTime } from '../domain/schedule-time.js';

export interface DailyScheduleOptions {
  clientId: string;
  timeZone: string;
  /** `HH:MM` local (SCHEDULE_TIME). */
  scheduleTime: string;
  /** `HH:MM` local on the next day (RECONCILIATION_DEADLINE). */
  deadline: string;
  taskQueue: string;
  catchupWindow?: string;
  checkIntervalMs?: number;
  /** Drills and the demo: the file is late at this instant (ISO 8601), whatever the scheduled time. */
  deadlineAt?: string;
}

export const dailyScheduleId = (clientId: string): string => `daily/${clientId}`;
/** Temporal appends the scheduled time: `daily/acme/trigger-2026-11-22T05:05:00Z`. */
export const dailyTriggerIdPrefix = (clientId: string): string => `daily/${clientId}/trigger`;

export const SCHEDULE_POLICIES = {
  overlap: ScheduleOverlapPolicy.ALLOW_ALL,
  catchupWindow: '7 days',
  pauseOnFailure: false,
} as const;

export const dailyScheduleOptions = (o: DailyScheduleOptions): ScheduleOptions => {
  const second = secondFiringTime(o.scheduleTime);
  const at = (hhmm: string): { hour: number; minute: number } => ({ hour: Math.floor(minutesOfDay(hhmm) / 60), minute: minutesOfDay(hhmm) % 60 });
  const args: [DailyWorkflowInput] = [
    {
      clientId: o.clientId,
      timeZone: o.timeZone,
      deadline: o.deadline,
      ...(o.checkIntervalMs !== undefined ? { checkIntervalMs: o.checkIntervalMs } : {}),
      ...(o.deadlineAt !== undefined ? { deadlineAt: o.deadlineAt } : {}),
    },
  ];
  return {
    scheduleId: dailyScheduleId(o.clientId),
    spec: {
      calendars: [
        { ...at(o.scheduleTime), comment: `every day at ${o.scheduleTime} ${o.timeZone}` },
        { ...at(second), comment: `again at ${second}, for a day whose ${o.scheduleTime} a DST change skips (a no-op otherwise)` },
      ],
      timezone: o.timeZone,
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'dailyWorkflow',
      workflowId: dailyTriggerIdPrefix(o.clientId),
      taskQueue: o.taskQueue,
      args,
      typedSearchAttributes: [{ key: searchAttributes.ClientId, value: o.clientId }],
      staticSummary: `Midnight trigger for ${o.clientId}: starts daily/${o.clientId}/<previous business date>`,
      staticDetails: `Reconciliation file due by ${o.deadline} ${o.timeZone} on the day after the business date.`,
    },
    policies: { ...SCHEDULE_POLICIES, ...(o.catchupWindow ? { catchupWindow: o.catchupWindow } : {}) },
    state: { note: `Reconciliation watch for ${o.clientId}, ${o.scheduleTime} ${o.timeZone}` },
  };
};

/** Creates the schedule, or brings an existing one to these options (idempotent). */
export const ensureDailySchedule = async (
  client: Client,
  o: DailyScheduleOptions,
): Promise<{ handle: ScheduleHandle; created: boolean }> => {
  const options = dailyScheduleOptions(o);
  const policies = options.policies ?? SCHEDULE_POLICIES;
  try {
    const handle = await client.schedule.create(options);
    return { handle, created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    const handle = client.schedule.getHandle(options.scheduleId);
    await handle.update((previous) => ({
      ...previous,
      spec: options.spec,
      action: options.action,
      policies,
    }));
    return { handle, created: false };
  }
};

/**
 * Fires the schedule now and returns the business date of the run it started, read from the time the schedule
 * recorded for this action (as the trigger workflow reads it), so a trigger just before midnight names the
 * right date.
 */
export const triggerDailySchedule = async (
  handle: ScheduleHandle,
  timeZone: string,
  timeoutMs = 15_000,
): Promise<{ date: string; scheduledAt: Date }> => {
  const key = (a: { scheduledAt: Date; takenAt: Date }): string => `${a.scheduledAt.getTime()}/${a.takenAt.getTime()}`;
  const seen = new Set((await handle.describe()).info.recentActions.map(key));
  await handle.trigger();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fired = (await handle.describe()).info.recentActions.find((a) => !seen.has(key(a)));
    if (fired) return { date: businessDateForRun(fired.scheduledAt.getTime(), timeZone), scheduledAt: fired.scheduledAt };
    if (Date.now() > deadline) throw new Error(`${handle.scheduleId}: triggered, but no action recorded within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
};
