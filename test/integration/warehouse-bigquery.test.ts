// The warehouse contract against the BigQuery adapter on a local BigQuery emulator: one fresh dataset per scenario.
// The endpoint comes from BQ_EMULATOR_ENDPOINT (set by the global setup); without it, this file starts the emulator
// itself through scripts/emulator.sh, and skips with a reason when there is no emulator at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BigQuery } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { WarehouseError, type WarehouseHooks } from '../../src/warehouse/port.js';
import { applyFile, batchOf, describeWarehouseContract, EMULATOR_GAPS, tx } from '../support/warehouse-contract.js';
import { emulatorAvailable, startEmulator, type EmulatorServer } from '../support/servers.js';

const projectId = process.env.BQ_EMULATOR_PROJECT ?? 'local-project';
const preset = process.env.BQ_EMULATOR_ENDPOINT;
const runnable = (preset !== undefined && preset !== '') || emulatorAvailable();

let endpoint = preset ?? '';
let started: EmulatorServer | undefined;
const datasets: string[] = [];

if (!runnable) {
  describe('warehouse contract: bigquery (emulator)', () => {
    // Skipped only on a checkout without the emulator scripts and no endpoint given; CI always has both.
    it.skip('needs BQ_EMULATOR_ENDPOINT or scripts/emulator.sh', () => {});
  });
} else {
  beforeAll(async () => {
    if (endpoint === '') {
      started = await startEmulator();
      endpoint = started.endpoint;
    }
  });

  afterAll(async () => {
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'emulator' });
    const bq = new BigQuery({ projectId, apiEndpoint: endpoint, authClient });
    for (const id of datasets) await bq.dataset(id).delete({ force: true }).catch(() => undefined);
    await started?.stop();
  });

  describeWarehouseContract({
    name: 'bigquery (emulator)',
    open: (options) => {
      const datasetId = `contract_${process.pid}_${Date.now()}_${datasets.length}`;
      datasets.push(datasetId);
      return BigQueryWarehouse.open({ projectId, datasetId, location: 'US', apiEndpoint: endpoint, ...options });
    },
    // A script runs as one job: the client can hold it only after deciding and before sending it.
    replaceHoldPoint: 'decided, its transaction script not yet sent',
    gaps: EMULATOR_GAPS,
  });
}

if (runnable) {
  describe('bigquery warehouse: the production scripts on the emulator', () => {
    const open = (hooks: WarehouseHooks = {}) => {
      const datasetId = `scripts_${process.pid}_${Date.now()}_${datasets.length}`;
      datasets.push(datasetId);
      return BigQueryWarehouse.open({ projectId, datasetId, location: 'US', apiEndpoint: endpoint, hooks, maxAttempts: 3 });
    };

    it('retries a replacement whose script fails with a concurrent-update error, and applies it once', async () => {
      const scripts: string[] = [];
      let failed = 0;
      const w = await open({
        beforeJob: async (sql) => {
          if (!sql.startsWith('BEGIN TRANSACTION')) return;
          scripts.push(sql);
          if (sql.includes('INSERT INTO') && sql.includes("'replace'") && failed === 0) {
            failed++;
            // The shape BigQuery answers with when another transaction touched the table first.
            throw Object.assign(new Error('Could not serialize access to table x.transactions due to concurrent update'), {
              code: 400,
              errors: [{ reason: 'invalidQuery', message: 'Could not serialize access to table x.transactions due to concurrent update' }],
            });
          }
        },
      });
      try {
        await w.writeStreamBatch(batchOf('b-0', [tx('k1', '2026-11-20', '1')]));
        const result = await applyFile(w, { changeId: 'retried', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: [tx('k2', '2026-11-20', '2')] });
        expect(failed).toBe(1);
        expect(result).toMatchObject({ outcome: 'replaced', dates: [{ eventDate: '2026-11-20', fromVersion: 0, toVersion: 1 }] });
        expect((await w.readRows('2026-11-20')).map((r) => [r.transactionId, r.status, r.version])).toEqual([['k2', 'reconciled', 1]]);
        expect((await w.getChanges('2026-11-20')).length).toBe(1);
        // Every write went as one literal-only script: no parameter reached a script.
        expect(scripts.length).toBeGreaterThan(1);
        for (const script of scripts) expect(script).not.toMatch(/@[A-Za-z_]/);
      } finally {
        await w.close();
      }
    });

    it('gives up with a retryable error after maxAttempts concurrent-update failures, leaving every data table as before', async () => {
      let failing = false;
      const w = await open({
        beforeJob: async (sql) => {
          if (failing && sql.startsWith('BEGIN TRANSACTION')) throw Object.assign(new Error('due to concurrent update'), { code: 400 });
        },
      });
      try {
        await w.writeStreamBatch(batchOf('b-0', [tx('g1', '2026-11-20', '1')]));
        const before = await w.checksums();
        failing = true;
        await expect(w.revertChange('none')).resolves.toEqual({ reverted: false });
        const error = await w.writeStreamBatch(batchOf('b-1', [tx('g2', '2026-11-20', '2')], 1)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(error).not.toBeInstanceOf(WarehouseError);
        expect(String((error as Error).message)).toMatch(/still conflicting after 3 attempts/);
        failing = false;
        const after = await w.checksums();
        expect(after).toEqual(before);
      } finally {
        await w.close();
      }
    });
  });
}
