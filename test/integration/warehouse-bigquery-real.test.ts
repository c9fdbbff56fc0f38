// The warehouse contract against real BigQuery (`npm run test:bigquery`): one dataset with a unique name, dropped at
// the end. Outside that command (BIGQUERY_REAL_RUN unset) it is skipped with the reason.
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
    for (const id of datasets) await bq.dataset(id).delete({ force: true });
  });
  describeWarehouseContract({
    name: 'bigquery (real service)',
    replaceHoldPoint: 'decided, its transaction script not yet sent',
    open: (options) => {
      const datasetId = `${run}_${datasets.length}`;
      datasets.push(datasetId);
      return BigQueryWarehouse.open({ projectId: project, datasetId, location, labels: { client: 'contract-test' }, ...options });
    },
  });
}
