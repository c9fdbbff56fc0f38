// Staging a file the way production does: the validator's typed Parquet, sent by a resumable upload in chunks that
// survives a lost answer, then a load job into the staging dataset. On the emulator; through `npm run test:bigquery`
// (BIGQUERY_REAL_RUN=1 and BIGQUERY_PROJECT) against real BigQuery instead.
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BigQuery } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import { generateFile } from '../../src/files/generate.js';
import { validateFile } from '../../src/files/validate.js';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { emulatorAvailable, startEmulator, type EmulatorServer } from '../support/servers.js';

const real = process.env.BIGQUERY_REAL_RUN === '1' && (process.env.BIGQUERY_PROJECT ?? '') !== '';
const projectId = real ? (process.env.BIGQUERY_PROJECT ?? '') : (process.env.BQ_EMULATOR_PROJECT ?? 'local-project');
const location = real ? (process.env.BIGQUERY_LOCATION ?? 'US') : 'US';
const preset = process.env.BQ_EMULATOR_ENDPOINT;
const runnable = real || (preset !== undefined && preset !== '') || emulatorAvailable();
let endpoint = preset ?? '';
let started: EmulatorServer | undefined;
const datasets: string[] = [];
let dir = '';

if (!runnable) {
  describe('bigquery staging (emulator)', () => {
    // Skipped only on a checkout without the emulator scripts and no endpoint given; CI always has both.
    it.skip('needs BQ_EMULATOR_ENDPOINT or scripts/emulator.sh', () => {});
  });
} else {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bq-staging-'));
    if (!real && endpoint === '') {
      started = await startEmulator();
      endpoint = started.endpoint;
    }
  });

  afterAll(async () => {
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'emulator' });
    const bq = real ? new BigQuery({ projectId, location }) : new BigQuery({ projectId, apiEndpoint: endpoint, authClient });
    for (const id of datasets) await bq.dataset(id).delete({ force: true }).catch(() => undefined);
    await started?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe(`bigquery staging (${real ? 'real service' : 'emulator'})`, () => {
    it('stages the validator\'s typed Parquet by a resumable upload in 256 KiB chunks that resumes after a lost answer: every row, microseconds kept, further digits dropped, 29-digit amounts exact', async () => {
      const wide = '12345678901234567890123456789.123456789';
      const file = await generateFile({
        dir: join(dir, 'landing'),
        kind: 'reconciliation',
        covers: ['2026-11-20'],
        rows: 3_000,
        seed: 7,
        // Random descriptions keep the Parquet large enough for several chunks; one row has 9 fraction digits.
        transform: (row, at) => ({
          ...row,
          description: randomBytes(150).toString('hex'),
          ...(at.indexInDate === 0 ? { transaction_id: 'nine-digits', event_ts: '2026-11-20T10:00:00.123456789-05:00', amount: wide } : {}),
        }),
      });
      const validation = await validateFile({
        dataPath: file.dataPath,
        manifestText: await readFile(file.manifestPath, 'utf8'),
        manifestName: `${file.fileId}.manifest.json`,
        workDir: join(dir, 'work'),
        normalizedFormat: 'typed-parquet',
      });
      expect(validation.ok).toBe(true);
      if (!validation.ok) return;

      const requests: string[] = [];
      let lost = 0;
      const flaky: typeof fetch = async (input, init) => {
        const range = new Headers(init?.headers).get('content-range') ?? '';
        requests.push(`${init?.method ?? 'GET'} ${range}`);
        const response = await fetch(input, init);
        // The second chunk reaches the server, but its answer is lost on the way back.
        if (/^bytes \d+-/.test(range) && requests.filter((r) => /bytes \d+-/.test(r)).length === 2 && lost++ === 0) {
          throw new TypeError('fetch failed');
        }
        return response;
      };
      const datasetId = `staging_${process.pid}_${Date.now()}`;
      datasets.push(datasetId, `${datasetId}_staging`);
      const w = await BigQueryWarehouse.open({
        projectId, datasetId, location, ...(real ? {} : { apiEndpoint: endpoint }), upload: { chunkBytes: 256 * 1024, fetch: flaky },
      });
      try {
        expect(await w.stageFile({ stagingId: 'typed', csvPath: validation.normalizedPath })).toEqual({ rows: 3_000 });
        const chunks = requests.filter((r) => /^PUT bytes \d+-/.test(r));
        expect(chunks.length).toBeGreaterThanOrEqual(3);
        // After the lost answer the upload asked how much the server holds, and went on from there.
        expect(requests).toContain(`PUT bytes */${statSync(validation.normalizedPath).size}`);
        expect(new Set(chunks).size).toBe(chunks.length);

        await w.replacePartitions({
          changeId: 'typed_1', stagingId: 'typed', fileId: file.fileId, kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1,
          workflowId: 'wf', runId: 'run', force: false,
        });
        const rows = await w.readRows('2026-11-20');
        expect(rows).toHaveLength(3_000);
        expect(rows.find((r) => r.transactionId === 'nine-digits')).toMatchObject({ eventTs: '2026-11-20T15:00:00.123456Z', amount: wide });
        const [state] = await w.getPartitions(['2026-11-20']);
        expect(state?.totals).toEqual(validation.totals);
      } finally {
        await w.close();
      }
    });
  });
}
