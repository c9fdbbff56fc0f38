/**
 * `npm run test:bigquery`: the warehouse contract against real BigQuery on the DML stream path and on the Storage
 * Write sink, and the file staging scenario (typed Parquet, resumable upload, replacement), each in datasets created
 * with a unique name and dropped afterwards. Runs when BIGQUERY_PROJECT is set and Application Default Credentials are found; otherwise
 * prints one line saying why it skipped and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { GoogleAuth } from 'google-auth-library';

const project = process.env.BIGQUERY_PROJECT;
if (!project) {
  console.log('test:bigquery skipped: BIGQUERY_PROJECT is not set');
  process.exit(0);
}
try {
  await new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/bigquery'] }).getClient();
} catch (error) {
  console.log(`test:bigquery skipped: no Application Default Credentials (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  process.exit(0);
}
const result = spawnSync('npx', ['vitest', 'run', 'test/integration/warehouse-bigquery-real.test.ts', 'test/integration/bigquery-staging.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, BIGQUERY_REAL_RUN: '1' },
});
process.exit(result.status ?? 1);
