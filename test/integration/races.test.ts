/**
 * Races on one date, run many times with shifted timing: the stream writing a date while it is reconciled,
 * two files for the same date at once, an amendment and a reconciliation for the same date at once. After
 * every run the invariants hold: one status per date, versions moving forward one step at a time, no
 * provisional row in a sealed date, every stream event either replaced by the file or kept as a late arrival.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/domain/dates.js';
import { generateFile, seededRandom } from '../../src/files/generate.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { expectedCounts } from '../../testkit/feed-expectations.js';
import type { TransactionSource } from '../../src/sources/source.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { WarehouseError, type Warehouse } from '../../src/warehouse/port.js';
import { withHookAfter } from '../../testkit/faulty-warehouse.js';
import type { streamWorkflow } from '../../src/workflows/stream-workflow.js';
import { pauseSignal, streamProgressQuery, type StreamProgress } from '../../src/domain/workflow-api.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';
import { expectWarehouseMatches } from '../support/stream-oracle.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls a stream's progress query until `ok`, or fails after `timeoutMs`. */
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
    await sleep(100);
  }
};

/** The invariants every date must satisfy whenever no file is between replace and publish. */
const assertInvariants = async (w: Warehouse): Promise<void> => {
  for (const p of await w.getPartitions()) {
    const rows = await w.readRows(p.eventDate);
    expect(rows.length, p.eventDate).toBe(p.rowCount);
    expect(new Set(rows.map((r) => r.status)).size, `${p.eventDate}: one status per date`).toBeLessThanOrEqual(1);
    for (const r of rows) expect(r, p.eventDate).toMatchObject({ status: p.status, version: p.version });
    const changes = await w.getChanges(p.eventDate);
    expect(changes.map((c) => c.toVersion), `${p.eventDate}: versions move forward one step at a time`).toEqual(
      changes.map((_, i) => i + 1),
    );
    changes.forEach((c, i) => expect(c.fromVersion).toBe(i));
    expect(changes.every((c) => c.published), `${p.eventDate}: nothing left half-applied`).toBe(true);
    const sequences = changes.map((c) => c.sequence ?? 0);
    expect(sequences, `${p.eventDate}: sequences never go back`).toEqual([...sequences].sort((a, b) => a - b));
    if (p.version > 0) expect(p.sequence).toBe(sequences.at(-1));
  }
};

/** A feed of one business date at 200 events/s with duplicates, conflicts and invalid events. */
const raceFeed = (date: string, partition: number, seed: number): SimulatedFeedConfig => ({
  clientId: 'acme',
  partition,
  seed,
  rate: 200,
  totalEvents: 100_000,
  businessDate: date,
  startMs: Date.now(),
  outOfOrderShare: 0,
  lateShare: 0,
  invalidShare: 0.02,
  duplicateShare: 0.03,
  conflictShare: 0.01,
});

