/**
 * A saga that never strands a file: a failed compensation does not stop the others and leaves the file in
 * needs_operator (named step, alert, retry by signal); nothing after publish rolls an applied file back; and an
 * operator's cancel waits for the running replacePartitions before the compensations start, on both engines.
 */
import { readdirSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { FaultInjector, FileAlerts } from '../../src/activities/file-activities.js';
import { fileProgressQuery, retryRollbackSignal, searchAttributes } from '../../src/domain/workflow-api.js';
import { generateFile } from '../../src/files/generate.js';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const normalizedFiles = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.includes('.normalized.'));
const withoutRegistry = ({ file_registry: _, ...data }: Record<string, string>): Record<string, string> => data;

/** Fails the steps named in `failing` with a non-retryable error while they are in the set. */
class FailWhile implements FaultInjector {
  readonly failing = new Set<string>();
  readonly calls: string[] = [];
  async before(step: string): Promise<void> {
    this.calls.push(step);
    if (this.failing.has(step)) throw ApplicationFailure.nonRetryable(`injected failure at ${step}`, 'WarehouseInvariant');
  }
}

const waitFor = async <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await sleepMs(100);
  }
};

describe('file saga on duckdb', () => {
  let pipeline: TestPipeline | undefined;
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
  });

  it('runs the other compensations when one fails, parks the file in needs_operator naming it, alerts, and finishes the rollback on retry', async () => {
    const faults = new FailWhile();
    const alerts: Array<{ failedSteps: string }> = [];
    const fileAlerts: FileAlerts = { fileNeedsOperator: (a) => alerts.push(a) };
    const p = (pipeline = await startTestPipeline({ faults, fileAlerts }));
    const before = await p.warehouse.checksums();
    const file = await generateFile({ dir: p.landingDir, kind: 'amendment', covers: ['2026-11-19', '2026-11-20'], rows: 12, sequence: 2 });
    faults.failing.add('publish');
    faults.failing.add('revert');
    const started = await p.submit(file.fileId);
    if (!started.started) throw new Error(started.reason);

    const progress = await waitFor('needs_operator', () => started.handle.query(fileProgressQuery), (q) => q.stage === 'needs_operator');
    expect(progress.detail).toContain('revertChange failed: injected failure at revert');
    // The compensations after the failed one still ran: the staging area and the normalised file are gone.
    expect(faults.calls).toEqual(expect.arrayContaining(['unpublish', 'revert', 'dropStaging']));
    expect(faults.calls.indexOf('dropStaging')).toBeGreaterThan(faults.calls.indexOf('revert'));
    expect(normalizedFiles(p.workDir)).toEqual([]);
    expect(await p.warehouse.getFile(file.fileId, file.manifest.sha256)).toMatchObject({
      outcome: 'needs_operator',
      reason: expect.stringContaining('revertChange'),
    });
    const described = await started.handle.describe();
    expect(described.status.name).toBe('RUNNING');
    expect(described.typedSearchAttributes.get(searchAttributes.Stage)).toBe('needs_operator');
    await waitFor('the alert', () => Promise.resolve(alerts.length), (n) => n > 0);
    expect(alerts.map((a) => a.failedSteps)).toEqual(['revertChange']);
    // The data is not yet as before: the replace is still in place.
    expect(withoutRegistry(await p.warehouse.checksums())).not.toEqual(withoutRegistry(before));

    faults.failing.delete('revert');
    await started.handle.signal(retryRollbackSignal, { requestedBy: 'test' });
    const error = await started.handle.result().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(withoutRegistry(await p.warehouse.checksums())).toEqual(withoutRegistry(before));
    expect(await p.warehouse.getFile(file.fileId, file.manifest.sha256)).toMatchObject({ outcome: 'rolled_back' });
    expect(await started.handle.query(fileProgressQuery)).toMatchObject({ stage: 'rolled_back' });
  });

  it('keeps a file applied when the clean-up after publish fails (logged, never compensated)', async () => {
    const faults = new FailWhile();
    faults.failing.add('dropStaging');
    const p = (pipeline = await startTestPipeline({ faults }));
    const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 10, sequence: 1 });
    const result = await p.runFile(file.fileId);
    expect(result.outcome).toBe('applied');
    expect(faults.calls).not.toContain('unpublish');
    expect(faults.calls).not.toContain('revert');
    expect(await p.warehouse.getFile(file.fileId, file.manifest.sha256)).toMatchObject({ outcome: 'applied' });
    expect((await p.warehouse.readRows('2026-11-20')).every((r) => r.status === 'reconciled')).toBe(true);
  });
});

/**
 * A warehouse whose replacePartitions is slow: the call starts, says so, and its statement commits only a while
 * later (here: 2 s after the test cancels). A compensation that started while it ran would find nothing to revert.
 */
const slowReplace = (inner: Warehouse, onStart: () => void, commitAfter: Promise<void>): Warehouse =>
  new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'replacePartitions') {
        return async (input: Parameters<Warehouse['replacePartitions']>[0]) => {
          onStart();
          await commitAfter;
          return target.replacePartitions(input);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });

const bqEndpoint = process.env.BQ_EMULATOR_ENDPOINT;
const engines: Array<{ name: string; open: () => Promise<Warehouse> }> = [{ name: 'duckdb', open: () => DuckDbWarehouse.open({ path: ':memory:' }) }];
if (bqEndpoint) {
  engines.push({
    name: 'bigquery (emulator)',
    open: () =>
      BigQueryWarehouse.open({
        projectId: process.env.BQ_EMULATOR_PROJECT ?? 'local-project',
        datasetId: `saga_${process.pid}_${Date.now()}`,
        location: 'US',
        apiEndpoint: bqEndpoint,
      }),
  });
}

describe.each(engines)('an operator cancel during a running replacePartitions on $name', ({ open }) => {
  const opened: Warehouse[] = [];
  afterAll(async () => {
    for (const w of opened) await w.close();
  });

  it('waits for the replace to end, then rolls back exactly', async () => {
    const inner = await open();
    opened.push(inner);
    let started = (): void => undefined;
    const replaceStarted = new Promise<void>((r) => (started = r));
    let commit = (): void => undefined;
    const commitAfter = new Promise<void>((r) => (commit = r));
    const p = await startTestPipeline({ warehouse: slowReplace(inner, started, commitAfter) });
    try {
      const before = await inner.checksums();
      const file = await generateFile({ dir: p.landingDir, kind: 'amendment', covers: ['2026-11-19', '2026-11-20'], rows: 12, sequence: 2 });
      const run = await p.submit(file.fileId);
      if (!run.started) throw new Error(run.reason);
      await replaceStarted;
      await run.handle.cancel();
      setTimeout(commit, 2_000);
      const error = await run.handle.result().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      // The revert ran after the replace committed: every table is as before the file.
      expect(withoutRegistry(await inner.checksums())).toEqual(withoutRegistry(before));
      expect(await inner.getFile(file.fileId, file.manifest.sha256)).toMatchObject({
        outcome: 'rolled_back',
        reason: expect.stringContaining('cancelled by an operator during'),
      });
    } finally {
      await p.stop();
    }
  });
});
