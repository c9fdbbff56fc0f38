/**
 * The worker process: builds every client once from configuration, injects them, and runs until SIGINT/SIGTERM.
 * One entry point: `npm run cli -- worker`, `up` and `tsx src/workers/main.ts` all run `startOperatedWorker`,
 * so they serve the same activity set (file, stream and operations) and the read API.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type NativeConnectionOptions } from '@temporalio/worker';
import { IllegalStateError } from '@temporalio/common';
import { pipelineDataConverter } from '../codec/data-converter.js';
import { loadConfig, type Config } from '../config.js';
import { businessDateOfInstant } from '../domain/dates.js';
import { GcsLanding } from '../files/gcs-landing.js';
import { LocalDirLanding } from '../files/landing.js';
import { PipelineMetrics } from '../ops/metrics.js';
import { countLateFiles } from '../ops/late-files.js';
import { registerReadApi } from '../ops/read-api.js';
import { SimulatedFeed } from '../sources/simulated-feed.js';
import { openWarehouse } from '../warehouse/open.js';
import { kafkaDeps } from './kafka-sources.js';
import { createPipelineWorker, type PipelineDeps } from './pipeline-worker.js';

/** Connection options for a local dev server, a self-hosted cluster (mTLS) or Temporal Cloud (API key). */
export const connectionOptions = (config: Config): NativeConnectionOptions => ({
  address: config.TEMPORAL_ADDRESS,
  ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY, tls: true } : {}),
  ...(config.TEMPORAL_TLS_CERT && config.TEMPORAL_TLS_KEY
    ? { tls: { clientCertPair: { crt: readFileSync(config.TEMPORAL_TLS_CERT), key: readFileSync(config.TEMPORAL_TLS_KEY) } } }
    : {}),
});

/**
 * The simulated feed must start at the same instant after a restart, or its offsets would be re-timed:
 * the first start records it in the work directory.
 */
export const simulatedSource = async (config: Config, now = Date.now(), feed: { partition?: number; rate?: number } = {}): Promise<SimulatedFeed> => {
  const statePath = join(config.WORK_DIR, 'simulated-feed.json');
  let state: { startMs: number; businessDate: string };
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as typeof state;
  } catch {
    state = { startMs: now, businessDate: businessDateOfInstant(now, config.CLIENT_TIME_ZONE) };
    await mkdir(config.WORK_DIR, { recursive: true });
    await writeFile(statePath, JSON.stringify(state, null, 2));
  }
  return new SimulatedFeed({
    clientId: config.CLIENT_ID,
    seed: config.FEED_SEED,
    rate: feed.rate ?? config.FEED_RATE,
    partition: feed.partition ?? 0,
    timeZone: config.CLIENT_TIME_ZONE,
    startMs: state.startMs,
    businessDate: state.businessDate,
  });
};

/** A host as a socket address wants it (IPv6 in brackets). */
const bindHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

export interface RunningWorker {
  metrics: PipelineMetrics;
  deps: PipelineDeps;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  shutdown: () => Promise<void>;
}

export const startWorker = async (config: Config, extra: Partial<PipelineDeps> = {}): Promise<RunningWorker> => {
  try {
    Runtime.install({
      logger: new DefaultLogger(config.LOG_LEVEL),
      ...(config.SDK_METRICS_PORT
        ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `${bindHost(config.METRICS_ADDRESS)}:${config.SDK_METRICS_PORT}` } } } }
        : {}),
    });
  } catch (error) {
    // One runtime per process: a host that installed its own (a test process, an embedding program) keeps it.
    if (!(error instanceof IllegalStateError)) throw error;
    console.warn(`the Temporal runtime was installed before this worker started: its logger and SDK metrics stay as they are (${error.message})`);
  }
  const metrics = new PipelineMetrics();
  const metricsServer = await metrics.serve(config.METRICS_PORT, config.METRICS_ADDRESS);
  const warehouse = await openWarehouse(config);
  const source = await simulatedSource(config);
  const deps: PipelineDeps = {
    warehouse,
    landing: config.LANDING_BUCKET
      ? new GcsLanding({
          bucket: config.LANDING_BUCKET,
          prefix: config.LANDING_PREFIX,
          ...(config.GCS_ENDPOINT ? { apiEndpoint: config.GCS_ENDPOINT, projectId: 'local' } : {}),
          tmpDir: config.WORK_DIR,
        })
      : new LocalDirLanding(config.LANDING_DIR),
    sources: new Map([[source.id, source]]),
    ...(config.SOURCE === 'kafka' ? kafkaDeps(config) : {}),
    timeZone: config.CLIENT_TIME_ZONE,
    workDir: config.WORK_DIR,
    clientId: config.CLIENT_ID,
    ...(config.VALIDATE_MEMORY_LIMIT ? { validateMemoryLimit: config.VALIDATE_MEMORY_LIMIT } : {}),
    metrics,
    fileAlerts: metrics,
    ...extra,
  };
  const connection = await NativeConnection.connect(connectionOptions(config));
  const dataConverter = pipelineDataConverter(config);
  const worker = await createPipelineWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TASK_QUEUE,
    deps,
    ...(dataConverter ? { dataConverter } : {}),
    ...(config.WORKFLOW_BUNDLE ? { workflowBundlePath: config.WORKFLOW_BUNDLE } : {}),
    shutdownGraceTime: config.SHUTDOWN_GRACE_MS,
    ...(config.WAREHOUSE === 'bigquery' ? { maxTaskQueueActivitiesPerSecond: config.BIGQUERY_STREAM_ACTIVITIES_PER_SECOND } : {}),
  });
  const done = worker.run().finally(async () => {
    await connection.close();
    await warehouse.close();
    for (const s of deps.sources.values()) await s.close();
    await deps.sourceRegistry?.close();
    metricsServer.close();
  });
  return {
    metrics,
    deps,
    done,
    shutdown: async () => {
      worker.shutdown();
      await done;
    },
  };
};

/** The worker every entry point runs: pipeline activities, the operating activities (with a client) and the read API. */
export const startOperatedWorker = async (config: Config, client: Client): Promise<RunningWorker> => {
  const running = await startWorker(config, {
    ops: {
      client,
      taskQueue: config.TASK_QUEUE,
      ...(config.ALERT_WEBHOOK_URL ? { alertWebhookUrl: config.ALERT_WEBHOOK_URL } : {}),
    },
  });
  registerReadApi(running.metrics, running.deps.warehouse, config.CLIENT_ID);
  running.metrics.countLateFilesWith(config.CLIENT_ID, () => countLateFiles(client, config.CLIENT_ID));
  return running;
};

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const config = loadConfig();
  const connection = await Connection.connect(connectionOptions(config));
  const dataConverter = pipelineDataConverter(config);
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, ...(dataConverter ? { dataConverter } : {}) });
  const running = await startOperatedWorker(config, client);
  console.log(`worker on task queue ${config.TASK_QUEUE} at ${config.TEMPORAL_ADDRESS}; metrics and read API on ${config.METRICS_ADDRESS}:${config.METRICS_PORT}`);
  process.once('SIGINT', () => void running.shutdown());
  process.once('SIGTERM', () => void running.shutdown());
  await running.done;
  await connection.close();
}
