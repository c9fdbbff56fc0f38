// Cancellation of DuckDB write work through the caller's job context: the signal interrupts the running statement,
// the transaction is rolled back, and the call rejects with the signal's reason; the same call without the signal
// commits. The replacement is large enough (a staged Parquet file of 1M rows) that it is still running when aborted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { withJobContext } from '../../src/warehouse/job-context.js';
import type { ReplaceInput } from '../../src/warehouse/port.js';
import { applyFile, tx } from '../support/warehouse-contract.js';

const DATE = '2026-11-21';
const BIG_ROWS = 1_000_000;
/** The statement that writes the staged rows: the replacement's long one. */
const STAGED_INSERT = /INSERT INTO transactions SELECT s\.transaction_id/;

let dir: string;
let bigParquet: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'duckdb-cancel-'));
  bigParquet = join(dir, 'big.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  await c.run(`COPY (
      SELECT 'big' || lpad(CAST(range AS VARCHAR), 8, '0') AS transaction_id, 'acct' || CAST(range % 997 AS VARCHAR) AS account_id,
             '${DATE}T10:00:00.000Z' AS event_ts, '${DATE}' AS event_date, CAST(range % 100000 AS VARCHAR) || '.25' AS amount,
             'EUR' AS currency, NULL AS merchant_id, 'row ' || CAST(range AS VARCHAR) AS description
      FROM range(${BIG_ROWS})) TO '${bigParquet}' (FORMAT parquet)`);
  c.closeSync();
  instance.closeSync();
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const context = (signal: AbortSignal) => ({ workflowId: 'reconcile/acme/2026-11-21/cancel', step: 'replace', attempt: 1, signal });

const replaceInput = (changeId: string): ReplaceInput => ({
  changeId,
  fileId: `file-${changeId}`,
  stagingId: 'big',
  kind: 'amendment',
  covers: [DATE],
  sequence: 2,
  workflowId: 'wf',
  runId: 'run',
  force: false,
});

/** A warehouse whose date holds a first version of 3 rows, with the big file staged for the next change. */
const prepared = async (): Promise<DuckDbWarehouse> => {
  const w = await DuckDbWarehouse.open({ path: ':memory:' });
  const first = await applyFile(w, {
    changeId: 'c1', kind: 'reconciliation', covers: [DATE], sequence: 1,
    rows: [tx('a1', DATE, '1.00'), tx('a2', DATE, '2.00'), tx('a3', DATE, '3.00')],
  });
  expect(first.outcome).toBe('replaced');
  await w.publishChange('c1');
  await w.stageFile({ stagingId: 'big', csvPath: bigParquet });
  return w;
};

describe('duckdb warehouse: cancellation through the job context', () => {
  it('interrupts a replacement mid-statement when the signal fires, rolls it back whole, and commits the same call without the signal', async () => {
    const w = await prepared();
    try {
      const before = await w.checksums();
      const controller = new AbortController();
      // Abort once the staged-rows insert is under way, and record how that statement ended.
      const run = DuckDBConnection.prototype.run;
      const insertOutcomes: string[] = [];
      vi.spyOn(DuckDBConnection.prototype, 'run').mockImplementation(function (this: DuckDBConnection, ...args: Parameters<typeof run>) {
        const pending = run.apply(this, args);
        if (STAGED_INSERT.test(args[0])) {
          setTimeout(() => controller.abort(), 100);
          pending.then(() => insertOutcomes.push('completed'), (e: unknown) => insertOutcomes.push(String(e)));
        }
        return pending;
      });
      let abortedAt = 0;
      controller.signal.addEventListener('abort', () => { abortedAt = performance.now(); });

      const call = withJobContext(context(controller.signal), () => w.replacePartitions(replaceInput('c2')));
      const error = await call.then(() => null, (e: unknown) => e);
      const settledMs = performance.now() - abortedAt;

      expect(error).toBe(controller.signal.reason);
      expect((error as Error).name).toBe('AbortError');
      // The long statement itself was interrupted, not left to finish.
      expect(insertOutcomes).toHaveLength(1);
      expect(insertOutcomes[0]).toMatch(/INTERRUPT/i);
      // The old version is whole: every table as before, the date at version 1 with its 3 rows.
      expect(await w.checksums()).toEqual(before);
      expect(await w.getPartitions([DATE])).toMatchObject([{ version: 1, rowCount: 3, changeId: 'c1' }]);
      expect((await w.readRows(DATE)).map((r) => r.transactionId)).toEqual(['a1', 'a2', 'a3']);
      vi.restoreAllMocks();

      // The same call without the signal commits: the write path is usable after the cancellation.
      const t0 = performance.now();
      const result = await withJobContext(context(new AbortController().signal), () => w.replacePartitions(replaceInput('c2')));
      const fullMs = performance.now() - t0;
      expect(result).toMatchObject({ outcome: 'replaced', dates: [{ eventDate: DATE, fromVersion: 1, toVersion: 2, rowsBefore: 3, rowsAfter: BIG_ROWS }] });
      expect(await w.getPartitions([DATE])).toMatchObject([{ version: 2, rowCount: BIG_ROWS, changeId: 'c2' }]);
      console.log(`cancelled replacement settled ${settledMs.toFixed(0)} ms after the abort; the uncancelled one took ${fullMs.toFixed(0)} ms`);
    } finally {
      await w.close();
    }
  }, 180_000);

  it('rejects write work whose signal has already fired without running any of it', async () => {
    const w = await prepared();
    try {
      const before = await w.checksums();
      const controller = new AbortController();
      controller.abort();
      const spy = vi.spyOn(DuckDBConnection.prototype, 'run');
      await expect(withJobContext(context(controller.signal), () => w.replacePartitions(replaceInput('c2')))).rejects.toBe(controller.signal.reason);
      expect(spy).not.toHaveBeenCalled();
      expect(await w.checksums()).toEqual(before);
    } finally {
      await w.close();
    }
  }, 180_000);
});
