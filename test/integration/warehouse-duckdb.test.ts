import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { renderReport } from '../../src/cli/render.js';
import { applyFile, batchOf, describeWarehouseContract, tx } from '../support/warehouse-contract.js';

describeWarehouseContract({
  name: 'duckdb',
  open: (options) => DuckDbWarehouse.open({ path: ':memory:', ...options }),
  replaceHoldPoint: 'inside its open transaction, every row written',
});

describe('duckdb warehouse: memory budgets of a database file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'duckdb-budget-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const rows = (n: number, eventDate: string, prefix = 't') =>
    Array.from({ length: n }, (_, i) => tx(`${prefix}${String(i).padStart(6, '0')}`, eventDate, `${i}.25`, { description: `row ${i} `.repeat(8) }));

  it('applies fileMemoryLimit to file work (1 MB: the file fails for memory) and lets the stream write 50,000 rows afterwards', async () => {
    // A budget too small for any file work: if it applies, staging fails for want of memory.
    const w = await DuckDbWarehouse.open({ path: join(dir, 'small.duckdb'), memoryLimit: '256MB', fileMemoryLimit: '1MB' });
    try {
      await expect(
        applyFile(w, { changeId: 'c1', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: rows(50_000, '2026-11-20') }),
      ).rejects.toThrow(/memory/i);
      // The failed file work handed the usual budget back: a micro-batch of the same size goes in.
      const result = await w.writeStreamBatch(batchOf('b-0', rows(50_000, '2026-11-21')));
      expect(result).toMatchObject({ inserted: 50_000, conflicts: 0 });
    } finally {
      await w.close();
    }
  }, 60_000);

  it('applies a file under the default budgets and keeps the stream going after it', async () => {
    const w = await DuckDbWarehouse.open({ path: join(dir, 'default.duckdb') });
    try {
      await w.writeStreamBatch(batchOf('b-0', rows(20_000, '2026-11-20')));
      const applied = await applyFile(w, {
        changeId: 'c1', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: rows(20_000, '2026-11-20'),
      });
      expect(applied.outcome).toBe('replaced');
      const next = await w.writeStreamBatch(batchOf('b-1', rows(1_000, '2026-11-21', 'n'), 20_000));
      expect(next).toMatchObject({ inserted: 1_000, conflicts: 0 });
      const [partition] = await w.getPartitions(['2026-11-20']);
      expect(partition).toMatchObject({ status: 'reconciled', rowCount: 20_000 });
    } finally {
      await w.close();
    }
  }, 60_000);
});

describe('duckdb warehouse: the reconciliation report as the CLI prints it', () => {
  it('prints per-kind counts of every differing id when the stored list is capped (16 stream-only, 1000 file-only)', async () => {
    const w = await DuckDbWarehouse.open({ path: ':memory:' });
    try {
      const date = '2026-11-21';
      await w.writeStreamBatch(batchOf('b-0', Array.from({ length: 16 }, (_, i) => tx(`s${i}`, date, '1'))));
      await applyFile(w, {
        changeId: 'no_shared_ids', kind: 'reconciliation', covers: [date], sequence: 1,
        rows: Array.from({ length: 1000 }, (_, i) => tx(`f${String(i).padStart(4, '0')}`, date, '2')),
      });
      await w.publishChange('no_shared_ids');
      const report = await w.getReport(date);
      expect(report?.diffs).toHaveLength(1000);
      expect(report?.diffKinds).toEqual({ onlyInStream: 16, onlyInFile: 1000, amountChanged: 0 });
      const printed = renderReport(report, date);
      expect(printed).toContain('Differences: 1016 (only in stream 16, only in file 1000, amount changed 0; the first 1000 stored, the rest counted)');
      expect(printed).toContain('… 996 more differences not shown (the report stores the first 1000)');
    } finally {
      await w.close();
    }
  });
});

describe('duckdb warehouse: a database an earlier release created', () => {
  it('widens report totals stored as DECIMAL(38, 9) to exact text, keeping every stored report as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'duckdb-widen-'));
    const path = join(dir, 'old.duckdb');
    try {
      const w = await DuckDbWarehouse.open({ path });
      await w.writeStreamBatch(batchOf('b-0', [tx('a', '2026-11-20', '10.5'), tx('b', '2026-11-20', '-0.000000001')]));
      await applyFile(w, { changeId: 'c1', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: [tx('a', '2026-11-20', '12.25')] });
      const [report] = await w.publishChange('c1');
      await w.close();
      // The columns as the earlier release made them.
      const instance = await DuckDBInstance.create(path);
      const raw = await instance.connect();
      for (const column of ['provisional_total', 'final_total']) {
        await raw.run(`ALTER TABLE reconciliation_reports ALTER COLUMN ${column} SET DATA TYPE DECIMAL(38, 9)`);
      }
      const typesNow = async (c: DuckDBConnection) =>
        (await c.runAndReadAll(`SELECT column_name, data_type FROM information_schema.columns
                                WHERE table_name = 'reconciliation_reports' AND column_name LIKE '%total' ORDER BY column_name`)).getRows();
      expect(await typesNow(raw)).toEqual([['final_total', 'DECIMAL(38,9)'], ['provisional_total', 'DECIMAL(38,9)']]);
      raw.closeSync();
      instance.closeSync();

      const reopened = await DuckDbWarehouse.open({ path });
      try {
        expect(await reopened.getReport('2026-11-20')).toEqual(report);
        expect(report?.lines).toEqual([{ currency: 'USD', provisionalRows: 2, provisionalTotal: '10.499999999', finalRows: 1, finalTotal: '12.25' }]);
      } finally {
        await reopened.close();
      }
      const after = await DuckDBInstance.create(path);
      const check = await after.connect();
      expect(await typesNow(check)).toEqual([['final_total', 'VARCHAR'], ['provisional_total', 'VARCHAR']]);
      check.closeSync();
      after.closeSync();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