describe('races on one date', () => {
  let p: TestPipeline;
  const sources = new Map<string, TransactionSource>();
  const random = seededRandom(20261121);
  beforeAll(async () => {
    p = await startTestPipeline({ sources, clientId: `acme-${randomUUID().slice(0, 8)}` });
  });
  afterAll(async () => {
    await p.stop();
  });

  it('the stream writing a date while it is reconciled, overlapping in every run: no provisional row after the seal, late arrivals counted', async () => {
    const runs = 6;
    for (let i = 0; i < runs; i++) {
      const date = addDays('2026-10-01', i);
      const config = raceFeed(date, 100 + i, 1000 + i);
      const feed = new SimulatedFeed(config);
      sources.set(feed.id, feed);
      const lateBefore = (await p.warehouse.countSideTables()).lateArrivals;
      const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [date], rows: 30, sequence: 1, idPrefix: 'f-' });

      // The stream runs until the test has seen it on both sides of the seal.
      const stream = await p.client.workflow.start<typeof streamWorkflow>('streamWorkflow', {
        taskQueue: p.taskQueue,
        workflowId: `stream/${feed.id}/${randomUUID()}`,
        args: [{ sourceId: feed.id, clientId: 'acme', cursor: 0, maxRows: 20, maxWaitMs: 40 }],
      });
      // A reader polls the date throughout: it must never see two statuses at once.
      let racing = true;
      const reader = (async () => {
        let polls = 0;
        while (racing) {
          const rows = await p.warehouse.readRows(date);
          expect(new Set(rows.map((r) => r.status)).size, `${date}: mixed statuses seen by a reader`).toBeLessThanOrEqual(1);
          expect(new Set(rows.map((r) => r.version)).size).toBeLessThanOrEqual(1);
          polls++;
          await sleep(25);
        }
        return polls;
      })();
      // The file starts once the stream has written rows of the date, after a drawn delay.
      await untilProgress(stream, 'provisional rows written', (q) => q.written > 0);
      await sleep(Math.floor(random() * 500));
      const applied = await p.runFile(file.fileId);
      // The stream goes on after the seal: its events for the date become late arrivals.
      await untilProgress(stream, 'late arrivals after the seal', (q) => q.late > 0);
      await stream.signal(pauseSignal);
      await untilProgress(stream, 'the pause', (q) => q.paused);
      await sleep(1_000);
      const progress = await stream.query(streamProgressQuery);
      await stream.terminate('race done');
      racing = false;
      expect(await reader).toBeGreaterThan(0);

      // The race overlapped: rows written before the seal, late arrivals after it.
      expect(progress.written, 'written before the seal').toBeGreaterThan(0);
      expect(progress.late, 'late after the seal').toBeGreaterThan(0);
      expect(applied.outcome).toBe('applied');
      const [ledger] = await p.warehouse.getPartitions([date]);
      expect(ledger).toMatchObject({ status: 'reconciled', version: 1, rowCount: 30 });
      const rows = await p.warehouse.readRows(date);
      expect(rows.every((r) => r.status === 'reconciled' && r.transactionId.startsWith('f-'))).toBe(true);
      const expected = expectedCounts({ config, to: progress.cursor });
      // Every valid event is accounted for exactly once: written before the seal (then replaced), or late.
      expect(progress.written + progress.duplicates + progress.conflicts + progress.late).toBe(expected.valid);
      expect(progress.rejected).toBe(expected.invalid);
      expect((await p.warehouse.readVersion(date, 0)).length).toBe(progress.written);
      expect((await p.warehouse.countSideTables()).lateArrivals - lateBefore).toBe(progress.late);
      await assertInvariants(p.warehouse);
    }
  }, 600_000);

  it('two files for the same date started together (0-400 ms apart): the higher sequence ends on top, versions move forward, the date ends with its rows only', async () => {
    const runs = 5;
    const seen = { olderRefused: 0, bothApplied: 0 };
    for (let i = 0; i < runs; i++) {
      const date = addDays('2026-09-01', i);
      const older = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [date], rows: 20, sequence: 5, idPrefix: 'old-', seed: 3 });
      const newer = await generateFile({ dir: p.landingDir, kind: 'amendment', covers: [date], rows: 25, sequence: 6, idPrefix: 'new-', seed: 4 });
      const delay = Math.floor(random() * 400);
      const [first, second] = i % 2 === 0 ? [older, newer] : [newer, older];
      const results = await Promise.allSettled([
        p.runFile(first.fileId),
        sleep(delay).then(() => p.runFile(second.fileId)),
      ]);
      const newerResult = results[first === newer ? 0 : 1];
      const olderResult = results[first === older ? 0 : 1];
      expect(newerResult?.status).toBe('fulfilled');
      const olderEntry = await p.warehouse.getFile(older.fileId, older.manifest.sha256);
      // The ordering decides the outcome: the older file replacing first is superseded after (v2), the
      // newer replacing first makes the older one stale.
      const changes = await p.warehouse.getChanges(date);
      expect(changes.map((c) => c.sequence)).toEqual(olderResult?.status === 'rejected' ? [6] : [5, 6]);
      if (olderResult?.status === 'rejected') {
        expect(olderEntry?.outcome).toBe('refused_stale');
        seen.olderRefused++;
      } else {
        expect(olderEntry?.outcome).toBe('applied');
        seen.bothApplied++;
      }
      const [ledger] = await p.warehouse.getPartitions([date]);
      expect(ledger).toMatchObject({ status: 'amended', sequence: 6, fileId: newer.fileId, rowCount: 25 });
      expect(ledger?.version).toBe(olderResult?.status === 'rejected' ? 1 : 2);
      const rows = await p.warehouse.readRows(date);
      expect(rows.every((r) => r.transactionId.startsWith('new-') && r.status === 'amended')).toBe(true);
      await assertInvariants(p.warehouse);
    }
    console.log(`two files for one date, ${runs} runs: ${JSON.stringify(seen)}`);
  }, 300_000);

  it('an amendment and a reconciliation for the same date started together (0-400 ms apart): the amendment ends on top, as version 2 after an applied reconciliation or 1 after a refused one', async () => {
    const runs = 5;
    const seen = { reconThenAmend: 0, reconRefused: 0 };
    for (let i = 0; i < runs; i++) {
      const date = addDays('2026-08-01', i * 2);
      const recon = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [date], rows: 20, sequence: 10, idPrefix: 'r-' });
      const amend = await generateFile({
        dir: p.landingDir,
        kind: 'amendment',
        covers: [date, addDays(date, 1)],
        rows: 30,
        sequence: 11,
        idPrefix: 'a-',
      });
      const delay = Math.floor(random() * 400);
      const [reconResult, amendResult] = await Promise.allSettled([
        i % 2 === 0 ? p.runFile(recon.fileId) : sleep(delay).then(() => p.runFile(recon.fileId)),
        i % 2 === 0 ? sleep(delay).then(() => p.runFile(amend.fileId)) : p.runFile(amend.fileId),
      ]);
      expect(amendResult.status).toBe('fulfilled');
      const [ledger, next] = await p.warehouse.getPartitions([date, addDays(date, 1)]);
      expect(ledger).toMatchObject({ status: 'amended', sequence: 11, fileId: amend.fileId, rowCount: 15 });
      expect(next).toMatchObject({ status: 'amended', sequence: 11, version: 1, rowCount: 15 });
      expect((await p.warehouse.getChanges(date)).map((c) => c.sequence)).toEqual(reconResult.status === 'fulfilled' ? [10, 11] : [11]);
      if (reconResult.status === 'fulfilled') {
        expect(ledger?.version).toBe(2);
        seen.reconThenAmend++;
      } else {
        expect(ledger?.version).toBe(1);
        expect((await p.warehouse.getFile(recon.fileId, recon.manifest.sha256))?.outcome).toBe('refused_stale');
        seen.reconRefused++;
      }
      const rows = await p.warehouse.readRows(date);
      expect(rows.every((r) => r.transactionId.startsWith('a-') && r.status === 'amended')).toBe(true);
      await assertInvariants(p.warehouse);
    }
    console.log(`amendment vs reconciliation, ${runs} runs: ${JSON.stringify(seen)}`);
  }, 300_000);
});

