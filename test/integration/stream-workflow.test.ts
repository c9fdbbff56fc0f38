/**
 * The stream path end to end on the real dev server: a seeded feed of known content, streamed through the
 * workflow into DuckDB, must land exactly as `expectedCounts` says, in every table, whatever retries happen.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultInjector } from '../../src/activities/file-activities.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { expectedCounts, type ExpectedCounts } from '../../testkit/feed-expectations.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { createPipelineWorker } from '../../src/workers/pipeline-worker.js';
import { flushSignal, pauseSignal, resumeSignal, streamProgressQuery, type StreamProgress } from '../../src/domain/workflow-api.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';
import { startTemporal } from '../support/servers.js';
import { applyFile, batchOf, tx } from '../support/warehouse-contract.js';

const BUSINESS_DATE = '2026-11-21';
const SEALED = ['2026-11-18', '2026-11-19'];

/** Every kind of event in useful numbers; the business date itself stays unsealed (see docs/stream.md). */
const feedConfig = (clientId: string, totalEvents: number, seed = 11): SimulatedFeedConfig => ({
  clientId,
  seed,
  rate: 'unbounded',
  totalEvents,
  businessDate: BUSINESS_DATE,
  duplicateShare: 0.03,
  conflictShare: 0.01,
  outOfOrderShare: 0.02,
  lateShare: 0.03,
  sealedShare: 0.01,
  invalidShare: 0.01,
  sealedDates: SEALED,
  unknownFieldsShare: 0.02,
});

const uniqueClient = (): string => `s${randomUUID().replaceAll('-', '').slice(0, 12)}`;

/** Reconciles each date with an empty file: the date is sealed and its stream events become late arrivals. */
const sealDates = async (w: Warehouse, dates: string[]): Promise<void> => {
  for (const [i, date] of dates.entries()) {
    const changeId = `seal_${date.replaceAll('-', '_')}`;
    await applyFile(w, { changeId, kind: 'reconciliation', covers: [date], sequence: i + 1, rows: [] });
    await w.publishChange(changeId);
  }
};

/** Asserts the warehouse holds exactly what the feed's offsets [0, to) must produce. */
const expectWarehouseMatches = async (w: Warehouse, expected: ExpectedCounts): Promise<void> => {
  const side = await w.countSideTables();
  expect({ late: side.lateArrivals, conflicts: side.conflicts, rejects: side.rejects }).toEqual({
    late: expected.late,
    conflicts: expected.conflicts,
    rejects: expected.invalid,
  });
  const dates = Object.keys(expected.provisional);
  const totals = await w.dailyTotals(dates);
  const actual: Record<string, { rows: number; totals: Record<string, string> }> = {};
  for (const t of totals) {
    const day = (actual[t.eventDate] ??= { rows: 0, totals: {} });
    day.rows += t.rows;
    day.totals[t.currency] = t.total;
    expect(t.status).toBe('provisional');
  }
  expect(actual).toEqual(expected.provisional);
  let rows = 0;
  for (const date of dates) {
    const stored = await w.readRows(date);
    expect(stored.every((r) => r.status === 'provisional')).toBe(true);
    expect(new Set(stored.map((r) => r.transactionId)).size).toBe(stored.length);
    rows += stored.length;
  }
  expect(rows).toBe(expected.inserted);
};

const expectProgressMatches = (p: StreamProgress, expected: ExpectedCounts): void => {
  expect({
    cursor: p.cursor,
    read: p.read,
    written: p.written,
    duplicates: p.duplicates,
    conflicts: p.conflicts,
    late: p.late,
    rejected: p.rejected,
    unknownFields: p.unknownFields,
  }).toEqual({
    cursor: expected.to,
    read: expected.total,
    written: expected.inserted,
    duplicates: expected.duplicates,
    conflicts: expected.conflicts,
    late: expected.late,
    rejected: expected.invalid,
    unknownFields: expected.unknownFields,
  });
};

/** Fails a chosen step on the first attempt of every `every`-th call, with a retryable error. */
class FailFirstAttempt implements FaultInjector {
  calls = 0;
  injected = 0;
  retriesAfterWrite = 0;
  constructor(
    readonly step: 'stream.write' | 'stream.ack',
    readonly every: number,
  ) {}
  async before(step: string, attempt: number): Promise<void> {
    if (step === 'stream.ack' && attempt > 1) this.retriesAfterWrite++;
    if (step !== this.step || attempt > 1) return;
    if (++this.calls % this.every === 0) {
      this.injected++;
      throw new Error(`injected failure at ${step}`);
    }
  }
}

