/**
 * The midnight run. Deadline and DST behaviour on the time-skipping test server (hours pass in
 * milliseconds), with the operating activities faked; then the real schedule on the dev server, triggered.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { ApplicationFailure, msToTs } from '@temporalio/common';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertInput, FileRunState, createOpsActivities } from '../../src/activities/ops-activities.js';
import { createOpsActivities as makeOpsActivities } from '../../src/activities/ops-activities.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { addDays, businessDateOfInstant, businessDayLengthMs, previousDate } from '../../src/domain/dates.js';
import { businessDateForRun, instantOfLocalTime } from '../../src/domain/schedule-time.js';
import { countLateFiles } from '../../src/ops/late-files.js';
import { PipelineMetrics } from '../../src/ops/metrics.js';
import { rerunDailyRun } from '../../src/ops/rerun-daily.js';
import { dailyScheduleId, ensureDailySchedule, SCHEDULE_POLICIES, triggerDailySchedule } from '../../src/ops/schedule.js';
import { ensureSearchAttributes, INDEXED_VALUE_TYPE, productSearchAttributes } from '../../src/ops/search-attributes.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { workflowBundle } from '../../src/workers/bundle.js';
import { fileLandedSignal, searchAttributes } from '../../src/domain/workflow-api.js';
import { dailyStateQuery, type dailyWorkflow, type DailyWorkflowInput } from '../../src/workflows/daily-workflow.js';
import { repoRoot } from '../support/servers.js';

type OpsActivities = ReturnType<typeof createOpsActivities>;

/** The first date after `from` whose day in New York lasts `lengthMs` (23 h: spring forward, 25 h: fall back). */
const nextDayLasting = (from: string, lengthMs: number): string => {
  for (let date = addDays(from, 1), n = 0; n < 800; date = addDays(date, 1), n++) {
    if (businessDayLengthMs(date, NY) === lengthMs) return date;
  }
  throw new Error(`no day of ${lengthMs} ms in New York within 800 days after ${from}`);
};
const NY = 'America/New_York';
const MIN = 60_000;
const HOUR = 60 * MIN;

/** Activities that answer from maps the test controls, and record alerts. */
class FakeOps {
  runs = new Map<string, FileRunState>();
  ledger = new Map<string, { status: string; fileId: string; updatedAt: string }>();
  alerts: AlertInput[] = [];
  posts: AlertInput[] = [];
  /** Dates whose ledger check fails for good (a daily run that fails). */
  failing = new Set<string>();

  activities(): Pick<OpsActivities, 'fileRunState' | 'checkReconciliation' | 'recordLateFile' | 'postAlert'> {
    return {
      fileRunState: async ({ workflowId }) => this.runs.get(workflowId) ?? { status: 'not_found', stage: null, reason: null, receivedAt: null },
      checkReconciliation: async ({ date }) => {
        if (this.failing.has(date)) throw ApplicationFailure.nonRetryable(`ledger of ${date} unreadable`, 'LedgerBroken');
        const entry = this.ledger.get(date);
        return entry
          ? { final: true, status: entry.status, fileId: entry.fileId, version: 1, updatedAt: entry.updatedAt }
          : { final: false, status: 'provisional', fileId: null, version: 0, updatedAt: null };
      },
      recordLateFile: async (alert) => {
        this.alerts.push(alert);
      },
      postAlert: async (alert) => {
        this.posts.push(alert);
        return { posted: true, status: 200 };
      },
    };
  }
}

