/**
 * Composition root: builds the activities from injected dependencies and runs one worker on a task queue (one per
 * workload queue a process serves, src/workers/main.ts).
 * Production, the local pipeline, tests and benchmarks all go through here; they differ only in what they inject.
 */
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { createFileActivities, type FaultInjector, type FileAlerts } from '../activities/file-activities.js';
import { createOpsActivities, type OpsActivityDeps } from '../activities/ops-activities.js';
import { createSourceActivities, type SourceActivityDeps } from '../activities/source-activities.js';
import { createRestoreActivities } from '../activities/restore-activities.js';
import { createStreamActivities, type StreamMetrics } from '../activities/stream-activities.js';
import type { QueueName } from '../domain/workflow-api.js';
import type { Landing } from '../files/landing.js';
import type { StagingArea } from '../files/staging-area.js';
import type { SourceLookup, TransactionSource } from '../sources/source.js';
import type { Warehouse } from '../warehouse/port.js';
import { workflowBundle } from './bundle.js';

export interface PipelineDeps {
  warehouse: Warehouse;
  landing: Landing;
  /** Where validated files are put for the warehouse to load them itself (bucket landing + BigQuery); unset: local files. */
  stagingArea?: StagingArea;
  sources: Map<string, TransactionSource>;
  /** Partitions opened on demand (Kafka), consulted for ids not in `sources`. */
  sourceRegistry?: SourceLookup & { close(): Promise<void> };
  /** Partition discovery for the Kafka supervisor; off when unset. */
  discoverPartitions?: SourceActivityDeps['discoverPartitions'];
  timeZone: string;
  workDir: string;
  /** The client this worker serves (CLIENT_ID): files whose manifest names another client are rejected. */
  clientId?: string;
  /** DuckDB memory_limit of file validation (VALIDATE_MEMORY_LIMIT). */
  validateMemoryLimit?: string;
  metrics?: StreamMetrics;
  faults?: FaultInjector;
  /** Where a file needing an operator is reported besides the log. */
  fileAlerts?: FileAlerts;
  /** Operations activities (landing watcher, daily run, alerts): need a Temporal client; off when unset. */
  ops?: Pick<OpsActivityDeps, 'client' | 'taskQueue' | 'alertWebhookUrl' | 'fetch' | 'now'>;
  /** Extra activities merged into the same worker. */
  extraActivities?: Record<string, (...args: never[]) => Promise<unknown>>;
}

/** The activities a queue serves: each workload its own; the shared queue all of them. */
export const createActivities = (deps: PipelineDeps, queue: QueueName = 'shared') => {
  const optional = {
    ...(deps.faults ? { faults: deps.faults } : {}),
  };
  const serves = (workload: QueueName): boolean => queue === 'shared' || queue === workload;
  return {
    ...(serves('files')
      ? createFileActivities({
          warehouse: deps.warehouse,
          landing: deps.landing,
          workDir: deps.workDir,
          ...(deps.stagingArea ? { stagingArea: deps.stagingArea } : {}),
          ...(deps.clientId !== undefined ? { clientId: deps.clientId } : {}),
          ...(deps.validateMemoryLimit ? { validateMemoryLimit: deps.validateMemoryLimit } : {}),
          ...(deps.fileAlerts ? { alerts: deps.fileAlerts } : {}),
          ...optional,
        })
      : {}),
    ...(serves('ops') ? createRestoreActivities({ warehouse: deps.warehouse, ...(deps.clientId !== undefined ? { clientId: deps.clientId } : {}) }) : {}),
    ...(serves('stream')
      ? createStreamActivities({
          warehouse: deps.warehouse,
          sources: { get: (id) => deps.sources.get(id) ?? deps.sourceRegistry?.get(id) },
          timeZone: deps.timeZone,
          ...optional,
          ...(deps.metrics ? { metrics: deps.metrics } : {}),
        })
      : {}),
    ...(serves('stream') && deps.discoverPartitions ? createSourceActivities({ discoverPartitions: deps.discoverPartitions }) : {}),
    ...(serves('ops') && deps.ops
      ? createOpsActivities({
          ...deps.ops,
          warehouse: deps.warehouse,
          landing: deps.landing,
          timeZone: deps.timeZone,
        })
      : {}),
    ...deps.extraActivities,
  };
};

/** Slots of one queue's worker: its own, so one workload cannot starve another. */
export interface QueueSlots {
  /** Activities at once (the files queue's bounds how many files validate at once). */
  activities?: number;
  /** Workflow tasks at once. */
  workflowTasks?: number;
  /** Local activities at once (the stream's batches on DuckDB). */
  localActivities?: number;
}

export const createPipelineWorker = async (input: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Which workload this queue carries (default `shared`: all of them, one queue). */
  queue?: QueueName;
  deps: PipelineDeps;
  slots?: QueueSlots;
  /** Task-queue-wide activity rate limit (BigQuery: bounds stream appends and their quota use across workers). */
  maxTaskQueueActivitiesPerSecond?: number;
  /** Payload encryption (src/codec): the same converter every client of the pipeline uses. */
  dataConverter?: DataConverter;
  /** A prebuilt workflow bundle (WORKFLOW_BUNDLE); unset: compiled from the sources in a child process. */
  workflowBundlePath?: string;
  /**
   * Worker Versioning: this worker's deployment version. Its runs of PINNED workflow types stay on it; new runs go to
   * the deployment's current version (`temporal worker deployment set-current-version`). Unset: unversioned.
   */
  deployment?: { deploymentName: string; buildId: string };
  /** Tests: workflow code from another module (variants of a workflow), bundled in this process. */
  workflowsPath?: string;
  /** SHUTDOWN_GRACE_MS: how long running activities may finish after shutdown is requested (SDK default 0). */
  shutdownGraceTime?: number;
}): Promise<Worker> =>
  Worker.create({
    connection: input.connection,
    namespace: input.namespace,
    taskQueue: input.taskQueue,
    ...(input.workflowsPath
      ? { workflowsPath: input.workflowsPath }
      : { workflowBundle: await workflowBundle(input.dataConverter?.failureConverterPath, input.workflowBundlePath) }),
    ...(input.dataConverter ? { dataConverter: input.dataConverter } : {}),
    activities: createActivities(input.deps, input.queue),
    maxConcurrentActivityTaskExecutions: input.slots?.activities ?? 20,
    ...(input.slots?.workflowTasks !== undefined ? { maxConcurrentWorkflowTaskExecutions: input.slots.workflowTasks } : {}),
    ...(input.slots?.localActivities !== undefined ? { maxConcurrentLocalActivityExecutions: input.slots.localActivities } : {}),
    ...(input.deployment
      ? { workerDeploymentOptions: { version: input.deployment, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' as const } }
      : {}),
    // A cancel reaches a running activity with a heartbeat's answer: heartbeats go out at least every 2 s (the SDK's
    // default waits 80% of the heartbeat timeout, 24 s for the file steps), so a cancelled step stops within seconds.
    maxHeartbeatThrottleInterval: '2s',
    // On shutdown, running activities get a grace before they are cancelled (they heartbeat, so they learn of it).
    ...(input.shutdownGraceTime !== undefined ? { shutdownGraceTime: input.shutdownGraceTime } : {}),
    ...(input.maxTaskQueueActivitiesPerSecond !== undefined ? { maxTaskQueueActivitiesPerSecond: input.maxTaskQueueActivitiesPerSecond } : {}),
  });
