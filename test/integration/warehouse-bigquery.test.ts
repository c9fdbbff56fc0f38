// The warehouse contract against the BigQuery adapter on a local BigQuery emulator: one fresh dataset per scenario.
// The endpoint comes from BQ_EMULATOR_ENDPOINT (set by the global setup); without it, this file starts the emulator
// itself through scripts/emulator.sh, and skips with a reason when there is no emulator at all.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BigQuery } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { describeWarehouseContract } from '../support/warehouse-contract.js';
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
    gaps: {
      // The emulator cannot bind query parameters inside a multi-statement script, so the adapter's emulator mode
      // runs a write's statements as separate jobs: a failure midway is not rolled back there.
      'leaves every table as it was when a replacement fails midway':
        'emulator cannot bind parameters in BEGIN…COMMIT scripts; production runs each write as one transaction script',
    },
  });
}
