/**
 * A stream that always answers: with an idle source every batch ends its workflow task (so signals, updates and
 * queries are handled at once), pause and flush as Updates answer with the durable cursor, a non-retryable
 * error parks the stream instead of failing it, and a stream started again after its workflow is gone resumes
 * from the warehouse's last recorded batch.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import proto, { type temporal } from '@temporalio/proto';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultInjector } from '../../src/activities/file-activities.js';
import type { StreamMetrics } from '../../src/activities/stream-activities.js';
import { flushUpdate, pauseSignal, pauseUpdate, resumeSignal, searchAttributes, streamProgressQuery, type StreamProgress } from '../../src/domain/workflow-api.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import { SimulatedFeed } from '../../src/sources/simulated-feed.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';

const uniqueClient = (): string => `a${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const waitFor = async <T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 30_000): Promise<T> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await sleepMs(50);
  }
};

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { EventType } = proto.temporal.api.enums.v1;

/** Local-activity markers recorded by each workflow task, in order. */
const localActivitiesPerTask = (events: HistoryEvent[]): number[] => {
  const perTask: number[] = [];
  for (const event of events) {
    if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) perTask.push(0);
    else if (event.eventType === EventType.EVENT_TYPE_MARKER_RECORDED && event.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      perTask[perTask.length - 1] = (perTask.at(-1) ?? 0) + 1;
    }
  }
  return perTask;
};

