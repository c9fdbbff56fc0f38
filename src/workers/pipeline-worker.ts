/**
 * Composition root: builds the activities from injected dependencies and runs one worker on the task queue.
 * Production, the local pipeline, tests and benchmarks all go through here; they differ only in what they inject.
 */
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { createFileActivities, type FaultInjector } from '../activities/file-activities.js';
import { createOpsActivities, type OpsActivityDeps, type OpsMetrics } from '../activities/ops-activities.js';
import { createStreamActivities, type StreamMetrics } from '../activities/stream-activities.js';
import type { Landing } from '../files/landing.js';
import type { TransactionSource } from '../sources/source.js';
import type { Warehouse } from '../warehouse/port.js';
import { workflowBundle } from './bundle.js';

export interface PipelineDeps {
  warehouse: Warehouse;
  landing: Landing;
  sources: Map<string, TransactionSource>;
  timeZone: string;
  workDir: string;
  /** DuckDB memory_limit of file validation (VALIDATE_MEMORY_LIMIT). */
  validateMemoryLimit?: string;
  metrics?: StreamMetrics;
  faults?: FaultInjector;
  /** Operations activities (landing watcher, daily run, alerts): need a Temporal client; off when unset. */
  ops?: Pick<OpsActivityDeps, 'client' | 'taskQueue' | 'alertWebhookUrl' | 'fetch' | 'now'>;
  /** Extra activities merged into the same worker. */
  extraActivities?: Record<string, (...args: never[]) => Promise<unknown>>;
}

export const createActivities = (deps: PipelineDeps) => {
  const optional = {
    ...(deps.faults ? { faults: deps.faults } : {}),
  };
  return {
    ...createFileActivities({
      warehouse: deps.warehouse,
      landing: deps.landing,
      workDir: deps.workDir,
      ...(deps.validateMemoryLimit ? { validateMemoryLimit: deps.validateMemoryLimit } : {}),
      ...optional,
    }),
    ...createStreamActivities({
      warehouse: deps.warehouse,
      sources: deps.sources,
      timeZone: deps.timeZone,
      ...optional,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
    }),
    ...(deps.ops
      ? createOpsActivities({
          ...deps.ops,
          warehouse: deps.warehouse,
          landing: deps.landing,
          timeZone: deps.timeZone,
          ...(deps.metrics && 'lateDatesChanged' in deps.metrics ? { metrics: deps.metrics as StreamMetrics & OpsMetrics } : {}),
        })
      : {}),
    ...deps.extraActivities,
  };
};

export const createPipelineWorker = async (input: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: PipelineDeps;
  maxConcurrentActivityTaskExecutions?: number;
  /** Task-queue-wide activity rate limit (BigQuery: bounds stream appends and their quota use across workers). */
  maxTaskQueueActivitiesPerSecond?: number;
  /** Payload encryption (src/codec): the same converter every client of the pipeline uses. */
  dataConverter?: DataConverter;
  /** A prebuilt workflow bundle (WORKFLOW_BUNDLE); unset: compiled from the sources in a child process. */
  workflowBundlePath?: string;
}): Promise<Worker> =>
  Worker.create({
    connection: input.connection,
    namespace: input.namespace,
    taskQueue: input.taskQueue,
    workflowBundle: await workflowBundle(input.dataConverter?.failureConverterPath, input.workflowBundlePath),
    ...(input.dataConverter ? { dataConverter: input.dataConverter } : {}),
    activities: createActivities(input.deps),
    maxConcurrentActivityTaskExecutions: input.maxConcurrentActivityTaskExecutions ?? 20,
    ...(input.maxTaskQueueActivitiesPerSecond !== undefined ? { maxTaskQueueActivitiesPerSecond: input.maxTaskQueueActivitiesPerSecond } : {}),
  });
