/**
 * Retryable warehouse errors (transient failures and concurrent-update conflicts, before or after the write
 * happened) are absorbed by activity retries: file workflows and stream batches end in exactly the state of
 * a fault-free run. A permanent error ends in a clean rollback with its reason in the file registry.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import { generateFile } from '../../src/files/generate.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { expectedCounts } from '../../testkit/feed-expectations.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { FaultyWarehouse, endState, type FaultPlan } from '../../testkit/faulty-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import type { streamWorkflow } from '../../src/workflows/stream-workflow.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';
import { batchOf } from '../support/warehouse-contract.js';

const withoutRegistry = (c: Record<string, string>): Record<string, string> => {
  const { file_registry: _registry, ...rest } = c;
  return rest;
};

const open = (): Promise<DuckDbWarehouse> => DuckDbWarehouse.open({ path: ':memory:' });

const pipelines: TestPipeline[] = [];
const warehouses: Warehouse[] = [];
afterEach(async () => {
  for (const p of pipelines.splice(0)) await p.stop();
  for (const w of warehouses.splice(0)) await w.close();
});

const pipelineOn = async (warehouse: Warehouse, sources?: Map<string, SimulatedFeed>): Promise<TestPipeline> => {
  warehouses.push(warehouse);
  // Workflow ids are business keys: each run gets its own client id so the same file can run twice.
  const p = await startTestPipeline({ warehouse, clientId: `acme-${randomUUID().slice(0, 8)}`, ...(sources ? { sources } : {}) });
  pipelines.push(p);
  return p;
};

/** The file scenario: stream rows on two dates, a reconciliation of one, then an amendment of both. */
const runFileScenario = async (p: TestPipeline, seedStream: (w: Warehouse) => Promise<void>): Promise<void> => {
  await seedStream(p.warehouse);
  const recon = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 30, sequence: 1, createdAt: '2026-11-21T05:00:00Z' });
  await p.runFile(recon.fileId);
  const amend = await generateFile({
    dir: p.landingDir,
    kind: 'amendment',
    covers: ['2026-11-20', '2026-11-19'],
    rows: 24,
    sequence: 2,
    createdAt: '2026-11-22T05:00:00Z',
    transform: (row, at) => (at.indexInDate === 3 ? { ...row, amount: '77.10', currency: 'USD' } : row),
  });
  await p.runFile(amend.fileId);
};

const seedStream = async (w: Warehouse): Promise<void> => {
  const rows = (date: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      transactionId: `tx-${date.replaceAll('-', '')}-${String(i).padStart(8, '0')}`,
      accountId: `acct-${i % 4}`,
      eventTs: `${date}T12:00:${String(i % 60).padStart(2, '0')}-05:00`,
      eventDate: date,
      amount: `${i + 1}.25`,
      currency: 'USD',
      merchantId: null,
      description: null,
    }));
  await w.writeStreamBatch(batchOf('seed-0', [...rows('2026-11-19', 10), ...rows('2026-11-20', 10)]));
};

