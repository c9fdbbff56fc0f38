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
import type { ReadRequest, ReadResult, TransactionSource } from '../../src/sources/source.js';
import { expectedCounts, type ExpectedCounts } from '../../testkit/feed-expectations.js';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { createPipelineWorker } from '../../src/workers/pipeline-worker.js';
import { flushSignal, pauseSignal, resumeSignal, streamProgressQuery, type StreamProgress } from '../../src/domain/workflow-api.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';
import { startTemporal } from '../support/servers.js';
import { applyFile, batchOf, tx } from '../support/warehouse-contract.js';
import { expectWarehouseMatches } from '../support/stream-oracle.js';

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
    expect((events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toEqual([]);
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

  /** Polls the progress query until `ok`, or fails after `timeoutMs`. */
  const untilProgress = async (
    handle: { query: (q: typeof streamProgressQuery) => Promise<StreamProgress> },
    what: string,
    ok: (q: StreamProgress) => boolean,
    timeoutMs = 60_000,
  ): Promise<StreamProgress> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const q = await handle.query(streamProgressQuery);
      if (ok(q)) return q;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(q)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('a flush cuts a batch within 40 s instead of waiting for the 60 s time trigger, and the progress query answers throughout', async () => {
    const clientId = uniqueClient();
    // A live feed (200 events/s) and a time trigger (60 s) longer than any wait below: within this test a batch
    // is cut only by a flush, never by the clock.
    const config: SimulatedFeedConfig = { ...feedConfig(clientId, 100_000, 14), rate: 200 };
    const feed = new SimulatedFeed(config);
    const p = await startWith(feed);
    await sealDates(p.warehouse, SEALED);
    const started = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 50_000, maxWaitMs: 60_000, paused: true,
    });
    const idle = await started.handle.query(streamProgressQuery);
    expect(idle).toMatchObject({ paused: true, cursor: 0, batches: 0, sourceId: feed.id, generation: 0 });

    // Flush + resume: the next batch takes what is there now instead of waiting for the time trigger
    // (which would come 60 s later, after `untilProgress` gave up).
    await started.handle.signal(flushSignal);
    await started.handle.signal(resumeSignal);
    // Well under the 60 s time trigger, so only the flush can have cut the batch.
    const flushed = await untilProgress(started.handle, 'the flushed batch', (q) => q.batches >= 1, 40_000);
    expect(flushed.paused).toBe(false);
    expect(flushed.cursor).toBeGreaterThan(0);
    expect(flushed.lastBatchAt).not.toBeNull();
    expect(flushed.written + flushed.duplicates + flushed.conflicts + flushed.late + flushed.rejected).toBe(flushed.read);

    // A second flush cuts the next batch within 40 s as well.
    await started.handle.signal(flushSignal);
    await untilProgress(started.handle, 'the second flushed batch', (q) => q.batches >= 2, 40_000);

    // Everything it did is in the warehouse: the same counts as the feed's offsets [0, cursor).
    await started.handle.signal(pauseSignal);
    const final = await untilProgress(started.handle, 'the pause at a batch boundary', (q) => q.paused);
    await sleep(1_000);
    const settled = await started.handle.query(streamProgressQuery);
    await started.handle.terminate('test done');
    expect(settled.cursor).toBeGreaterThanOrEqual(final.cursor);
    const expected = expectedCounts({ config, to: settled.cursor });
    expectProgressMatches(settled, expected);
    await expectWarehouseMatches(p.warehouse, expected);
   }, 300_000);

  it('a stream cutting a batch every 200 ms writes nothing while paused, though events wait, and writes again once resumed', async () => {
    const clientId = uniqueClient();
    const config: SimulatedFeedConfig = { ...feedConfig(clientId, 100_000, 16), rate: 200 };
    const feed = new SimulatedFeed(config);
    const p = await startWith(feed);
    await sealDates(p.warehouse, SEALED);
    // A 200 ms time trigger: unless paused, the stream writes a batch several times a second.
    const started = await startStreamWorkflow(p.client, {
      taskQueue: p.taskQueue, sourceId: feed.id, clientId, maxRows: 50_000, maxWaitMs: 200,
    });
    const running = await untilProgress(started.handle, 'three batches', (q) => q.batches >= 3);
    const moving = await untilProgress(started.handle, 'more batches', (q) => q.batches > running.batches + 2);
    expect(moving.cursor).toBeGreaterThan(running.cursor);

    await started.handle.signal(pauseSignal);
    await untilProgress(started.handle, 'paused', (q) => q.paused);
    // The batch in flight (a read waits at most 200 ms) ends; from then on nothing moves.
    await sleep(1_500);
    const held = await started.handle.query(streamProgressQuery);
    const heldBatches = (await p.warehouse.countSideTables()).batches;
    await sleep(3_000);
    const stillHeld = await started.handle.query(streamProgressQuery);
    expect(stillHeld).toMatchObject({ paused: true, cursor: held.cursor, batches: held.batches, read: held.read });
    expect((await p.warehouse.countSideTables()).batches).toBe(heldBatches);
    // Events were waiting at the source all along (200/s): the pause held the stream, not an empty feed.
    expect(feed.headAt(Date.now())).toBeGreaterThan(held.cursor + 500);

    await started.handle.signal(resumeSignal);
    const resumed = await untilProgress(started.handle, 'the stream to move again', (q) => q.batches > held.batches + 1);
    expect(resumed.paused).toBe(false);
    expect(resumed.cursor).toBeGreaterThan(held.cursor);

    await started.handle.signal(pauseSignal);
    await untilProgress(started.handle, 'paused again', (q) => q.paused);
    await sleep(1_500);
    const final = await started.handle.query(streamProgressQuery);
    await started.handle.terminate('test done');
    const expected = expectedCounts({ config, to: final.cursor });
    expectProgressMatches(final, expected);
    await expectWarehouseMatches(p.warehouse, expected);
    expect((await p.warehouse.countSideTables()).batches).toBe(final.batches);
   }, 300_000);

  it('the DuckDB warehouse alone judges a repeat within one batch against the accepted version, not against an earlier conflict', async () => {
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

  it('keeps amounts at the edges of NUMERIC exact from the event text through the parser, activity and workflow to the row', async () => {
    const clientId = uniqueClient();
    const amounts = ['-123456789.123456789', '123456789', '1234567890.5', '-0.000000001', '0', '000000000012.5', '12.10',
      '99999999999999999999999999999.999999999', '-99999999999999999999999999999.999999999'];
    const payloads = amounts.map((amount, i) => JSON.stringify({
      schema_version: 1, transaction_id: `edge-${i}`, account_id: 'a1', event_ts: `${BUSINESS_DATE}T12:00:00Z`,
      event_date: BUSINESS_DATE, amount, currency: 'USD',
    }));
    const source = new FixedSource(`fixed:${clientId}:p0`, payloads);
    pipeline = await startTestPipeline({ sources: new Map([[source.id, source]]), clientId });
    const started = await startStreamWorkflow(pipeline.client, {
      taskQueue: pipeline.taskQueue, sourceId: source.id, clientId, maxRows: 4, maxWaitMs: 50, stopAt: payloads.length,
    });
    const result = await started.handle.result();
    expect(result).toMatchObject({ cursor: amounts.length, written: amounts.length, rejected: 0, batches: 3 });
    const stored = new Map((await pipeline.warehouse.readRows(BUSINESS_DATE)).map((r) => [r.transactionId, r.amount]));
    expect(amounts.map((_, i) => stored.get(`edge-${i}`))).toEqual([
      '-123456789.123456789', '123456789', '1234567890.5', '-0.000000001', '0', '12.5', '12.1',
      '99999999999999999999999999999.999999999', '-99999999999999999999999999999.999999999',
    ]);
    const totals = await pipeline.warehouse.dailyTotals([BUSINESS_DATE]);
    // The two extremes cancel out: the day's total is the exact sum of the others (a double would round it).
    expect(totals.map((t) => t.total)).toEqual(['1234567914.97654321']);
  });
});