describe('daily workflow on the time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  /**
   * A plain client: its `result()` does not unlock time skipping (the test server's own client would let the
   * clock run to the far future while waiting), so time moves only through `env.sleep`.
   */
  let client: Client;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `daily-ts-${randomUUID()}`;
  const fake = new FakeOps();

  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: `${repoRoot}/.tools/bin/temporal-test-server` } },
    });
    // The test server knows no custom search attributes until told; it has no ListSearchAttributes, so they are added blind.
    await env.connection.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: Object.fromEntries(productSearchAttributes().map(({ name, type }) => [name, INDEXED_VALUE_TYPE[type]])),
    });
    client = new Client({ connection: env.connection });
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: fake.activities(),
    });
    running = worker.run();
  }, 120_000);

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  /** Moves the test server's clock forward to an instant (the server's clock only moves forward). */
  const skipTo = async (instantMs: number): Promise<void> => {
    const now = await env.currentTimeMs();
    if (instantMs < now) throw new Error(`cannot go back to ${new Date(instantMs).toISOString()}`);
    await env.sleep(instantMs - now);
  };

  const startDaily = async (input: Partial<DailyWorkflowInput> & { date: string; clientId: string }) =>
    client.workflow.start<typeof dailyWorkflow>('dailyWorkflow', {
      taskQueue,
      workflowId: `daily/${input.clientId}/${input.date}`,
      args: [{ timeZone: NY, deadline: '06:00', checkIntervalMs: 30 * MIN, ...input }],
    });

  // The test server's clock starts at the real now and only moves forward, so the DST checks use the next
  // changes in New York after today (spring forward first, then the fall back after it), computed, never fixed;
  // the pure math for fixed years is in test/unit/schedule-time.test.ts.
  const today = businessDateOfInstant(Date.now(), NY);
  const spring = nextDayLasting(today, 23 * HOUR);
  const fall = nextDayLasting(spring, 25 * HOUR);
  const springEve = previousDate(spring);
  const fallEve = previousDate(fall);

  it('computes the next DST days after today: a 23 h day, then a 25 h day, in the future', () => {
    expect(spring > today).toBe(true);
    expect(fall > spring).toBe(true);
    expect(businessDayLengthMs(spring, NY)).toBe(23 * HOUR);
    expect(businessDayLengthMs(fall, NY)).toBe(25 * HOUR);
    // The deadline lies 4 h 55 m after a 00:05 run on the short day, 6 h 55 m after it on the long day.
    expect(instantOfLocalTime(spring, '06:00', NY) - instantOfLocalTime(spring, '00:05', NY)).toBe(4 * HOUR + 55 * MIN);
    expect(instantOfLocalTime(fall, '06:00', NY) - instantOfLocalTime(fall, '00:05', NY)).toBe(6 * HOUR + 55 * MIN);
  });

  it(`spring forward (next 23 h day, ${spring}): a run at 00:05 EST is late at 06:00 EDT, 4 h 55 m later, and clears when the file lands`, async () => {
    const clientId = 'dst1';
    const deadline = new Date(instantOfLocalTime(spring, '06:00', NY)).toISOString();
    const workflowId = `reconcile/dst1/${springEve}/f1/abcdef12`;
    await skipTo(instantOfLocalTime(spring, '00:05', NY));
    const handle = await startDaily({ clientId, date: springEve });
    const started = await env.currentTimeMs();

    await env.sleep(4 * HOUR + 54 * MIN);
    let state = await handle.query(dailyStateQuery);
    expect(state).toMatchObject({ late: false, stage: 'waiting', deadline });
    expect(fake.alerts.filter((a) => a.date === springEve)).toEqual([]);

    await env.sleep(2 * MIN);
    state = await waitFor(async () => {
      const s = await handle.query(dailyStateQuery);
      return s.late && fake.posts.some((a) => a.date === springEve) ? s : undefined;
    });
    const late = fake.alerts.filter((a) => a.date === springEve);
    expect(late).toMatchObject([{ event: 'late', clientId, deadline }]);
    expect(fake.posts.filter((a) => a.date === springEve && a.event === 'late')).toHaveLength(1);
    expect((await handle.describe()).typedSearchAttributes.get(searchAttributes.LateFile)).toBe(true);
    expect((await env.currentTimeMs()) - started).toBeLessThan(5 * HOUR);

    // The file lands 25 minutes after the deadline; the watcher announces it; it is applied.
    await env.sleep(23 * MIN);
    const arrivedAt = new Date(await env.currentTimeMs()).toISOString();
    fake.runs.set(workflowId, { status: 'applied', stage: 'applied', reason: null, receivedAt: arrivedAt });
    await handle.signal(fileLandedSignal, {
      fileId: 'f1',
      sha256: 'abcdef12'.padEnd(64, '0'),
      kind: 'reconciliation',
      covers: [springEve],
      workflowId,
    });
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'reconciled', late: true, fileId: 'f1', date: springEve });
    expect(result.lateByMs).toBeGreaterThanOrEqual(24 * MIN);
    expect(result.lateByMs).toBeLessThanOrEqual(27 * MIN);
    expect((await handle.describe()).typedSearchAttributes.get(searchAttributes.LateFile)).toBe(false);
    expect(fake.alerts.filter((a) => a.date === springEve).map((a) => a.event)).toEqual(['late', 'resolved']);
  });

  it(`fall back (next 25 h day, ${fall}): a run at 00:05 EDT is not late until 06:00 EST, 6 h 55 m later`, async () => {
    const clientId = 'dst2';
    await skipTo(instantOfLocalTime(fall, '00:05', NY));
    const handle = await startDaily({ clientId, date: fallEve });
    await env.sleep(6 * HOUR + 54 * MIN);
    expect((await handle.query(dailyStateQuery)).late).toBe(false);
    await env.sleep(2 * MIN);
    const state = await waitFor(async () => {
      const s = await handle.query(dailyStateQuery);
      return s.late ? s : undefined;
    });
    expect(state).toMatchObject({ late: true, stage: 'late', deadline: new Date(instantOfLocalTime(fall, '06:00', NY)).toISOString() });
    await handle.terminate('test done');
  });

  it('a file on time never raises the alert; a rejected file keeps the date waiting for a corrected one', async () => {
    const clientId = 'ontime';
    const now = await env.currentTimeMs();
    const scheduledAt = now;
    const date = businessDateForRun(scheduledAt, NY);
    const handle = await startDaily({ clientId, date, deadlineAt: new Date(now + 2 * HOUR).toISOString() });
    fake.runs.set('bad', { status: 'failed', stage: 'rejected', reason: 'file bad rejected: 3 problem(s)', receivedAt: null });
    await handle.signal(fileLandedSignal, { fileId: 'bad', sha256: '0'.repeat(64), kind: 'reconciliation', covers: [date], workflowId: 'bad' });
    await env.sleep(10 * MIN);
    const waiting = await waitFor(async () => {
      const state = await handle.query(dailyStateQuery);
      return state.landed.length === 0 ? state : undefined;
    });
    expect(waiting).toMatchObject({ stage: 'waiting', late: false, landed: [] });
    expect(waiting.lastProblem).toMatch(/rejected/);

    // The corrected file is applied and found by the periodic ledger check (no signal needed).
    fake.ledger.set(date, { status: 'reconciled', fileId: 'good', updatedAt: new Date(now + 40 * MIN).toISOString() });
    await env.sleep(31 * MIN);
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'reconciled', late: false, fileId: 'good' });
    expect(result.lateByMs).toBe(-80 * MIN);
    expect(fake.alerts.filter((a) => a.clientId === clientId)).toEqual([]);
  });

  it('a scheduled trigger (no date) starts daily/<client>/<previous date> once', async () => {
    const clientId = 'trig';
    fake.ledger.clear();
    const now = await env.currentTimeMs();
    const date = businessDateForRun(now, NY);
    const trigger = (id: string) =>
      client.workflow.execute<typeof dailyWorkflow>('dailyWorkflow', {
        taskQueue,
        workflowId: id,
        args: [{ clientId, timeZone: NY, deadline: '06:00', checkIntervalMs: 30 * MIN }],
      });
    expect(await trigger('daily/trig/trigger-1')).toMatchObject({ outcome: 'dispatched', date, workflowId: `daily/trig/${date}` });
    expect(await trigger('daily/trig/trigger-2')).toMatchObject({ outcome: 'already_running', date });
    const child = client.workflow.getHandle(`daily/trig/${date}`);
    expect((await child.query(dailyStateQuery)).date).toBe(date);
    await child.terminate('test done');
  });
});

