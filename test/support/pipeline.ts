/**
 * A real pipeline for integration tests: a worker on the dev server from global setup, with its own task
 * queue, landing directory, work directory and (by default) a fresh in-memory DuckDB warehouse.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { FaultInjector, FileAlerts } from '../../src/activities/file-activities.js';
import type { StreamMetrics } from '../../src/activities/stream-activities.js';
import { intakeInput } from '../../src/files/intake.js';
import { LocalDirLanding, type LandingArea } from '../../src/files/landing.js';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import type { TransactionSource } from '../../src/sources/source.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { createPipelineWorker, type PipelineDeps } from '../../src/workers/pipeline-worker.js';
import type { FileWorkflowResult } from '../../src/workflows/file-workflow.js';

/** `sha256` reads a kept delivery from `area` (processed by default) instead of the landing root. */
export interface SubmitOptions {
  replay?: boolean;
  sha256?: string;
  area?: LandingArea;
  requestId?: string;
}

export interface TestPipeline {
  client: Client;
  taskQueue: string;
  warehouse: Warehouse;
  landing: LocalDirLanding;
  landingDir: string;
  workDir: string;
  worker: Worker;
  /** Starts the file workflow for a landed file and returns its handle's id (or the duplicate refusal). */
  submit: (fileId: string, opts?: SubmitOptions) => ReturnType<typeof startFileWorkflow>;
  /** Submits and waits; resolves with the result or rejects with the workflow's failure. */
  runFile: (fileId: string, opts?: SubmitOptions) => Promise<FileWorkflowResult>;
  stop: () => Promise<void>;
}

export const temporalAddress = (): string => {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run integration tests through vitest (global setup starts the server)');
  return address;
};

export const startTestPipeline = async (opts: {
  warehouse?: Warehouse;
  sources?: Map<string, TransactionSource>;
  /** Kafka wiring (src/workers/kafka-sources.ts): partitions opened on demand and partition discovery. */
  kafka?: Pick<PipelineDeps, 'sourceRegistry' | 'discoverPartitions'>;
  faults?: FaultInjector;
  fileAlerts?: FileAlerts;
  metrics?: StreamMetrics;
  timeZone?: string;
  clientId?: string;
  /** Also serve the operating activities (landing watcher, daily run), with this pipeline's client. */
  withOps?: boolean;
  /** Workflow code from another module (test/support/try-cancel-workflows.ts), bundled in this process. */
  workflowsPath?: string;
} = {}): Promise<TestPipeline> => {
  const address = temporalAddress();
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = `test-${randomUUID()}`;
  const landingDir = mkdtempSync(join(tmpdir(), 'landing-'));
  const workDir = mkdtempSync(join(tmpdir(), 'work-'));
  const warehouse = opts.warehouse ?? (await DuckDbWarehouse.open({ path: ':memory:' }));
  const landing = new LocalDirLanding(landingDir);
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const worker = await createPipelineWorker({
    connection: nativeConnection,
    namespace,
    taskQueue,
    ...(opts.workflowsPath ? { workflowsPath: opts.workflowsPath } : {}),
    deps: {
      warehouse,
      landing,
      sources: opts.sources ?? new Map(),
      ...opts.kafka,
      timeZone: opts.timeZone ?? 'America/New_York',
      workDir,
      ...(opts.faults ? { faults: opts.faults } : {}),
      ...(opts.fileAlerts ? { fileAlerts: opts.fileAlerts } : {}),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(opts.withOps ? { ops: { client, taskQueue } } : {}),
    },
  });
  const running = worker.run();
  // Workflow ids are business keys that include the client: a unique client keeps tests sharing one server apart.
  const clientId = opts.clientId ?? `acme-${randomUUID().slice(0, 8)}`;

  const submit: TestPipeline['submit'] = async (fileId, o = {}) => {
    const from = o.sha256 ? { area: o.area ?? 'processed', sha256: o.sha256 } : 'incoming';
    const input = await intakeInput({ landing, fileId, clientId, from, replay: o.replay ?? false });
    return startFileWorkflow(client, taskQueue, input, o.requestId ?? randomUUID().slice(0, 8));
  };

  return {
    client,
    taskQueue,
    warehouse,
    landing,
    landingDir,
    workDir,
    worker,
    submit,
    runFile: async (fileId, o) => {
      const started = await submit(fileId, o);
      if (!started.started) throw new Error(started.reason);
      return started.handle.result();
    },
    stop: async () => {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      if (!opts.warehouse) await warehouse.close();
      rmSync(landingDir, { recursive: true, force: true });
      rmSync(workDir, { recursive: true, force: true });
    },
  };
};
