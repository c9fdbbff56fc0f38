import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: string[] | Record<string, { condition: string }>;
  profiles?: string[];
  command?: string[] | string;
  volumes?: string[];
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as ComposeFile;
const temporalScript = readFileSync(join(root, 'scripts/temporal.sh'), 'utf8');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

const productSearchAttributes = [
  'ClientId=Keyword',
  'EventDates=KeywordList',
  'FileKind=Keyword',
  'FileId=Keyword',
  'Stage=Keyword',
  'LateFile=Bool',
  'StreamSource=Keyword',
  'Sequence=Int',
];

describe('docker-compose.yml', () => {
  it('defines exactly the stack services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['bigquery-emulator', 'postgresql', 'temporal', 'temporal-admin-tools', 'temporal-ui', 'worker'].sort(),
    );
  });

  it('runs PostgreSQL 16 for Temporal persistence', () => {
    const postgresql = service('postgresql');
    expect(postgresql.image).toBe('postgres:16');
    expect(postgresql.environment?.POSTGRES_USER).toBe('temporal');
  });

  it('runs Temporal auto-setup on PostgreSQL, gRPC on 7233', () => {
    const temporal = service('temporal');
    expect(temporal.image).toMatch(/^temporalio\/auto-setup:/);
    expect(temporal.ports).toEqual(['7233:7233']);
    expect(temporal.environment).toMatchObject({
      DB: 'postgres12',
      DB_PORT: '5432',
      POSTGRES_SEEDS: 'postgresql',
      POSTGRES_USER: service('postgresql').environment?.POSTGRES_USER,
      POSTGRES_PWD: service('postgresql').environment?.POSTGRES_PASSWORD,
    });
    expect(temporal.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
  });

  it('registers the same search attributes as the local dev server', () => {
    const admin = service('temporal-admin-tools');
    expect(admin.image).toMatch(/^temporalio\/admin-tools:/);
    expect(admin.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    const registered = (admin.environment?.SEARCH_ATTRIBUTES ?? '').split(/\s+/).filter((s) => s !== '');
    expect(registered.sort()).toEqual([...productSearchAttributes].sort());
    expect(JSON.stringify(admin.command)).toContain('temporal operator search-attribute create');
    for (const attribute of productSearchAttributes) {
      expect(temporalScript).toContain(`  ${attribute}\n`);
    }
  });

  it('serves the Temporal UI on host port 8233', () => {
    const ui = service('temporal-ui');
    expect(ui.image).toMatch(/^temporalio\/ui:/);
    expect(ui.ports).toEqual(['8233:8080']);
    expect(ui.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('builds the worker from the Dockerfile and points it at Temporal and the warehouse', () => {
    const worker = service('worker');
    expect(worker.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    expect(worker.environment).toMatchObject({
      TEMPORAL_ADDRESS: 'temporal:7233',
      WAREHOUSE: '${WAREHOUSE:-duckdb}',
      BIGQUERY_PROJECT: '${BIGQUERY_PROJECT:-}',
      BIGQUERY_DATASET: '${BIGQUERY_DATASET:-transactions}',
      BIGQUERY_EMULATOR_ENDPOINT: '${BIGQUERY_EMULATOR_ENDPOINT:-}',
      BIGQUERY_STREAM_SINK: '${BIGQUERY_STREAM_SINK:-storage-write}',
      BIGQUERY_STORAGE_GRPC_ENDPOINT: '${BIGQUERY_STORAGE_GRPC_ENDPOINT:-}',
      GOOGLE_APPLICATION_CREDENTIALS: '/run/secrets/gcp-credentials.json',
      WORKFLOW_BUNDLE: '${WORKFLOW_BUNDLE:-/app/dist/workflow-bundle.js}',
    });
    expect(worker.volumes).toContain('${GOOGLE_CREDENTIALS_FILE:-/dev/null}:/run/secrets/gcp-credentials.json:ro');
    expect(worker.depends_on).toEqual({ 'temporal-admin-tools': { condition: 'service_completed_successfully' } });
    expect(worker.ports).toBeUndefined();
  });

  it('keeps the BigQuery emulator behind the emulator profile', () => {
    const emulator = service('bigquery-emulator');
    expect(emulator.profiles).toEqual(['emulator']);
    expect(emulator.ports).toContain('9050:9050');
    for (const [name, svc] of Object.entries(compose.services)) {
      if (name !== 'bigquery-emulator') expect(svc.profiles, name).toBeUndefined();
    }
  });
});

describe('Dockerfile', () => {
  it('installs from the lock file on Node 20 and runs the worker', () => {
    expect(dockerfile).toMatch(/^FROM node:20[\w.-]*$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toContain('CMD ["npx", "tsx", "src/cli/main.ts", "worker"]');
  });

  it('builds both workflow bundles into the image and points the worker at the plain one', () => {
    expect(dockerfile).toMatch(/src\/workers\/bundle\.ts --out dist\/workflow-bundle\.js\b/);
    expect(dockerfile).toMatch(/--out dist\/workflow-bundle-codec\.js --with-codec/);
    expect(dockerfile).toMatch(/^ENV WORKFLOW_BUNDLE=\/app\/dist\/workflow-bundle\.js$/m);
  });
});
