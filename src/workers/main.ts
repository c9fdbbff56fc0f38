/**
 * The worker process: builds every client once from configuration, injects them, and runs until SIGINT/SIGTERM.
 * Run it with `npm run cli -- worker` (or `tsx src/workers/main.ts`).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime, type NativeConnectionOptions } from '@temporalio/worker';
import { pipelineDataConverter } from '../codec/data-converter.js';
import { loadConfig, type Config } from '../config.js';
import { businessDateOfInstant } from '../domain/dates.js';
import { LocalDirLanding } from '../files/landing.js';
import { PipelineMetrics } from '../ops/metrics.js';
import { SimulatedFeed } from '../sources/simulated-feed.js';
import type { TransactionSource } from '../sources/source.js';
import { openWarehouse } from '../warehouse/open.js';
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
export const simulatedSource = async (config: Config, now = Date.now()): Promise<TransactionSource> => {
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
    rate: config.FEED_RATE,
    timeZone: config.CLIENT_TIME_ZONE,
    startMs: state.startMs,
    businessDate: state.businessDate,
  });
};

export interface RunningWorker {
  metrics: PipelineMetrics;
  deps: PipelineDeps;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  shutdown: () => Promise<void>;
}

export const startWorker = async (config: Config, extra: Partial<PipelineDeps> = {}): Promise<RunningWorker> => {
  Runtime.install({
    logger: new DefaultLogger(config.LOG_LEVEL),
    ...(config.SDK_METRICS_PORT
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${config.SDK_METRICS_PORT}` } } } }
      : {}),
  });
  const metrics = new PipelineMetrics();
  const metricsServer = await metrics.serve(config.METRICS_PORT);
  const warehouse = await openWarehouse(config);
  const source = await simulatedSource(config);
  const deps: PipelineDeps = {
    warehouse,
    landing: new LocalDirLanding(config.LANDING_DIR),
    sources: new Map([[source.id, source]]),
    timeZone: config.CLIENT_TIME_ZONE,
    workDir: config.WORK_DIR,
    ...(config.VALIDATE_MEMORY_LIMIT ? { validateMemoryLimit: config.VALIDATE_MEMORY_LIMIT } : {}),
    metrics,
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
    ...(config.WAREHOUSE === 'bigquery' ? { maxTaskQueueActivitiesPerSecond: config.BIGQUERY_STREAM_ACTIVITIES_PER_SECOND } : {}),
  });
  const done = worker.run().finally(async () => {
    await connection.close();
    await warehouse.close();
    for (const s of deps.sources.values()) await s.close();
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

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const config = loadConfig();
  const running = await startWorker(config);
  console.log(`worker on task queue ${config.TASK_QUEUE} at ${config.TEMPORAL_ADDRESS}; metrics on :${config.METRICS_PORT}/metrics`);
  await running.done;
}