describe('the late-file webhook activity', () => {
  it('POSTs the alert as JSON and fails retryably on a 5xx', async () => {
    const received: unknown[] = [];
    let status = 200;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
    try {
      const activities = makeOpsActivities({
        client: {} as Client,
        warehouse,
        landing: new LocalDirLanding('/nonexistent'),
        taskQueue: 'unused',
        timeZone: NY,
        alertWebhookUrl: `http://127.0.0.1:${port}/hook`,
      });
      const alert: AlertInput = {
        clientId: 'acme',
        date: '2026-11-21',
        event: 'late',
        deadline: '2026-11-22T11:00:00.000Z',
        workflowId: 'daily/acme/2026-11-21',
        message: 'late',
      };
      const env = new MockActivityEnvironment();
      expect(await env.run(activities.postAlert, alert)).toEqual({ posted: true, status: 200 });
      expect(received).toEqual([{ text: 'late', ...alert }]);
      status = 503;
      await expect(env.run(activities.postAlert, alert)).rejects.toThrow(/503/);
    } finally {
      server.close();
      await warehouse.close();
    }
  });
});

describe('the daily schedule on the dev server', () => {
  const address = process.env.TEMPORAL_ADDRESS ?? '';
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = `daily-dev-${randomUUID()}`;
  const clientId = `sch${randomUUID().slice(0, 8)}`;
  let connection: Connection;
  let native: NativeConnection;
  let client: Client;
  let worker: Worker;
  let running: Promise<void>;
  const fake = new FakeOps();

  beforeAll(async () => {
    connection = await Connection.connect({ address });
    native = await NativeConnection.connect({ address });
    client = new Client({ connection, namespace });
    worker = await Worker.create({ connection: native, namespace, taskQueue, workflowBundle: await workflowBundle(), activities: fake.activities() });
    running = worker.run();
  });

  afterAll(async () => {
    await client.schedule.getHandle(dailyScheduleId(clientId)).delete().catch(() => undefined);
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
  });

  it('is created once, updated in place, and a trigger starts the daily run for the previous business date', async () => {
    const options = { clientId, timeZone: NY, scheduleTime: '00:05', deadline: '06:00', taskQueue, checkIntervalMs: 5_000 };
    const first = await ensureDailySchedule(client, options);
    expect(first.created).toBe(true);
    const second = await ensureDailySchedule(client, { ...options, deadline: '07:30' });
    expect(second.created).toBe(false);

    const described = await first.handle.describe();
    expect(described.spec.timezone).toBe(NY);
    expect(described.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 0, end: 0, step: 1 }], minute: [{ start: 5, end: 5, step: 1 }] });
    expect(described.policies).toMatchObject({ overlap: SCHEDULE_POLICIES.overlap, catchupWindow: 7 * 24 * HOUR, pauseOnFailure: false });
    expect(described.action.type).toBe('startWorkflow');
    const args = (described.action as { args?: DailyWorkflowInput[] }).args;
    expect(args?.[0]).toMatchObject({ clientId, deadline: '07:30' });

    // The date comes from the time the schedule recorded for this action, as the trigger workflow reads it,
    // so a test running across midnight still looks for the right run.
    const before = Date.now();
    const { date } = await triggerDailySchedule(first.handle, NY);
    expect([businessDateForRun(before, NY), businessDateForRun(Date.now(), NY)]).toContain(date);
    const daily = client.workflow.getHandle(`daily/${clientId}/${date}`);
    const state = await waitFor(async () => daily.query(dailyStateQuery).catch(() => undefined));
    expect(state.date).toBe(date);
    expect(state.stage).toBe('waiting');
    const description = await daily.describe();
    expect(description.typedSearchAttributes.get(searchAttributes.EventDates)).toEqual([date]);
    expect(description.typedSearchAttributes.get(searchAttributes.LateFile)).toBe(false);
    await daily.terminate('test done');
  });

  it('a backfill of one past midnight starts the run of the date before it, late against its own deadline', async () => {
    const scheduled = await ensureDailySchedule(client, {
      clientId,
      timeZone: NY,
      scheduleTime: '00:05',
      deadline: '06:00',
      taskQueue,
      checkIntervalMs: 5_000,
    });
    // Three days ago at 00:05 New York time: the run for the day before that, whatever the wall clock says now.
    const opened = addDays(businessDateOfInstant(Date.now(), NY), -3);
    const midnight = new Date(instantOfLocalTime(opened, '00:05', NY));
    await scheduled.handle.backfill({ start: midnight, end: midnight, overlap: ScheduleOverlapPolicy.ALLOW_ALL });
    const date = previousDate(opened);
    const daily = client.workflow.getHandle(`daily/${clientId}/${date}`);
    const state = await waitFor(async () => daily.query(dailyStateQuery).catch(() => undefined));
    expect(state.date).toBe(date);
    expect(state.deadline).toBe(new Date(instantOfLocalTime(opened, '06:00', NY)).toISOString());
    // Its 06:00 deadline passed days ago: the run says so at once (and keeps waiting for the file).
    const late = await waitFor(async () => ((await daily.query(dailyStateQuery)).late ? true : undefined));
    expect(late).toBe(true);
    expect((await daily.describe()).typedSearchAttributes.get(searchAttributes.LateFile)).toBe(true);
    const action = (await scheduled.handle.describe()).info.recentActions.find((a) => a.scheduledAt.getTime() === midnight.getTime());
    expect(action?.action.workflow.workflowId).toBe(`daily/${clientId}/trigger-${midnight.toISOString().replace('.000Z', 'Z')}`);
    await daily.terminate('test done');
  });

  it('in America/Santiago, whose 2026-09-06 skips 00:00-01:00, a schedule firing at 00:05 and 03:05 still starts the run of 2026-09-05 (a backfill over the gap)', async () => {
    const santiago = 'America/Santiago';
    const chileId = `${clientId}cl`;
    // The zone data agrees: 00:05 on 2026-09-06 does not exist (03:59Z is 23:59 -04, 04:00Z is 01:00 -03).
    const wall = (iso: string): string => new Intl.DateTimeFormat('en-GB', { timeZone: santiago, dateStyle: 'short', timeStyle: 'short' }).format(new Date(iso));
    expect([wall('2026-09-06T03:59:00Z'), wall('2026-09-06T04:00:00Z')]).toEqual(['05/09/2026, 23:59', '06/09/2026, 01:00']);
    const scheduled = await ensureDailySchedule(client, { clientId: chileId, timeZone: santiago, scheduleTime: '00:05', deadline: '06:00', taskQueue, checkIntervalMs: HOUR });
    expect((await scheduled.handle.describe()).spec.calendars?.map((c) => [c.hour?.[0]?.start, c.minute?.[0]?.start])).toEqual([[0, 5], [3, 5]]);
    // Every firing from 2026-09-05 00:00 to 2026-09-07 12:00 local time, as after an outage.
    await scheduled.handle.backfill({ start: new Date('2026-09-05T03:30:00Z'), end: new Date('2026-09-07T15:00:00Z'), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
    try {
      for (const date of ['2026-09-04', '2026-09-05', '2026-09-06']) {
        const state = await waitFor(async () => client.workflow.getHandle(`daily/${chileId}/${date}`).query(dailyStateQuery).catch(() => undefined), 60_000);
        expect(state.date).toBe(date);
      }
    } finally {
      await scheduled.handle.delete();
      for (const date of ['2026-09-04', '2026-09-05', '2026-09-06']) await client.workflow.getHandle(`daily/${chileId}/${date}`).terminate('test done').catch(() => undefined);
    }
  });

  it('an operator reruns a failed daily run under its id; a running or a completed one is left alone', async () => {
    const rerunId = `${clientId}rr`;
    const date = '2026-10-01';
    const options = { clientId: rerunId, date, timeZone: NY, deadline: '06:00', taskQueue, requestedBy: 'test', checkIntervalMs: 500 };
    fake.failing.add(date);
    const first = await rerunDailyRun(client, options);
    expect(first).toMatchObject({ started: true, previous: 'NONE', workflowId: `daily/${rerunId}/${date}` });
    const handle = client.workflow.getHandle(first.workflowId);
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('FAILED');

    fake.failing.delete(date);
    const rerun = await rerunDailyRun(client, options);
    expect(rerun).toMatchObject({ started: true, previous: 'FAILED' });
    expect(rerun.runId).not.toBe(first.runId);
    expect(await waitFor(async () => handle.query(dailyStateQuery).catch(() => undefined))).toMatchObject({ date });
    expect(await rerunDailyRun(client, options)).toMatchObject({ started: false, previous: 'RUNNING' });

    fake.ledger.set(date, { status: 'reconciled', fileId: 'f', updatedAt: new Date().toISOString() });
    expect(await handle.result()).toMatchObject({ outcome: 'reconciled', date });
    expect(await rerunDailyRun(client, options)).toMatchObject({ started: false, previous: 'COMPLETED' });
    fake.ledger.delete(date);
  });

  it('search-attributes registers every attribute on a namespace that has none, and a second run finds them all', async () => {
    const fresh = `sa-${randomUUID().slice(0, 8)}`;
    await connection.workflowService.registerNamespace({ namespace: fresh, workflowExecutionRetentionPeriod: msToTs('1 day') });
    // A new namespace answers once the frontend's namespace cache has it.
    const registered = await waitFor(async () => ensureSearchAttributes(connection, fresh).catch(() => undefined), 60_000);
    expect(registered.map((r) => r.name).sort()).toEqual(Object.values(searchAttributes).map((k) => k.name).sort());
    expect(registered.every((r) => r.status === 'created')).toBe(true);
    const again = await ensureSearchAttributes(connection, fresh);
    expect(again.map((r) => [r.name, r.status])).toEqual(registered.map((r) => [r.name, 'exists']));
    const listed = await connection.operatorService.listSearchAttributes({ namespace: fresh });
    for (const { name, type } of productSearchAttributes()) expect(listed.customAttributes?.[name]).toBe(INDEXED_VALUE_TYPE[type]);
  });

  it('a run started while no worker runs measures its deadline timer from its first workflow task, so it fires at the deadline', async () => {
    // The test server does not skip time while a workflow task waits for a worker, so this outage is real time.
    const outageId = `${clientId}out`;
    const outageQueue = `daily-outage-${randomUUID()}`;
    const date = '2026-10-03';
    const deadlineAt = new Date(Date.now() + 30_000).toISOString();
    const handle = await client.workflow.start<typeof dailyWorkflow>('dailyWorkflow', {
      taskQueue: outageQueue,
      workflowId: `daily/${outageId}/${date}`,
      args: [{ clientId: outageId, timeZone: NY, deadline: '06:00', date, deadlineAt, checkIntervalMs: HOUR }],
    });
    await new Promise((r) => setTimeout(r, 6_000)); // no worker on its queue: the outage
    const recovered = await Worker.create({ connection: native, namespace, taskQueue: outageQueue, workflowBundle: await workflowBundle(), activities: fake.activities() });
    await recovered.runUntil(async () => {
      const late = await waitFor(async () => ((await handle.query(dailyStateQuery)).late ? true : undefined), 90_000);
      expect(late).toBe(true);
      // From the history (the server's clock, whatever the load): the timer set by the first workflow task fires at the
      // deadline. Measured from the run's start time instead, it would fire the outage's length (6 s or more) after it.
      const events = (await handle.fetchHistory()).events ?? [];
      const timerAt = events.findIndex((e) => e.timerStartedEventAttributes);
      const taskStarted = events.slice(0, timerAt).reverse().find((e) => e.workflowTaskStartedEventAttributes);
      const timeout = events[timerAt]?.timerStartedEventAttributes?.startToFireTimeout;
      const startedMs = Number(taskStarted?.eventTime?.seconds ?? 0) * 1000 + Math.floor((taskStarted?.eventTime?.nanos ?? 0) / 1e6);
      const fireMs = startedMs + Number(timeout?.seconds ?? 0) * 1000 + Math.floor((timeout?.nanos ?? 0) / 1e6);
      const runStartMs = Number(events[0]?.eventTime?.seconds ?? 0) * 1000;
      expect(startedMs - runStartMs).toBeGreaterThanOrEqual(5_000);
      expect(Math.abs(fireMs - Date.parse(deadlineAt))).toBeLessThan(1_000);
      expect(fake.alerts.filter((a) => a.clientId === outageId)).toMatchObject([{ event: 'late', date }]);
      await handle.terminate('test done');
    });
  });

  it('pipeline_files_late reads the same on every worker: a visibility count, whichever worker raised the alert', async () => {
    const lateId = `${clientId}gauge`;
    const date = '2026-10-02';
    const workers = [new PipelineMetrics(), new PipelineMetrics()];
    for (const m of workers) m.countLateFilesWith(lateId, () => countLateFiles(client, lateId));
    const gauges = async (): Promise<number[]> =>
      Promise.all(workers.map(async (m) => (await m.filesLate.get()).values.find((v) => v.labels.client === lateId)?.value ?? -1));
    expect(await gauges()).toEqual([0, 0]);
    // Its deadline passed long ago: late at once, on whichever worker polls the queue.
    const started = await rerunDailyRun(client, { clientId: lateId, date, timeZone: NY, deadline: '06:00', taskQueue, requestedBy: 'test', checkIntervalMs: 500 });
    expect(await waitFor(async () => ((await gauges()).every((v) => v === 1) ? true : undefined))).toBe(true);
    fake.ledger.set(date, { status: 'reconciled', fileId: 'f', updatedAt: new Date().toISOString() });
    await client.workflow.getHandle(started.workflowId).result();
    expect(await waitFor(async () => ((await gauges()).every((v) => v === 0) ? true : undefined))).toBe(true);
    fake.ledger.delete(date);
  });
});

const waitFor = async <T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
};
