/**
 * The restore workflow on both engines (DuckDB, and the BigQuery adapter against the emulator): a date brought
 * back to an earlier version as its next version, recorded in its history with the run's ids, reported against
 * the version it replaced, and held back while another change of the date is unpublished.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { workflowIds, type RestoreWorkflowFn, type RestoreWorkflowInput } from '../../src/domain/workflow-api.js';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';
import { applyFile, batchOf, tx } from '../support/warehouse-contract.js';

const bqEndpoint = process.env.BQ_EMULATOR_ENDPOINT;
const targets: Array<{ name: string; open?: () => Promise<Warehouse> }> = [{ name: 'duckdb' }];
if (bqEndpoint) {
  let n = 0;
  targets.push({
    name: 'bigquery (emulator)',
    open: () =>
      BigQueryWarehouse.open({
        projectId: process.env.BQ_EMULATOR_PROJECT ?? 'local-project',
        datasetId: `restore_${process.pid}_${Date.now()}_${n++}`,
        location: 'US',
        apiEndpoint: bqEndpoint,
      }),
  });
}

describe.each(targets)('restore workflow on $name', ({ open }) => {
  let p: TestPipeline | undefined;
  const opened: Warehouse[] = [];
  const clientId = `acme-${randomUUID().slice(0, 8)}`;
  const start = async (): Promise<TestPipeline> => {
    const warehouse = open ? await open() : undefined;
    if (warehouse) opened.push(warehouse);
    p = await startTestPipeline({ clientId, ...(warehouse ? { warehouse } : {}) });
    return p;
  };
  const restore = (pipeline: TestPipeline, input: Omit<RestoreWorkflowInput, 'clientId'>) =>
    pipeline.client.workflow.start<RestoreWorkflowFn>('restoreWorkflow', {
      taskQueue: pipeline.taskQueue,
      workflowId: workflowIds.restore(clientId, input.eventDate, input.toVersion, randomUUID().slice(0, 8)),
      args: [{ clientId, ...input }],
    });
  afterEach(async () => {
    await p?.stop();
    p = undefined;
  });
  afterAll(async () => {
    for (const w of opened) await w.close();
  });

  /** Version 0 provisional (stream), 1 reconciled, 2 amended: one amount changes at each step. */
  const threeVersions = async (w: Warehouse, date: string): Promise<void> => {
    await w.writeStreamBatch(batchOf('b-0', [tx('r1', date, '1.00'), tx('r2', date, '2.00')]));
    await applyFile(w, { changeId: 'v1', kind: 'reconciliation', covers: [date], sequence: 1, rows: [tx('r1', date, '1.00'), tx('r2', date, '2.50')] });
    await w.publishChange('v1');
    await applyFile(w, { changeId: 'v2', kind: 'amendment', covers: [date], sequence: 2, rows: [tx('r1', date, '9.00'), tx('r2', date, '2.50')] });
    await w.publishChange('v2');
  };

  it('restores a date to version 1 as version 3, records it, and reports against version 2', async () => {
    const pipeline = await start();
    const date = '2026-11-18';
    await threeVersions(pipeline.warehouse, date);
    const handle = await restore(pipeline, { eventDate: date, toVersion: 1, requestedBy: 'test' });
    const result = await handle.result();
    expect(result).toMatchObject({ eventDate: date, fromVersion: 2, toVersion: 3, restoredVersion: 1, rowsBefore: 2, rowsAfter: 2, diffCount: 1 });

    const w = pipeline.warehouse;
    expect((await w.readRows(date)).map((r) => [r.transactionId, r.amount, r.status, r.version])).toEqual([
      ['r1', '1', 'reconciled', 3],
      ['r2', '2.5', 'reconciled', 3],
    ]);
    expect((await w.getPartitions([date]))[0]).toMatchObject({ status: 'reconciled', version: 3 });
    const history = await w.getChanges(date);
    expect(history.map((c) => [c.kind, c.fromVersion, c.toVersion, c.published])).toEqual([
      ['replace', 0, 1, true],
      ['replace', 1, 2, true],
      ['restore', 2, 3, true],
    ]);
    expect(history[2]).toMatchObject({ changeId: result.changeId, workflowId: handle.workflowId, fromStatus: 'amended' });
    const report = await w.getReport(date);
    expect(report).toMatchObject({ changeId: result.changeId, comparedWith: 'amended', diffCount: 1 });
    expect(report?.diffs).toEqual([{ transactionId: 'r1', kind: 'amount_changed', before: '9', after: '1' }]);
  });

  it('waits while the date has an unpublished change, then restores over the published one', async () => {
    const pipeline = await start();
    const date = '2026-11-17';
    const w = pipeline.warehouse;
    await threeVersions(w, date);
    // A file's replacement is in flight: the date is busy until it is published.
    await applyFile(w, { changeId: 'v3', kind: 'amendment', covers: [date], sequence: 3, rows: [tx('r1', date, '7.00')] });
    const handle = await restore(pipeline, { eventDate: date, toVersion: 0 });
    const busy = async () => (await handle.describe()).raw.pendingActivities?.find((a) => a.lastFailure?.message);
    let pending = await busy();
    for (let i = 0; i < 300 && pending === undefined; i++) {
      await new Promise((r) => setTimeout(r, 200));
      pending = await busy();
    }
    expect(pending?.lastFailure?.message ?? '').toMatch(/being changed by v3; retry later/);
    expect((await w.getPartitions([date]))[0]).toMatchObject({ version: 3, changeId: 'v3' });

    await w.publishChange('v3');
    const result = await handle.result();
    expect(result).toMatchObject({ fromVersion: 3, toVersion: 4, restoredVersion: 0 });
    expect((await w.readRows(date)).map((r) => [r.transactionId, r.amount, r.status])).toEqual([
      ['r1', '1', 'provisional'],
      ['r2', '2', 'provisional'],
    ]);
    expect((await w.getChanges(date)).map((c) => c.kind)).toEqual(['replace', 'replace', 'replace', 'restore']);
  });

  it('refuses to restore the current or a later version, changing nothing', async () => {
    const pipeline = await start();
    const date = '2026-11-16';
    await threeVersions(pipeline.warehouse, date);
    const before = await pipeline.warehouse.checksums();
    for (const toVersion of [2, 3]) {
      const handle = await restore(pipeline, { eventDate: date, toVersion });
      const failure = await handle.result().then(() => null, (e: unknown) => e);
      expect(failure, `to version ${toVersion}`).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause?.cause;
      expect(cause instanceof Error ? cause.message : '').toMatch(/is at version 2; only an earlier version can be restored/);
      expect(await pipeline.warehouse.checksums()).toEqual(before);
    }
  });
});
