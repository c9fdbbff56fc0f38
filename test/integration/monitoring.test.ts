/**
 * The monitoring of the compose stack against a real worker (`npm run cli -- worker`, the command the stack's
 * image runs) on the dev server: every metric the Grafana dashboard and the alert rules name is one the worker
 * exports, and Prometheus, loaded with deploy/prometheus/alerts.yml and the stack's scrape jobs, fires
 * ReconciliationFileLate once a date's reconciliation file is past its deadline.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import { workflowIds } from '../../src/domain/workflow-api.js';
import { generateFile } from '../../src/files/generate.js';
import { intakeInput } from '../../src/files/intake.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import type { DailyWorkflowInput } from '../../src/workflows/daily-workflow.js';
import { temporalAddress } from '../support/pipeline.js';
import { startPrometheus, type PrometheusAlert, type PrometheusServer } from '../support/prometheus.js';
import { freePort, repoRoot } from '../support/servers.js';
import { CLI_WORKER, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const STREAM_EVENTS = 3_000;
const APPLIED_DATE = '2026-11-20';
const LATE_DATE = '2026-11-21';

/** Metric names a PromQL expression refers to (the pipeline's and the SDK's share these prefixes). */
const metricNames = (expr: string): string[] => [...expr.matchAll(/\b(?:pipeline|temporal)_[a-z0-9_]+\b/g)].map((m) => m[0]);

/** Every sample and family name in a /metrics page. */
const exported = (page: string): Set<string> => {
  const names = new Set<string>();
  for (const line of page.split('\n')) {
    const family = /^# TYPE (\S+)/.exec(line)?.[1];
    const sample = /^([a-zA-Z_:][\w:]*)/.exec(line)?.[1];
    for (const name of [family, sample]) if (name !== undefined) names.add(name);
  }
  return names;
};

const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