/** A source of fixed payloads, all available at once. */
class FixedSource implements TransactionSource {
  constructor(
    readonly id: string,
    private readonly payloads: string[],
  ) {}
  describe(): string {
    return `${this.payloads.length} fixed events`;
  }
  read({ fromCursor, maxRows }: ReadRequest): Promise<ReadResult> {
    const records = this.payloads.slice(fromCursor, fromCursor + maxRows).map((payload, i) => ({ offset: fromCursor + i, emittedAtMs: 0, payload }));
    return Promise.resolve({ records, nextCursor: fromCursor + records.length, headCursor: this.payloads.length });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const bqEndpoint = process.env.BQ_EMULATOR_ENDPOINT;
// Skipped only when the emulator is gated off (SKIP_BQ_EMULATOR=1, or not installed); the reason is in the name.
(bqEndpoint ? describe : describe.skip)(`stream workflow on the BigQuery engine (emulator)${bqEndpoint ? '' : ' (skipped: no BigQuery emulator)'}`, () => {
  it('streams 400 events with one sealed date into exactly the expected rows, late arrivals and counters', async () => {
    const warehouse = await BigQueryWarehouse.open({
      projectId: process.env.BQ_EMULATOR_PROJECT ?? 'local-project',
      datasetId: `stream_${process.pid}_${Date.now()}`,
      location: 'US',
      apiEndpoint: bqEndpoint ?? '',
    });
    const config: SimulatedFeedConfig = { ...feedConfig(uniqueClient(), 400, 17), sealedDates: [SEALED[0] ?? ''], sealedShare: 0.05 };
    const feed = new SimulatedFeed(config);
    const p = await startTestPipeline({ warehouse, sources: new Map([[feed.id, feed]]), clientId: config.clientId ?? 'acme' });
    try {
      await sealDates(p.warehouse, [SEALED[0] ?? '']);
      const expected = expectedCounts({ config, to: 400 });
      expect(expected.late).toBeGreaterThan(0);
      const started = await startStreamWorkflow(p.client, {
        taskQueue: p.taskQueue, sourceId: feed.id, clientId: config.clientId ?? 'acme', maxRows: 100, maxWaitMs: 100, stopAt: 400,
      });
      const result = await started.handle.result();
      expectProgressMatches(result, expected);
      await expectWarehouseMatches(p.warehouse, expected);
      expect((await p.warehouse.countSideTables()).batches).toBe(result.batches);
      expect(await p.warehouse.readRows(SEALED[0] ?? '')).toEqual([]);
    } finally {
      await p.stop();
      await warehouse.close();
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