/**
 * A file rolled back while the stream keeps writing its date. Between replace and the rollback the date is sealed,
 * so the stream's events for it are kept as late arrivals; the rollback must re-admit them, and the date must end
 * as if the file had never come: every stream event provisional exactly once, none left only in `late_arrivals`.
 *
 * Discriminating check (done by hand, keep it true): with the `readmitLateStatements` loop removed from
 * `DuckDbWarehouse.revertChange`, both tests fail in `expectWarehouseMatches` on the side-table counts, the late
 * events stranded in `late_arrivals` instead of none (seen: `late` 311 at publish, 1992 at cancel; expected 0).
 */
describe('a file rolled back while the stream writes its date', () => {
  const rollbackRace = async (mode: 'fail' | 'cancel', date: string, seed: number): Promise<void> => {
    const config = raceFeed(date, 200 + seed, seed);
    const feed = new SimulatedFeed(config);
    let stream: WorkflowHandle<typeof streamWorkflow> | undefined;
    let reach = (): void => undefined;
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const inner = await DuckDbWarehouse.open({ path: ':memory:' });
    // Replace is durable (the date is sealed): the step holds until the stream has written late arrivals for the
    // date, then ends (to fail at publish) or waits for the operator's cancel.
    let warehouse = withHookAfter(inner, 'replacePartitions', async () => {
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 100);
      try {
        if (!stream) throw new Error('the stream is not running');
        await untilProgress(stream, 'late arrivals while the date is sealed', (q) => q.late > 0);
        if (mode === 'cancel') {
          reach();
          await ctx.cancelled;
        }
      } finally {
        clearInterval(beat);
      }
    });
    if (mode === 'fail') {
      warehouse = withHookAfter(warehouse, 'publishChange', () =>
        Promise.reject(new WarehouseError('injected failure after publishChange', 'INVARIANT')),
      );
    }
    const p = await startTestPipeline({ warehouse, sources: new Map([[feed.id, feed]]) });
    try {
      const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [date], rows: 30, sequence: 1, idPrefix: 'f-' });
      stream = await p.client.workflow.start<typeof streamWorkflow>('streamWorkflow', {
        taskQueue: p.taskQueue,
        workflowId: `stream/${feed.id}/${randomUUID()}`,
        args: [{ sourceId: feed.id, clientId: 'acme', cursor: 0, maxRows: 20, maxWaitMs: 40 }],
      });
      await untilProgress(stream, 'provisional rows written', (q) => q.written > 0);
      const started = await p.submit(file.fileId);
      if (!started.started) throw new Error(started.reason);
      if (mode === 'cancel') {
        await reached;
        await started.handle.cancel();
      }
      await expect(started.handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      const lateWhileSealed = (await stream.query(streamProgressQuery)).late;
      // The stream writes the reopened date as provisional again before it is paused.
      const writtenAtRollback = (await stream.query(streamProgressQuery)).written;
      await untilProgress(stream, 'provisional rows after the rollback', (q) => q.written > writtenAtRollback);
      await stream.signal(pauseSignal);
      await untilProgress(stream, 'the pause', (q) => q.paused);
      const progress = await stream.query(streamProgressQuery);
      await stream.terminate('race done');

      expect(lateWhileSealed, 'the stream wrote the date while it was sealed').toBeGreaterThan(0);
      expect(progress.late).toBeGreaterThanOrEqual(lateWhileSealed);
      expect((await p.warehouse.getFile(file.fileId, file.manifest.sha256))?.outcome).toBe('rolled_back');
      const [ledger] = await p.warehouse.getPartitions([date]);
      expect(ledger).toMatchObject({ status: 'provisional', version: 0, fileId: null });
      expect(await p.warehouse.getChanges(date)).toEqual([]);
      // Equal to a run without the file: the feed's oracle with no sealed date (no late arrival at all).
      const expected = expectedCounts({ config, to: progress.cursor });
      expect(expected.late).toBe(0);
      await expectWarehouseMatches(p.warehouse, expected);
      await assertInvariants(p.warehouse);
    } finally {
      await p.stop();
      await inner.close();
    }
  };

  it('a file failing at publish (after replace sealed the date and the stream wrote late events) leaves every stream event of the date provisional once, none only late', async () => {
    await rollbackRace('fail', '2026-07-01', 31);
  }, 300_000);

  it('an operator cancelling a file while its replace runs (the stream writing the sealed date meanwhile) leaves every stream event of the date provisional once, none only late', async () => {
    await rollbackRace('cancel', '2026-07-02', 32);
  }, 300_000);
});