describe('stream workflow on the dev server', () => {
  let pipeline: TestPipeline | undefined;
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
  });

  const startWith = async (feed: SimulatedFeed, faults?: FaultInjector): Promise<TestPipeline> => {
    pipeline = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId: feed.settings.clientId, ...(faults ? { faults } : {}) });
    return pipeline;
  };

  it('streams 20,000 events into exactly the expected rows, side tables and counters', async () => {
    const config = feedConfig(uniqueClient(), 20_000);
    const feed = new SimulatedFeed(config);
    const p = await startWith(feed);
    await sealDates(p.warehouse, SEALED);
    const expected = expectedCounts({ config, to: 20_000 });
    // The feed really exercises every path.
    for (const n of [expected.duplicates, expected.conflicts, expected.late, expected.invalid, expected.unknownFields]) expect(n).toBeGreaterThan(50);

    const first = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId: config.clientId ?? 'acme', maxRows: 2_000, maxWaitMs: 200, stopAt: 20_000,
    });
    expect(first.workflowId).toBe(`stream/${feed.id}`);
    expect(first.started).toBe(true);
    // A second start (a restart of the local stack) attaches to the running stream instead of starting over.
    const again = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId: config.clientId ?? 'acme', maxRows: 2_000, maxWaitMs: 200, stopAt: 20_000,
    });
    expect(again.started).toBe(false);
    expect(again.runId).toBe(first.runId);

    const result = await first.handle.result();
    expectProgressMatches(result, expected);
    expect(await first.handle.query(streamProgressQuery)).toEqual(result);
    await expectWarehouseMatches(p.warehouse, expected);
    expect((await p.warehouse.countSideTables()).batches).toBe(result.batches);
    // Sealed dates hold only what their reconciliation said (nothing), never provisional rows.
    for (const date of SEALED) expect(await p.warehouse.readRows(date)).toEqual([]);
    expect(Object.keys(expected.lateByDate).sort()).toEqual(SEALED);

    const described = await first.handle.describe();
    expect(await described.staticSummary()).toContain(feed.id);
    expect(described.typedSearchAttributes.getAll().map((pair) => pair.key.name)).toEqual(
      expect.arrayContaining(['StreamSource', 'ClientId', 'Stage']),
    );
  });

  it('recognises a retried batch whose write had landed (failure after the write) and doubles nothing', async () => {
    const config = feedConfig(uniqueClient(), 8_000, 12);
    const feed = new SimulatedFeed(config);
    const afterWrite = new FailFirstAttempt('stream.ack', 2);
    const p = await startWith(feed, afterWrite);
    await sealDates(p.warehouse, SEALED);
    const started = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId: config.clientId ?? 'acme', maxRows: 1_000, maxWaitMs: 100, stopAt: 8_000,
    });
    const result = await started.handle.result();
    expect(afterWrite.injected).toBeGreaterThanOrEqual(3);
    // Each injected failure was retried, and the retry found its batch already written.
    expect(afterWrite.retriesAfterWrite).toBe(afterWrite.injected);
    const expected = expectedCounts({ config, to: 8_000 });
    expectProgressMatches(result, expected);
    await expectWarehouseMatches(p.warehouse, expected);
    expect((await p.warehouse.countSideTables()).batches).toBe(result.batches);
  });

  it('runs batches as regular activities when asked (the BigQuery kind): scheduled by the server, none as local-activity markers, a retried batch doubles nothing', async () => {
    const config = feedConfig(uniqueClient(), 4_000, 14);
    const feed = new SimulatedFeed(config);
    const afterWrite = new FailFirstAttempt('stream.ack', 2);
    const p = await startWith(feed, afterWrite);
    await sealDates(p.warehouse, SEALED);
    const started = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId: config.clientId ?? 'acme', maxRows: 1_000, maxWaitMs: 100, stopAt: 4_000,
      activityKind: 'regular',
    });
    const result = await started.handle.result();
    const expected = expectedCounts({ config, to: 4_000 });
    expectProgressMatches(result, expected);
    await expectWarehouseMatches(p.warehouse, expected);
    expect(afterWrite.injected).toBeGreaterThanOrEqual(1);
    const { events } = await started.handle.fetchHistory();
    const scheduled = (events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'processBatch');
    expect(scheduled.length).toBeGreaterThanOrEqual(result.batches);
    expect((events ?? []).filter((e) => e.markerRecordedEventAttributes)).toEqual([]);
  });

  it('retries a batch that failed before its write and loses nothing', async () => {
    const config = feedConfig(uniqueClient(), 6_000, 13);
    const feed = new SimulatedFeed(config);
    const beforeWrite = new FailFirstAttempt('stream.write', 2);
    const p = await startWith(feed, beforeWrite);
    await sealDates(p.warehouse, SEALED);
    const started = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId: config.clientId ?? 'acme', maxRows: 1_000, maxWaitMs: 100, stopAt: 6_000,
    });
    const result = await started.handle.result();
    expect(beforeWrite.injected).toBeGreaterThanOrEqual(2);
    const expected = expectedCounts({ config, to: 6_000 });
    expectProgressMatches(result, expected);
    await expectWarehouseMatches(p.warehouse, expected);
  });

  it('pauses, resumes and flushes on signals, and answers the progress query throughout', async () => {
    const clientId = uniqueClient();
    // A live feed (200 events/s) and a time trigger (60 s) longer than any wait below: within this test a batch
    // is cut only by a flush (or cut short by a pause), never by the clock.
    const config: SimulatedFeedConfig = { ...feedConfig(clientId, 100_000, 14), rate: 200 };
    const feed = new SimulatedFeed(config);
    const p = await startWith(feed);
    await sealDates(p.warehouse, SEALED);
    const started = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 50_000, maxWaitMs: 60_000, paused: true,
    });
    const progress = (): Promise<StreamProgress> => started.handle.query(streamProgressQuery);
    const until = async (what: string, ok: (q: StreamProgress) => boolean, timeoutMs = 20_000): Promise<StreamProgress> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const q = await progress();
        if (ok(q)) return q;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(q)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    // Started paused: nothing read while events pile up at the source.
    await new Promise((r) => setTimeout(r, 1_000));
    const idle = await progress();
    expect(idle).toMatchObject({ paused: true, cursor: 0, batches: 0, sourceId: feed.id, generation: 0 });

    // Flush + resume: the next batch takes what is there now instead of waiting for the time trigger
    // (which would come 60 s later, after `until` gave up).
    await started.handle.signal(flushSignal);
    await started.handle.signal(resumeSignal);
    const flushed = await until('the flushed batch', (q) => q.batches >= 1);
    expect(flushed.paused).toBe(false);
    expect(flushed.cursor).toBeGreaterThan(0);
    expect(flushed.lastBatchAt).not.toBeNull();
    expect(flushed.written + flushed.duplicates + flushed.conflicts + flushed.late + flushed.rejected).toBe(flushed.read);

    // Pause: cuts the time trigger short and takes effect at the batch boundary (once a read in flight, at most
    // 0.5 s of waiting, returns), then the cursor stands still.
    await started.handle.signal(pauseSignal);
    expect((await progress()).paused).toBe(true);
    await new Promise((r) => setTimeout(r, 3_000));
    const held = await progress();
    await new Promise((r) => setTimeout(r, 2_000));
    const stillHeld = await progress();
    expect(stillHeld.cursor).toBe(held.cursor);
    expect(stillHeld.batches).toBe(held.batches);

    // Resume with a flush: it moves on at once and catches up with what piled up meanwhile.
    await started.handle.signal(flushSignal);
    await started.handle.signal(resumeSignal);
    const resumed = await until('the stream to move again', (q) => q.cursor > held.cursor, 5_000);
    expect(resumed.paused).toBe(false);

    // Everything it did is in the warehouse: the same counts as the feed's offsets [0, cursor).
    await started.handle.signal(pauseSignal);
    await new Promise((r) => setTimeout(r, 3_000));
    const final = await progress();
    await started.handle.terminate('test done');
    const expected = expectedCounts({ config, to: final.cursor });
    expectProgressMatches(final, expected);
    await expectWarehouseMatches(p.warehouse, expected);
  });

  it('judges a repeat within one batch against the accepted version, not against an earlier conflict', async () => {
    const w = await DuckDbWarehouse.open({ path: ':memory:' });
    try {
      const accepted = tx('t-1', BUSINESS_DATE, '10.00');
      const changed = tx('t-1', BUSINESS_DATE, '11.00');
      expect((await w.writeStreamBatch(batchOf('s@0', [accepted]))).inserted).toBe(1);
      // Two identical changed events, then the accepted one again, in one batch: two conflicts and a duplicate.
      const result = await w.writeStreamBatch(batchOf('s@1', [changed, changed, accepted], 1));
      expect(result).toMatchObject({ inserted: 0, conflicts: 2, duplicates: 1 });
      // The same inside a first batch: the first occurrence is the accepted one.
      const fresh = await w.writeStreamBatch(batchOf('s@4', [tx('t-2', BUSINESS_DATE, '1'), tx('t-2', BUSINESS_DATE, '2'), tx('t-2', BUSINESS_DATE, '2')], 4));
      expect(fresh).toMatchObject({ inserted: 1, conflicts: 2, duplicates: 0 });
      expect((await w.readRows(BUSINESS_DATE)).map((r) => [r.transactionId, r.amount])).toEqual([['t-1', '10'], ['t-2', '1']]);
    } finally {
      await w.close();
    }
  });

  it('keeps amounts at the edges of NUMERIC exact through the stream write path', async () => {
    const w = await DuckDbWarehouse.open({ path: ':memory:' });
    try {
      const amounts = ['-123456789.123456789', '123456789', '1234567890.5', '-0.000000001', '0', '000000000012.5', '12.10',
        '99999999999999999999999999999.999999999', '-99999999999999999999999999999.999999999'];
      const events = amounts.map((amount, i) => tx(`edge-${i}`, BUSINESS_DATE, amount));
      const result = await w.writeStreamBatch(batchOf('edges@0', events));
      expect(result.inserted).toBe(amounts.length);
      const stored = new Map((await w.readRows(BUSINESS_DATE)).map((r) => [r.transactionId, r.amount]));
      expect(amounts.map((_, i) => stored.get(`edge-${i}`))).toEqual([
        '-123456789.123456789', '123456789', '1234567890.5', '-0.000000001', '0', '12.5', '12.1',
        '99999999999999999999999999999.999999999', '-99999999999999999999999999999.999999999',
      ]);
    } finally {
      await w.close();
    }
  });
});

