// Where the worker stages validated files: through the landing bucket only when the landing is a bucket and the
// warehouse is BigQuery (and BIGQUERY_LOAD_FROM_BUCKET is not false); a directory landing or DuckDB changes nothing.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { GcsLanding } from '../../src/files/gcs-landing.js';
import { GcsStagingArea } from '../../src/files/gcs-staging.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { landingOf, stagingAreaOf } from '../../src/workers/main.js';

const choose = (env: Record<string, string>) => {
  const config = loadConfig(env);
  const landing = landingOf(config);
  return { landing, area: stagingAreaOf(config, landing) };
};

describe('the staging area the worker injects', () => {
  it('is <LANDING_PREFIX>staging/ in the landing bucket with a bucket landing and BigQuery', () => {
    const { landing, area } = choose({ WAREHOUSE: 'bigquery', BIGQUERY_PROJECT: 'my-project', LANDING_BUCKET: 'acme-landing', LANDING_PREFIX: 'incoming/' });
    expect(landing).toBeInstanceOf(GcsLanding);
    expect(area).toBeInstanceOf(GcsStagingArea);
    expect(area?.location).toBe('gs://acme-landing/incoming/staging/');
  });

  it('is none with DuckDB, with a directory landing, or with BIGQUERY_LOAD_FROM_BUCKET=false', () => {
    expect(choose({ LANDING_BUCKET: 'acme-landing' }).area).toBeUndefined();
    const dir = choose({ WAREHOUSE: 'bigquery', BIGQUERY_PROJECT: 'my-project' });
    expect(dir.landing).toBeInstanceOf(LocalDirLanding);
    expect(dir.area).toBeUndefined();
    expect(choose({ WAREHOUSE: 'bigquery', BIGQUERY_PROJECT: 'my-project', LANDING_BUCKET: 'acme-landing', BIGQUERY_LOAD_FROM_BUCKET: 'false' }).area).toBeUndefined();
  });
});