describe('retryable warehouse errors', () => {
  it('file workflows complete through transient errors and conflicts with the fault-free end state', async () => {
    const reference = await pipelineOn(await open());
    await runFileScenario(reference, seedStream);
    const expected = await endState(reference.warehouse);

    const plan: FaultPlan = { seed: 20261121, rate: 0.3, maxConsecutive: 2 };
    const faulty = new FaultyWarehouse(await open(), plan);
    const p = await pipelineOn(faulty);
    faulty.setEnabled(false);
    await seedStream(faulty);
    faulty.setEnabled(true);
    await runFileScenario(p, async () => {});

    expect(await endState(faulty)).toEqual(expected);
    // Both kinds and both timings were exercised, on the steps that write.
    expect(faulty.injected.length).toBeGreaterThanOrEqual(5);
    expect(new Set(faulty.injected.map((f) => f.timing))).toEqual(new Set(['before', 'after']));
    expect(new Set(faulty.injected.map((f) => f.kind)).size).toBeGreaterThanOrEqual(2);
    expect(faulty.injected.some((f) => f.method === 'replacePartitions' || f.method === 'publishChange')).toBe(true);
  }, 180_000);

  it('stream batches are written exactly once through transient errors and conflicts', async () => {
    const total = 600;
    const config: SimulatedFeedConfig = {
      clientId: 'acme',
      seed: 5,
      rate: 'unbounded',
      totalEvents: total,
      businessDate: '2026-11-21',
      startMs: 0,
      invalidShare: 0.03,
      duplicateShare: 0.05,
      conflictShare: 0.02,
    };
    const runStream = async (warehouse: Warehouse): Promise<void> => {
      const feed = new SimulatedFeed(config);
      const p = await pipelineOn(warehouse, new Map([[feed.id, feed]]));
      const handle = await p.client.workflow.start<typeof streamWorkflow>('streamWorkflow', {
        taskQueue: p.taskQueue,
        workflowId: `stream/${feed.id}/${randomUUID()}`,
        args: [{ sourceId: feed.id, clientId: 'acme', cursor: 0, maxRows: 40, maxWaitMs: 50, stopAt: total }],
      });
      const progress = await handle.result();
      expect(progress.cursor).toBe(total);
    };

    const reference = await open();
    await runStream(reference);
    const faulty = new FaultyWarehouse(await open(), { seed: 99, rate: 0.5, methods: ['writeStreamBatch'] });
    await runStream(faulty);

    const expected = await endState(reference);
    expect(await endState(faulty)).toEqual(expected);
    // Same batches (same boundaries), each recorded once.
    expect(await faulty.countSideTables()).toEqual(await reference.countSideTables());
    const counts = expectedCounts({ config, to: total });
    const rows = Object.values(expected.dates).reduce((n, d) => n + d.rows.length, 0);
    expect(rows).toBe(counts.inserted);
    expect(expected.side).toEqual({ lateArrivals: counts.late, conflicts: counts.conflicts, rejects: counts.invalid });
    expect(faulty.injected.filter((f) => f.timing === 'after').length).toBeGreaterThan(0);
    expect(faulty.injected.filter((f) => f.timing === 'before').length).toBeGreaterThan(0);
    // Conflicts as well as plain transient errors were injected.
    expect(faulty.injected.some((f) => f.kind === 'conflict' || f.kind === 'bigquery-conflict')).toBe(true);
  }, 180_000);

  it.each([
    { method: 'publishChange' as const, stage: 'publish' },
    { method: 'replacePartitions' as const, stage: 'replace' },
  ])('a permanent error in $method rolls the file back and records the reason', async ({ method, stage }) => {
    const faulty = new FaultyWarehouse(await open(), { seed: 1, rate: 0, permanent: [{ method }] });
    const p = await pipelineOn(faulty);
    await seedStream(faulty);
    const before = withoutRegistry(await faulty.checksums());

    const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 12, sequence: 1 });
    const error = await p.runFile(file.fileId).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    let cause: unknown = (error as WorkflowFailedError).cause;
    while (cause instanceof Error && !(cause instanceof ApplicationFailure)) cause = cause.cause;
    expect(cause).toMatchObject({ type: 'WarehouseInvariant', nonRetryable: true });

    expect(withoutRegistry(await faulty.checksums())).toEqual(before);
    const entry = await faulty.getFile(file.fileId, file.manifest.sha256);
    expect(entry?.outcome).toBe('rolled_back');
    expect(entry?.reason).toContain(`${stage} failed: injected broken invariant in ${method}`);
    // The permanent error was not retried.
    expect(faulty.injected.filter((f) => f.kind === 'invariant')).toHaveLength(1);
    expect((await faulty.readRows('2026-11-20')).every((r) => r.status === 'provisional')).toBe(true);
  });
});
