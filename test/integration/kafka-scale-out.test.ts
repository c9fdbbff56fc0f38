/**
 * Scale-out on the dev server with a real broker: two worker processes (`npm run cli -- worker`) on one task queue
 * share the partitions' streams of a Kafka topic, writing to one BigQuery dataset (the emulator: any number of
 * processes may write to it, unlike a DuckDB file, which one process owns). The worker running partition 0's
 * stream is killed with SIGKILL mid-stream; every stream it ran continues on the other worker and ends at the
 * topic's end. After a reconciliation and an amendment (file workflows on the surviving worker), the warehouse
 * equals, row for row, a single-worker run of the same records and files (one in-process worker, DuckDB).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import { workflowIds, streamProgressQuery, type StreamProgress } from '../../src/domain/workflow-api.js';
import { generateFile } from '../../src/files/generate.js';
import { intakeInput } from '../../src/files/intake.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { startKafkaSupervisor } from '../../src/ops/start-stream.js';
import { ensureTopic } from '../../src/sources/kafka/feed-producer.js';
import { KafkaCluster } from '../../src/sources/kafka/kafka-client.js';
import { KafkaSources } from '../../src/sources/kafka/kafka-source.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { writeWorkflowBundle } from '../../src/workers/bundle.js';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { startTestPipeline, temporalAddress } from '../support/pipeline.js';
import { emulatorAvailable, freePort, startKafka, type KafkaServer } from '../support/servers.js';
import { CLI_WORKER, spawnWorkerProcess, type WorkerProcess } from '../support/worker-process.js';

const PARTITIONS = 2;
const EVENTS = 1_000;
const MAX_ROWS = 250;
const BUSINESS_DATE = '2026-11-21';
/** The feed writes a few events to earlier dates: 2026-11-20 is reconciled, then amended. */
const FILE_DATE = '2026-11-20';
const DATES = ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', FILE_DATE, BUSINESS_DATE];
const projectId = process.env.BQ_EMULATOR_PROJECT ?? 'local-project';
const emulatorEndpoint = process.env.BQ_EMULATOR_ENDPOINT ?? '';

const feedConfig = (partition: number): SimulatedFeedConfig => ({
  clientId: 'acme',
  partition,
  seed: 33,
  rate: 'unbounded',
  totalEvents: EVENTS,
  businessDate: BUSINESS_DATE,
  duplicateShare: 0.03,
  conflictShare: 0.01,
  invalidShare: 0.02,
});

let kafka: KafkaServer;
const dirs: string[] = [];
const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

/** Each partition's simulated feed, produced before the streams start: Kafka offset n is the feed's record n. */
const produceTopic = async (cluster: KafkaCluster, topic: string): Promise<void> => {
  await ensureTopic(cluster, topic, PARTITIONS);
  const producer = new Producer({ clientId: 'scale-out-test', bootstrapBrokers: [kafka.broker], serializers: stringSerializers, idempotent: true, acks: -1 });
  try {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const { records } = await new SimulatedFeed(feedConfig(partition)).read({ fromCursor: 0, maxRows: EVENTS, maxWaitMs: 0 });
      await producer.send({ messages: records.map((r) => ({ topic, partition, value: r.payload })) });
    }
  } finally {
    await producer.close();
  }
};

/** A reconciliation of FILE_DATE, then an amendment of it that changes one amount and drops one row. */
const deliverFiles = async (dir: string, clientId: string) => {
  const recon = await generateFile({ dir, kind: 'reconciliation', covers: [FILE_DATE], rows: 30, sequence: 1, clientId, seed: 5, idPrefix: 'file-' });
  const amend = await generateFile({
    dir,
    kind: 'amendment',
    covers: [FILE_DATE],
    rows: 30,
    sequence: 2,
    clientId,
    seed: 5,
    idPrefix: 'file-',
    transform: (row, { indexInDate }) => (indexInDate === 3 ? null : indexInDate === 7 ? { ...row, amount: '1234.56' } : row),
  });
  return [recon.fileId, amend.fileId];
};

/** What a reader sees: every row of every date (with status and version) as a fingerprint, and the side tables. */
const fingerprint = async (w: Warehouse) => {
  const perDate: Record<string, { rows: number; sha256: string }> = {};
  for (const date of DATES) {
    const rows = await w.readRows(date);
    perDate[date] = { rows: rows.length, sha256: createHash('sha256').update(JSON.stringify(rows)).digest('hex') };
  }
  const side = await w.countSideTables();
  const partitions = await w.getPartitions(DATES);
  return {
    perDate,
    side: { lateArrivals: side.lateArrivals, conflicts: side.conflicts, rejects: side.rejects },
    partitions: partitions.map((s) => ({ eventDate: s.eventDate, status: s.status, version: s.version, sequence: s.sequence, rowCount: s.rowCount, totals: s.totals })),
  };
};

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

