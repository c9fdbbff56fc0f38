/**
 * Invariant 5 for the stream: the real worker process, killed with SIGKILL at random moments while the stream
 * runs, then restarted, ends with exactly the warehouse of a run without faults: nothing lost, nothing doubled.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, expect, it } from 'vitest';
import { streamBatchOf } from '../../src/activities/stream-activities.js';
import { parseStreamRecords } from '../../src/domain/stream-event.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { expectedCounts } from '../../testkit/feed-expectations.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { streamProgressQuery } from '../../src/domain/workflow-api.js';
import { temporalAddress } from '../support/pipeline.js';
import { freePort } from '../support/servers.js';
import { applyFile } from '../support/warehouse-contract.js';
import { spawnWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const BUSINESS_DATE = '2026-11-21';
const SEALED_DATE = '2026-11-19';
const STOP_AT = 150_000;
// Small batches keep the stream busy long enough for every kill to land mid-stream.
const MAX_ROWS = 1_000;
const KILLS = 3;

const dirs: string[] = [];
const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const seal = async (w: Warehouse): Promise<void> => {
  await applyFile(w, { changeId: 'seal_crash', kind: 'reconciliation', covers: [SEALED_DATE], sequence: 1, rows: [] });
  await w.publishChange('seal_crash');
};

/** Everything a reader can see of the stream's effect: rows per date, the side tables, the batch chain. */
const snapshot = async (w: Warehouse, dates: string[]) => ({
  side: await w.countSideTables(),
  rows: Object.fromEntries(await Promise.all(dates.map(async (d) => [d, await w.readRows(d)] as const))),
  totals: await w.dailyTotals(dates),
});

/** The same micro-batches without Temporal and without faults: read → parse → write in a plain loop. */
const referenceRun = async (config: SimulatedFeedConfig, dates: string[]) => {
  const feed = new SimulatedFeed(config);
  const w = await DuckDbWarehouse.open({ path: ':memory:' });
  try {
    await seal(w);
    for (let cursor = 0; cursor < STOP_AT; ) {
      const read = await feed.read({ fromCursor: cursor, maxRows: Math.min(MAX_ROWS, STOP_AT - cursor), maxWaitMs: 0 });
      const parsed = parseStreamRecords({ sourceId: feed.id, records: read.records, timeZone: feed.settings.timeZone });
      await w.writeStreamBatch(streamBatchOf({ sourceId: feed.id, fromCursor: cursor, toCursor: read.nextCursor, parsed }));
      cursor = read.nextCursor;
    }
    return await snapshot(w, dates);
  } finally {
    await w.close();
    await feed.close();
  }
};

/** Polls the progress query until the cursor is past `after`. */
const waitForProgress = async (handle: { query: (q: typeof streamProgressQuery) => Promise<{ cursor: number }> }, after: number) => {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const progress = await handle.query(streamProgressQuery).catch(() => ({ cursor: -1 }));
    if (progress.cursor > after) return progress;
    if (Date.now() > deadline) throw new Error(`the stream did not move past ${after}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

it('survives SIGKILL of the worker mid-stream, again and again, with the fault-free result', async () => {
  const clientId = `crash${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const dataDir = tempDir('stream-crash-');
  const dbPath = join(dataDir, 'warehouse.duckdb');
  const workDir = join(dataDir, 'work');
  const startMs = Date.now() - 3_600_000;
  // The worker's feed (src/workers/main.ts) starts where this file says: an hour of backlog at 100,000/s.
  mkdirSync(workDir, { recursive: true });
  writeFileSync(join(workDir, 'simulated-feed.json'), JSON.stringify({ startMs, businessDate: BUSINESS_DATE }));
  const config: SimulatedFeedConfig = { clientId, seed: 21, rate: 100_000, startMs, timeZone: 'America/New_York', businessDate: BUSINESS_DATE };
  const expected = expectedCounts({ config: { ...config, sealedDates: [SEALED_DATE] }, to: STOP_AT });
  expect(expected.late).toBeGreaterThan(0);

  // Seal a date before the worker owns the file (one DuckDB process per file).
  const setup = await DuckDbWarehouse.open({ path: dbPath });
  await seal(setup);
  await setup.close();

  const taskQueue = `crash-${randomUUID()}`;
  const env = {
    TEMPORAL_ADDRESS: temporalAddress(),
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
    TASK_QUEUE: taskQueue,
    WAREHOUSE: 'duckdb',
    DUCKDB_PATH: dbPath,
    WORK_DIR: workDir,
    LANDING_DIR: join(dataDir, 'landing'),
    CLIENT_ID: clientId,
    CLIENT_TIME_ZONE: 'America/New_York',
    FEED_SEED: '21',
    FEED_RATE: '100000',
    METRICS_PORT: String(await freePort()),
    // No SDK exporter: its port would be METRICS_PORT + 1, which nobody reserved.
    SDK_METRICS_PORT: '0',
    LOG_LEVEL: 'WARN',
  };
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  let worker: WorkerProcess | undefined;
  try {
    const sourceId = `sim:${clientId}:p0`;
    const started = await startStreamWorkflow(client, { taskQueue, sourceId, clientId, maxRows: MAX_ROWS, maxWaitMs: 200, stopAt: STOP_AT });
    const cursors: number[] = [];
    let killedAt = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      worker = spawnWorkerProcess(env);
      await worker.ready;
      // Once this worker has moved the stream on, kill it anywhere in the life of the next batch: reading,
      // parsing, inside the DuckDB transaction, or completing the activity.
      const { cursor } = await waitForProgress(started.handle, killedAt);
      const delay = Math.floor(Math.random() * 600);
      await new Promise((r) => setTimeout(r, delay));
      await worker.kill();
      cursors.push(cursor);
      killedAt = cursor;
      console.log(`kill ${kill + 1}: SIGKILL ${delay} ms after the cursor passed ${cursor}`);
    }
    // The stream was still short of the end at every kill, so every kill interrupted real work.
    for (const cursor of cursors) expect(cursor).toBeLessThan(STOP_AT);

    worker = spawnWorkerProcess(env);
    await worker.ready;
    const result = await started.handle.result();
    await worker.stop();
    expect(result).toMatchObject({
      cursor: STOP_AT,
      read: STOP_AT,
      written: expected.inserted,
      duplicates: expected.duplicates,
      conflicts: expected.conflicts,
      late: expected.late,
      rejected: expected.invalid,
    });
  } finally {
    await worker?.kill();
    await connection.close();
  }

  // Only now, with the worker gone, may this process open the file.
  const dates = [...new Set([...Object.keys(expected.provisional), SEALED_DATE])].sort();
  const w = await DuckDbWarehouse.open({ path: dbPath });
  let actual: Awaited<ReturnType<typeof snapshot>>;
  try {
    actual = await snapshot(w, dates);
  } finally {
    await w.close();
  }
  const reference = await referenceRun(config, dates);
  expect(actual.side).toEqual(reference.side);
  expect(actual.totals).toEqual(reference.totals);
  for (const date of dates) {
    expect(actual.rows[date]?.length, date).toBe(reference.rows[date]?.length);
    expect(actual.rows[date], date).toEqual(reference.rows[date]);
  }
  expect(actual.side).toMatchObject({ lateArrivals: expected.late, conflicts: expected.conflicts, rejects: expected.invalid, batches: STOP_AT / MAX_ROWS });
}, 300_000);
