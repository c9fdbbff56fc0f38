/**
 * Composition root: builds the activities from injected dependencies and runs one worker on the task queue.
 * Production, the local pipeline, tests and benchmarks all go through here; they differ only in what they inject.
 */
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createFileActivities, type FaultInjector } from '../activities/file-activities.js';
import { createOpsActivities, type OpsActivityDeps, type OpsMetrics } from '../activities/ops-activities.js';
import { createStreamActivities, type StreamMetrics } from '../activities/stream-activities.js';
import type { Landing } from '../files/landing.js';
import type { TransactionSource } from '../sources/source.js';
import type { Warehouse } from '../warehouse/port.js';

export interface PipelineDeps {
  warehouse: Warehouse;
  landing: Landing;
  sources: Map<string, TransactionSource>;
  timeZone: string;
  workDir: string;
  metrics?: StreamMetrics;
  faults?: FaultInjector;
  /** Operations activities (landing watcher, daily run, alerts): need a Temporal client; off when unset. */
  ops?: Pick<OpsActivityDeps, 'client' | 'taskQueue' | 'alertWebhookUrl' | 'fetch' | 'now'>;
  /** Extra activities merged into the same worker. */
  extraActivities?: Record<string, (...args: never[]) => Promise<unknown>>;
}

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();
/** Bundles workflow code once per process and failure converter (tests start many workers). */
export const workflowBundle = (failureConverterPath?: string): Promise<WorkflowBundleWithSourceMap> => {
  const key = failureConverterPath ?? '';
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath, ...(failureConverterPath ? { failureConverterPath } : {}) });
    bundles.set(key, bundle);
  }
  return bundle;
};

export const createActivities = (deps: PipelineDeps) => {
  const optional = {
    ...(deps.faults ? { faults: deps.faults } : {}),
  };
  return {
    ...createFileActivities({ warehouse: deps.warehouse, landing: deps.landing, workDir: deps.workDir, ...optional }),
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
  /** Payload encryption (src/codec): the same converter every client of the pipeline uses. */
  dataConverter?: DataConverter;
}): Promise<Worker> =>
  Worker.create({
    connection: input.connection,
    namespace: input.namespace,
    taskQueue: input.taskQueue,
    workflowBundle: await workflowBundle(input.dataConverter?.failureConverterPath),
    ...(input.dataConverter ? { dataConverter: input.dataConverter } : {}),
    activities: createActivities(input.deps),
    maxConcurrentActivityTaskExecutions: input.maxConcurrentActivityTaskExecutions ?? 20,
  });
