/**
 * The worker process: builds every client once from configuration, injects them, and runs until SIGINT/SIGTERM.
 * One entry point: `npm run cli -- worker`, `up` and `tsx src/workers/main.ts` all run `startOperatedWorker`,
 * so they serve the same activity sets and the read API: one Temporal worker per queue in WORKER_QUEUES (stream, files,
 * ops, shared), each with its own slots.
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
import { GcsStagingArea, STAGED_OBJECT_MAX_AGE_MS } from '../files/gcs-staging.js';
import { LocalDirLanding, type Landing } from '../files/landing.js';
import type { StagingArea } from '../files/staging-area.js';
import { PipelineMetrics } from '../ops/metrics.js';
import { countLateFiles } from '../ops/late-files.js';
import { registerReadApi } from '../ops/read-api.js';
import { SimulatedFeed } from '../sources/simulated-feed.js';
import { openWarehouse } from '../warehouse/open.js';
import { kafkaDeps } from './kafka-sources.js';
import { workloadQueue, type QueueName, type Workload } from '../domain/workflow-api.js';
import { createPipelineWorker, type PipelineDeps, type QueueSlots } from './pipeline-worker.js';

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

/** The task queue of a queue name: `<TASK_QUEUE>-<workload>`, or `<TASK_QUEUE>` for the shared queue. */
export const taskQueueOf = (config: Pick<Config, 'TASK_QUEUE'>, queue: QueueName): string =>
  queue === 'shared' ? config.TASK_QUEUE : workloadQueue(config.TASK_QUEUE, queue);

/**
 * Where new runs of a workload start: its own queue, unless this configuration runs one shared queue only
 * (WORKER_QUEUES=shared). CLI commands, `up` and the landing watcher use it.
 */
export const startQueue = (config: Pick<Config, 'TASK_QUEUE' | 'WORKER_QUEUES'>, workload: Workload): string =>
  config.WORKER_QUEUES.includes(workload) || !config.WORKER_QUEUES.includes('shared') ? workloadQueue(config.TASK_QUEUE, workload) : config.TASK_QUEUE;

/** A queue's slots from configuration; the shared queue has the sum, as one worker did before the split. */
export const queueSlots = (config: Config, queue: QueueName): QueueSlots => {
  const of = (w: 'STREAM' | 'FILES' | 'OPS'): QueueSlots => ({ activities: config[`${w}_ACTIVITY_SLOTS`], workflowTasks: config[`${w}_WORKFLOW_SLOTS`] });
  if (queue === 'stream') return { ...of('STREAM'), localActivities: config.STREAM_ACTIVITY_SLOTS };
  if (queue === 'files') return of('FILES');
  if (queue === 'ops') return of('OPS');
  const all = [of('STREAM'), of('FILES'), of('OPS')];
  return {
    activities: all.reduce((n, s) => n + (s.activities ?? 0), 0),
    workflowTasks: all.reduce((n, s) => n + (s.workflowTasks ?? 0), 0),
    localActivities: config.STREAM_ACTIVITY_SLOTS,
  };
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

/** The landing area: the bucket when LANDING_BUCKET is set, else the directory. */
export const landingOf = (config: Config): Landing =>
  config.LANDING_BUCKET
    ? new GcsLanding({
        bucket: config.LANDING_BUCKET,
        prefix: config.LANDING_PREFIX,
        ...(config.GCS_ENDPOINT ? { apiEndpoint: config.GCS_ENDPOINT, projectId: 'local' } : {}),
        tmpDir: config.WORK_DIR,
      })
    : new LocalDirLanding(config.LANDING_DIR);

/**
 * Where validated files are staged for the warehouse to read: `<LANDING_PREFIX>staging/` in the landing bucket when the
 * warehouse is BigQuery (its load job reads the object; free, and a retried load sends nothing again). A directory
 * landing or DuckDB: none, the warehouse stages the local file.
 */
export const stagingAreaOf = (config: Config, landing: Landing): StagingArea | undefined =>
  config.WAREHOUSE === 'bigquery' && config.BIGQUERY_LOAD_FROM_BUCKET && landing instanceof GcsLanding
    ? new GcsStagingArea(landing.bucket, `${config.LANDING_PREFIX}staging/`)
    : undefined;

/** Deletes what crashed runs left in the staging area (older than a staging table lives); a failure only warns. */
const sweepStagingArea = async (area: StagingArea): Promise<void> => {
  try {
    const { deleted } = await area.sweep({ olderThanMs: STAGED_OBJECT_MAX_AGE_MS });
    if (deleted.length > 0) console.warn(`deleted ${deleted.length} staged object(s) left by earlier runs in ${area.location}`);
  } catch (error) {
    console.warn(`could not sweep the staging area ${area.location} (its lifecycle rule still applies): ${(error as Error).message}`);
  }
};

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
  const landing = landingOf(config);
  const stagingArea = stagingAreaOf(config, landing);
  if (stagingArea) await sweepStagingArea(stagingArea);
  const deps: PipelineDeps = {
    warehouse,
    landing,
    ...(stagingArea ? { stagingArea } : {}),
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
  // One worker per queue, each with its own slots; they share the connection, the warehouse and the metrics.
  const workers = await Promise.all(
    config.WORKER_QUEUES.map((queue) =>
      createPipelineWorker({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: taskQueueOf(config, queue),
        queue,
        deps,
        slots: queueSlots(config, queue),
        ...(config.WORKER_DEPLOYMENT_NAME && config.WORKER_BUILD_ID
          ? { deployment: { deploymentName: config.WORKER_DEPLOYMENT_NAME, buildId: config.WORKER_BUILD_ID } }
          : {}),
        ...(dataConverter ? { dataConverter } : {}),
        ...(config.WORKFLOW_BUNDLE ? { workflowBundlePath: config.WORKFLOW_BUNDLE } : {}),
        shutdownGraceTime: config.SHUTDOWN_GRACE_MS,
        ...(config.WAREHOUSE === 'bigquery' && (queue === 'stream' || queue === 'shared')
          ? { maxTaskQueueActivitiesPerSecond: config.BIGQUERY_STREAM_ACTIVITIES_PER_SECOND }
          : {}),
      }),
    ),
  );
  const done = Promise.all(workers.map((w) => w.run()))
    .then(() => undefined)
    .finally(async () => {
      await connection.close();
      await warehouse.close();
      for (const s of deps.sources.values()) await s.close();
      await deps.sourceRegistry?.close();
      metricsServer.close();
    });
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    })();
    return stopping;
  };
  return {
    metrics,
    deps,
    done,
    shutdown,
  };
};

/** The worker every entry point runs: pipeline activities, the operating activities (with a client) and the read API. */
export const startOperatedWorker = async (config: Config, client: Client): Promise<RunningWorker> => {
  const running = await startWorker(config, {
    ops: {
      client,
      // The landing watcher and replays start file workflows on the files queue (the shared one in a one-queue setup).
      taskQueue: startQueue(config, 'files'),
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
  console.log(`worker on task queues ${config.WORKER_QUEUES.map((q) => taskQueueOf(config, q)).join(', ')} at ${config.TEMPORAL_ADDRESS}; metrics and read API on ${config.METRICS_ADDRESS}:${config.METRICS_PORT}`);
  process.once('SIGINT', () => void running.shutdown());
  process.once('SIGTERM', () => void running.shutdown());
  await running.done;
  await connection.close();
}