describe('stream workflow across continue-as-new', () => {
  it('continues as new with its cursor and counters intact, and the final counts are exact', async () => {
    // A private server that suggests continue-as-new after 60 history events (4,096 by default).
    const server = await startTemporal({ dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 } });
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: server.namespace });
    const warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
    const clientId = uniqueClient();
    const config = feedConfig(clientId, 15_000, 15);
    const feed = new SimulatedFeed(config);
    const taskQueue = `can-${randomUUID()}`;
    const worker = await createPipelineWorker({
      connection: nativeConnection,
      namespace: server.namespace,
      taskQueue,
      deps: {
        warehouse,
        landing: new LocalDirLanding(mkdtempSync(join(tmpdir(), 'landing-'))),
        sources: new Map([[feed.id, feed]]),
        timeZone: 'America/New_York',
        workDir: mkdtempSync(join(tmpdir(), 'work-')),
      },
    });
    const running = worker.run();
    try {
      await sealDates(warehouse, SEALED);
      // 300-event batches: 50 batches. Local activities add little history, so the run is also capped at 20 batches.
      const started = await startStreamWorkflow(client, {
        taskQueue, sourceId: feed.id, clientId, maxRows: 300, maxWaitMs: 100, stopAt: 15_000, maxBatchesPerRun: 20,
      });
      const result = await started.handle.result();
      expect(result.generation).toBeGreaterThanOrEqual(2);
      const expected = expectedCounts({ config, to: 15_000 });
      expectProgressMatches(result, expected);
      expect(result.batches).toBe(50);
      await expectWarehouseMatches(warehouse, expected);
      expect((await warehouse.countSideTables()).batches).toBe(50);

      // The chain: every generation is a run of the same workflow id, all but the last continued as new.
      let runs: Array<{ status: string }> = [];
      for (let i = 0; i < 50; i++) {
        runs = [];
        for await (const w of client.workflow.list({ query: `WorkflowId = "${started.workflowId}"` })) runs.push({ status: w.status.name });
        if (runs.length === result.generation + 1) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(runs.length).toBe(result.generation + 1);
      expect(runs.length).toBeGreaterThan(1);
      expect(runs.filter((r) => r.status === 'CONTINUED_AS_NEW').length).toBe(result.generation);
      expect(runs.filter((r) => r.status === 'COMPLETED').length).toBe(1);
    } finally {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await warehouse.close();
      await server.stop();
    }
  }, 240_000);
});