describe('monitoring against a running worker', () => {
  const clientId = `mon${randomUUID().slice(0, 8)}`;
  const taskQueue = `monitoring-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'monitoring-'));
  const landingDir = join(dir, 'landing');
  let metricsPort: number;
  let sdkMetricsPort: number;
  let worker: WorkerProcess;
  let connection: Connection;
  let client: Client;
  let prometheus: PrometheusServer | undefined;

  beforeAll(async () => {
    metricsPort = await freePort();
    sdkMetricsPort = await freePort();
    worker = spawnWorkerProcess(
      {
        TEMPORAL_ADDRESS: temporalAddress(),
        TASK_QUEUE: taskQueue,
        CLIENT_ID: clientId,
        METRICS_PORT: String(metricsPort),
        SDK_METRICS_PORT: String(sdkMetricsPort),
        DUCKDB_PATH: join(dir, 'warehouse.duckdb'),
        LANDING_DIR: landingDir,
        WORK_DIR: join(dir, 'work'),
        FEED_RATE: '2000',
      },
      { entry: CLI_WORKER, readyTimeoutMs: 110_000 },
    );
    await worker.ready;
    connection = await Connection.connect({ address: temporalAddress() });
    client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await connection?.close();
    await worker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const runFile = async (fileId: string) => {
    const input = await intakeInput({ landing: new LocalDirLanding(landingDir), fileId, clientId });
    const started = await startFileWorkflow(client, taskQueue, input);
    if (!started.started) throw new Error(started.reason);
    return started.handle.result();
  };

  it('every metric the dashboard and the alert rules name is exported by the worker once it has run the pipeline', async () => {
    // A stream that ends, a file applied, a file rejected and a file stuck: the runs behind every panel and rule.
    const stream = await startStreamWorkflow(client, { taskQueue, sourceId: `sim:${clientId}:p0`, clientId, maxRows: 500, maxWaitMs: 100, stopAt: STREAM_EVENTS });
    await stream.handle.result();
    const good = await generateFile({ dir: landingDir, kind: 'reconciliation', covers: [APPLIED_DATE], rows: 50, clientId });
    expect((await runFile(good.fileId)).outcome).toBe('applied');
    writeFileSync(join(landingDir, 'broken.manifest.json'), 'not json');
    writeFileSync(join(landingDir, 'broken.csv'), '');
    await expect(runFile('broken')).rejects.toBeInstanceOf(WorkflowFailedError);
    // A step that keeps failing (its scratch directory cannot be created) and is retried: a file waiting for an operator.
    mkdirSync(join(dir, 'work'), { recursive: true });
    writeFileSync(join(dir, 'work', 'stuck'), 'not a directory');
    writeFileSync(join(landingDir, 'stuck.manifest.json'), 'not json');
    writeFileSync(join(landingDir, 'stuck.csv'), '');
    const stuck = await startFileWorkflow(client, taskQueue, await intakeInput({ landing: new LocalDirLanding(landingDir), fileId: 'stuck', clientId }));
    const scrape = () => Promise.all([metricsPort, sdkMetricsPort].map(async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()));
    const pages = await until('a failed validateFile attempt in the SDK metrics', async () => {
      const scraped = await scrape();
      return scraped.some((page) => /^temporal_activity_execution_failed\{[^}]*activity_type="validateFile"/m.test(page)) ? scraped : undefined;
    });
    if (stuck.started) await stuck.handle.terminate('test done');
    const names = new Set(pages.flatMap((page) => [...exported(page)]));

    const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/dashboards/pipeline.json'), 'utf8')) as {
      panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
    };
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of panels) {
      const used = (panel.targets ?? []).flatMap((t) => metricNames(t.expr));
      expect(used.length, `panel "${panel.title}" queries no metric`).toBeGreaterThan(0);
      for (const name of used) expect(names.has(name), `panel "${panel.title}" queries ${name}, which the worker does not export`).toBe(true);
    }

    const rules = parse(readFileSync(join(repoRoot, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      for (const name of metricNames(rule.expr)) expect(names.has(name), `alert ${rule.alert} uses ${name}, which the worker does not export`).toBe(true);
    }
  });

  it('Prometheus with the stack\'s rules evaluates every rule of the file and fires ReconciliationFileLate once a date\'s file is past its deadline', async () => {
    // The stack's own Prometheus configuration, with the Docker DNS discovery replaced by this worker's ports.
    const stack = parse(readFileSync(join(repoRoot, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ job_name: string; dns_sd_configs: Array<{ port: number }> }>;
    };
    const portFor: Record<number, number> = { 9464: metricsPort, 9465: sdkMetricsPort };
    prometheus = await startPrometheus({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [join(repoRoot, 'deploy/prometheus/alerts.yml')],
      scrape_configs: stack.scrape_configs.map((job) => ({
        job_name: job.job_name,
        static_configs: [{ targets: job.dns_sd_configs.map((sd) => `127.0.0.1:${portFor[sd.port] ?? sd.port}`) }],
      })),
    });
    const server = prometheus;
    const lateAlerts = async (): Promise<PrometheusAlert[]> =>
      (await server.api<{ alerts: PrometheusAlert[] }>('alerts')).alerts.filter((a) => a.labels.alertname === 'ReconciliationFileLate' && a.labels.client === clientId);

    // Both jobs are scraped, and nothing is late yet.
    await until('both scrape jobs up', async () => {
      const targets = await server.api<{ activeTargets: Array<{ labels: { job: string }; health: string }> }>('targets');
      const up = targets.activeTargets.filter((t) => t.health === 'up').map((t) => t.labels.job).sort();
      return up.join() === 'pipeline-worker,temporal-sdk' ? up : undefined;
    });
    expect(await lateAlerts()).toEqual([]);

    // The date's daily run, with its deadline a moment away and no file coming.
    const input: DailyWorkflowInput = {
      clientId,
      timeZone: 'America/New_York',
      deadline: '06:00',
      date: LATE_DATE,
      deadlineAt: new Date(Date.now() + 1_000).toISOString(),
      checkIntervalMs: 1_000,
    };
    const daily = await client.workflow.start('dailyWorkflow', { taskQueue, workflowId: workflowIds.daily(clientId, LATE_DATE), args: [input] });

    const firing = await until('ReconciliationFileLate firing', async () => {
      const alerts = await lateAlerts();
      return alerts.some((a) => a.state === 'firing') ? alerts : undefined;
    });
    expect(firing).toEqual([expect.objectContaining({ state: 'firing', value: '1e+00', labels: expect.objectContaining({ client: clientId, severity: 'page' }) })]);
    // Every rule of the file is loaded and evaluates without error against this worker's series.
    const loaded = await server.api<{ groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> }>('rules');
    const health = loaded.groups.flatMap((g) => g.rules.map((r) => [r.name, r.health, r.lastError ?? '']));
    const ruleCount = (readFileSync(join(repoRoot, 'deploy/prometheus/alerts.yml'), 'utf8').match(/^\s*- alert:/gm) ?? []).length;
    expect(ruleCount).toBeGreaterThan(0);
    expect(health).toHaveLength(ruleCount);
    for (const [name, state, error] of health) expect(state, `${name}: ${error}`).toBe('ok');
    await daily.terminate('test done');
  });
});