describe('a stream that always answers', () => {
  let pipeline: TestPipeline | undefined;
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
  });

  it('ends a workflow task after every batch of an idle source (at most one batch per task), so a pause waits behind no chain of empty batches', async () => {
    const clientId = uniqueClient();
    // 300 events at once, then nothing: the stream catches up and then polls an idle source.
    const feed = new SimulatedFeed({ clientId, seed: 3, rate: 'unbounded', totalEvents: 300, businessDate: '2026-11-21' });
    const p = (pipeline = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId }));
    const started = await startStreamWorkflow(p.client, { taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 1_000, maxWaitMs: 250, cursor: 0 });
    const progress = (): Promise<StreamProgress> => started.handle.query(streamProgressQuery);
    await waitFor('the stream to catch up', progress, (q) => q.cursor === 300);
    await sleepMs(3_000); // idle batches

    const sentAt = Date.now();
    await started.handle.signal(pauseSignal);
    await waitFor('the pause', progress, (q) => q.paused);
    // A figure, not an assertion (the machine is shared): what an operator waits for the pause to show.
    console.log(`idle stream: pause visible in the progress query ${Date.now() - sentAt} ms after the signal`);

    const history = await started.handle.fetchHistory();
    const perTask = localActivitiesPerTask(history.events ?? []);
    // The catch-up batch and at least two idle ones (the idle window gives fewer than its length suggests).
    expect(perTask.filter((n) => n > 0).length).toBeGreaterThanOrEqual(3);
    // Every workflow task carried at most one batch: none waited on a chain of empty batches.
    expect(Math.max(...perTask)).toBe(1);
  });

  it('answers the pause and flush updates with the cursor the warehouse holds', async () => {
    const clientId = uniqueClient();
    const feed = new SimulatedFeed({ clientId, seed: 4, rate: 2_000, totalEvents: 1_000_000, businessDate: '2026-11-21' });
    const p = (pipeline = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId }));
    // A time trigger of a minute: only a flush cuts a batch of fewer than 50,000 events.
    const started = await startStreamWorkflow(p.client, { taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 50_000, maxWaitMs: 60_000 });
    await sleepMs(500);

    const flushed = await started.handle.executeUpdate(flushUpdate);
    expect(flushed.cursor).toBeGreaterThan(0);
    expect(await p.warehouse.streamCursor(feed.id)).toBeGreaterThanOrEqual(flushed.cursor);

    const paused = await started.handle.executeUpdate(pauseUpdate);
    expect(paused.paused).toBe(true);
    expect(paused.cursor).toBeGreaterThanOrEqual(flushed.cursor);
    // Nothing is in flight once pause has answered: the cursor it gave is what the warehouse holds, and stays.
    expect(await p.warehouse.streamCursor(feed.id)).toBe(paused.cursor);
    await sleepMs(1_000);
    expect(await p.warehouse.streamCursor(feed.id)).toBe(paused.cursor);
    expect((await started.handle.query(streamProgressQuery)).cursor).toBe(paused.cursor);
    // A flush while paused writes nothing and answers the same cursor.
    expect((await started.handle.executeUpdate(flushUpdate)).cursor).toBe(paused.cursor);

    await started.handle.signal(resumeSignal);
    await sleepMs(300);
    const again = await started.handle.executeUpdate(flushUpdate);
    expect(again.paused).toBe(false);
    expect(again.cursor).toBeGreaterThan(paused.cursor);
    expect(await p.warehouse.streamCursor(feed.id)).toBeGreaterThanOrEqual(again.cursor);
    await started.handle.terminate('test done');
  });

  it('parks on a non-retryable error (Stage=parked, an alert, the reason in progress) and goes on after resume', async () => {
    const clientId = uniqueClient();
    const feed = new SimulatedFeed({ clientId, seed: 5, rate: 'unbounded', totalEvents: 4_000, businessDate: '2026-11-21' });
    let broken = false;
    const faults: FaultInjector = {
      before: async (step) => {
        if (broken && step === 'stream.write') throw ApplicationFailure.nonRetryable('the table schema does not match', 'WarehouseInvariant');
      },
    };
    const alerts: Array<string | null> = [];
    const metrics: StreamMetrics = { batchWritten: () => {}, streamParked: (_source, reason) => alerts.push(reason) };
    const p = (pipeline = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId, faults, metrics }));
    const started = await startStreamWorkflow(p.client, { taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 500, maxWaitMs: 50, stopAt: 4_000, paused: true });
    const progress = (): Promise<StreamProgress> => started.handle.query(streamProgressQuery);
    await started.handle.executeUpdate(flushUpdate); // paused: answers at once
    broken = true;
    await started.handle.signal(resumeSignal);

    const parked = await waitFor('the stream to park', progress, (q) => q.parked !== null);
    expect(parked.parked).toContain('the table schema does not match');
    expect(parked.parked).toContain('WarehouseInvariant');
    expect(parked.cursor).toBe(0);
    const described = await started.handle.describe();
    expect(described.status.name).toBe('RUNNING');
    await waitFor('Stage=parked', () => started.handle.describe(), (d) => d.typedSearchAttributes.get(searchAttributes.Stage) === 'parked');
    expect(alerts[0]).toContain('the table schema does not match');

    broken = false;
    await started.handle.signal(resumeSignal);
    const result = await started.handle.result();
    expect(result.cursor).toBe(4_000);
    expect(result.parked).toBeNull();
    expect(alerts.at(-1)).toBeNull();
    expect(await p.warehouse.streamCursor(feed.id)).toBe(4_000);
  });

  it('starts a stream whose workflow is gone from the warehouse cursor, not from offset 0', async () => {
    const clientId = uniqueClient();
    const feed = new SimulatedFeed({ clientId, seed: 6, rate: 'unbounded', totalEvents: 5_000, businessDate: '2026-11-21' });
    const p = (pipeline = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId }));
    const first = await startStreamWorkflow(p.client, { taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 1_000, maxWaitMs: 50, stopAt: 3_000 });
    expect((await first.handle.result()).cursor).toBe(3_000);
    const batchesBefore = (await p.warehouse.countSideTables()).batches;

    const second = await startStreamWorkflow(p.client, { taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 1_000, maxWaitMs: 50, stopAt: 5_000 });
    expect(second.started).toBe(true);
    expect(second.runId).not.toBe(first.runId);
    const result = await second.handle.result();
    // It read only offsets 3,000–4,999: every batch it wrote is new, none was a re-read of the first run's.
    expect(result.read).toBe(2_000);
    expect((await p.warehouse.countSideTables()).batches).toBe(batchesBefore + result.batches);
    expect(await p.warehouse.streamCursor(feed.id)).toBe(5_000);
  });
});
