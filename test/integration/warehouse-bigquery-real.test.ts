// The warehouse contract against real BigQuery (`npm run test:bigquery`), on the DML stream path and on the Storage
// Write sink: one dataset (and its staging dataset) with a unique name per scenario, dropped at the end. Outside that
// command (BIGQUERY_REAL_RUN unset) it is skipped with the reason.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, it } from 'vitest';
import { BigQuery } from '@google-cloud/bigquery';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { describeWarehouseContract } from '../support/warehouse-contract.js';

const project = process.env.BIGQUERY_PROJECT ?? '';
const location = process.env.BIGQUERY_LOCATION ?? 'US';

if (process.env.BIGQUERY_REAL_RUN !== '1' || project === '') {
  describe('warehouse contract: bigquery (real service)', () => {
    // Needs a project and credentials: run through `npm run test:bigquery`, which says why when it cannot.
    it.skip('runs only through npm run test:bigquery with BIGQUERY_PROJECT and Application Default Credentials', () => {});
  });
} else {
  const run = `contract_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const datasets: string[] = [];
  afterAll(async () => {
    const bq = new BigQuery({ projectId: project, location });
    for (const id of datasets) {
      await bq.dataset(id).delete({ force: true }).catch((error: unknown) => {
        if ((error as { code?: number }).code !== 404) throw error;
      });
    }
  });
  const open = (streamSink: boolean) => (options?: Parameters<Parameters<typeof describeWarehouseContract>[0]['open']>[0]) => {
    const datasetId = `${run}_${datasets.length}`;
    datasets.push(datasetId, `${datasetId}_staging`);
    return BigQueryWarehouse.open({
      projectId: project, datasetId, location, labels: { client: 'contract-test' }, ...options,
      ...(streamSink ? { streamSink: { mergeEveryMs: 0, classifyOnWrite: true } } : {}),
    });
  };
  describeWarehouseContract({ name: 'bigquery (real service)', replaceHoldPoint: 'decided, its transaction script not yet sent', open: open(false) });
  describeWarehouseContract({
    name: 'bigquery storage-write sink (real service)',
    replaceHoldPoint: 'decided, its transaction script not yet sent',
    open: open(true),
  });
}