/** Identities (`<pid>@<host>`) of the workers that completed the stream's workflow tasks, in order. */
const taskIdentities = async (handle: WorkflowHandle): Promise<string[]> => {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.workflowTaskCompletedEventAttributes?.identity ? [e.workflowTaskCompletedEventAttributes.identity] : []));
};

/** The single-worker run: one in-process worker, an in-memory DuckDB warehouse, the same records and files. */
const singleWorkerRun = async (topic: string) => {
  const clientId = `single${randomUUID().slice(0, 8)}`;
  const registry = new KafkaSources(new KafkaCluster({ brokers: [kafka.broker], groupId: `single-${randomUUID()}` }));
  const pipeline = await startTestPipeline({ clientId, kafka: { sourceRegistry: registry, discoverPartitions: (t) => registry.cluster.partitions(t) } });
  try {
    await startKafkaSupervisor(pipeline.client, {
      taskQueue: pipeline.taskQueue,
      topic,
      clientId,
      maxRows: MAX_ROWS,
      maxWaitMs: 200,
      discoverEveryMs: 500,
      streamStopAt: EVENTS,
      stopAfterPartitions: PARTITIONS,
    });
    for (let p = 0; p < PARTITIONS; p++) {
      const handle = pipeline.client.workflow.getHandle(workflowIds.stream(`kafka:${topic}:${p}`));
      await waitFor(`stream ${p} of the single-worker run`, () => handle.describe().then(() => true));
      expect(((await handle.result()) as StreamProgress).cursor).toBe(EVENTS);
    }
    for (const fileId of await deliverFiles(pipeline.landingDir, clientId)) {
      expect((await pipeline.runFile(fileId)).outcome).toBe('applied');
    }
    return await fingerprint(pipeline.warehouse);
  } finally {
    await pipeline.stop();
    await registry.close();
  }
};

const runnable = emulatorEndpoint !== '' || emulatorAvailable();

describe.runIf(runnable)('two worker processes on one task queue (Kafka streams, BigQuery emulator)', () => {
  beforeAll(async () => {
    kafka = await startKafka();
  }, 180_000);
  afterAll(async () => {
    await kafka?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("a SIGKILLed worker's partition streams continue on the other worker, and after a reconciliation and an amendment the warehouse equals a single-worker run row for row", async () => {
    // The global setup starts the emulator when scripts/emulator.sh exists (SKIP_BQ_EMULATOR=1 turns it off).
    if (emulatorEndpoint === '') throw new Error('BQ_EMULATOR_ENDPOINT is not set: the global setup did not start the BigQuery emulator');
    const cluster = new KafkaCluster({ brokers: [kafka.broker], groupId: 'scale-out-setup' });
    const singleTopic = `single-${randomUUID().slice(0, 8)}`;
    const topic = `scale-${randomUUID().slice(0, 8)}`;
    try {
      await produceTopic(cluster, singleTopic);
      await produceTopic(cluster, topic);
    } finally {
      await cluster.close();
    }
    const t0 = Date.now();
    const phase = (what: string): void => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
    // One workflow bundle for both worker processes (each would compile its own otherwise).
    const bundlePath = join(tempDir('scale-out-bundle-'), 'workflow-bundle.js');
    await writeWorkflowBundle(bundlePath);

    // Scale-out: two `npm run cli -- worker` processes, one task queue, one dataset, one landing dir and work dir.
    const clientId = `scale${randomUUID().slice(0, 8)}`;
    const datasetId = `scale_${process.pid}_${Date.now()}`;
    const shared = tempDir('scale-out-');
    const landingDir = join(shared, 'landing');
    mkdirSync(landingDir, { recursive: true });
    const warehouse = await BigQueryWarehouse.open({ projectId, datasetId, location: 'US', apiEndpoint: emulatorEndpoint });
    const taskQueue = `scale-${randomUUID()}`;
    const group = `scale-${randomUUID()}`;
    const envFor = async (): Promise<Record<string, string>> => ({
      TEMPORAL_ADDRESS: temporalAddress(),
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
      TASK_QUEUE: taskQueue,
      CLIENT_ID: clientId,
      WAREHOUSE: 'bigquery',
      BIGQUERY_PROJECT: projectId,
      BIGQUERY_DATASET: datasetId,
      BIGQUERY_EMULATOR_ENDPOINT: emulatorEndpoint,
      // Batches written by DML in one transaction each (the classification of the Storage Write path waits a settle time).
      BIGQUERY_STREAM_SINK: 'dml',
      SOURCE: 'kafka',
      KAFKA_BROKERS: kafka.broker,
      KAFKA_TOPIC: topic,
      KAFKA_GROUP: group,
      LANDING_DIR: landingDir,
      WORK_DIR: join(shared, 'work'),
      METRICS_PORT: String(await freePort()),
      SDK_METRICS_PORT: '0',
      LOG_LEVEL: 'WARN',
      WORKFLOW_BUNDLE: bundlePath,
    });
    const workers: WorkerProcess[] = [];
    const connection = await Connection.connect({ address: temporalAddress() });
    const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    try {
      for (let i = 0; i < 2; i++) workers.push(spawnWorkerProcess(await envFor(), { entry: CLI_WORKER, readyTimeoutMs: 300_000 }));
      // The single-worker run (in this process) while the two worker processes start.
      const reference = await singleWorkerRun(singleTopic);
      phase('single-worker run done');
      await Promise.all(workers.map((w) => w.ready));
      phase('both workers ready');
      await startKafkaSupervisor(client, {
        taskQueue,
        topic,
        clientId,
        maxRows: MAX_ROWS,
        maxWaitMs: 200,
        discoverEveryMs: 500,
        streamStopAt: EVENTS,
        stopAfterPartitions: PARTITIONS,
      });
      const handles = Array.from({ length: PARTITIONS }, (_, p) => client.workflow.getHandle(workflowIds.stream(`kafka:${topic}:${p}`)));
      // Mid-stream: partition 0's stream has written a few batches and is short of the end.
      const cursorAtKill = await waitFor('partition 0 to get going', async () => {
        const { cursor } = await handles[0]!.query(streamProgressQuery);
        return cursor >= MAX_ROWS ? cursor : undefined;
      });
      const identity = (await taskIdentities(handles[0]!)).at(-1) ?? '';
      const victim = workers.find((w) => identity.startsWith(`${w.pid}@`));
      const survivor = workers.find((w) => w !== victim);
      if (!victim || !survivor) throw new Error(`partition 0's stream ran on ${identity}, not on one of ${workers.map((w) => w.pid).join(', ')}`);
      const before = await Promise.all(handles.map(taskIdentities));
      await victim.kill();
      console.log(`SIGKILL worker ${victim.pid} at partition 0's cursor ${cursorAtKill}; streams on it before: ${before.map((ids, p) => `${p}:${ids.filter((i) => i.startsWith(`${victim.pid}@`)).length}`).join(' ')}`);
      expect(cursorAtKill).toBeLessThan(EVENTS);
      phase(`worker ${victim.pid} killed`);

      const results = (await Promise.all(handles.map((h) => h.result()))) as StreamProgress[];
      for (const [p, progress] of results.entries()) {
        expect(progress.cursor, `partition ${p}`).toBe(EVENTS);
        const ids = await taskIdentities(handles[p]!);
        const ranOnVictim = before[p]!.some((i) => i.startsWith(`${victim.pid}@`));
        // A stream that ran on the killed worker finished on the other one.
        if (ranOnVictim) expect(ids.at(-1), `partition ${p}`).toMatch(new RegExp(`^${survivor.pid}@`));
        expect(ids.slice(before[p]!.length).every((i) => i.startsWith(`${survivor.pid}@`)), `partition ${p}`).toBe(true);
      }

      phase('streams done');
      const landing = new LocalDirLanding(landingDir);
      for (const fileId of await deliverFiles(landingDir, clientId)) {
        const started = await startFileWorkflow(client, taskQueue, await intakeInput({ landing, fileId, clientId }));
        if (!started.started) throw new Error(started.reason);
        expect((await started.handle.result()).outcome).toBe('applied');
      }
      phase('files applied');
      const scaledOut = await fingerprint(warehouse);
      expect(scaledOut.perDate[BUSINESS_DATE]?.rows).toBeGreaterThan(2 * 0.9 * EVENTS);
      expect(scaledOut).toEqual(reference);
    } finally {
      await Promise.all(workers.map((w) => w.stop(10_000)));
      await connection.close();
      await warehouse.close();
    }
  }, 600_000);
});
