/**
 * Kafka end to end on the real dev server and a real broker: the supervisor starts one stream per partition
 * (`stream/kafka:<topic>:<partition>`), picks up a partition added while it runs, and the warehouse ends with exactly
 * what the simulated feeds must produce; poison records go to stream_rejects naming topic, partition and offset,
 * without stopping their partition; the durable cursors become the consumer group's committed offsets.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIds, type StreamProgress } from '../../src/domain/workflow-api.js';
import { startKafkaSupervisor } from '../../src/ops/start-stream.js';
import { KafkaCluster } from '../../src/sources/kafka/kafka-client.js';
import { ensureTopic } from '../../src/sources/kafka/feed-producer.js';
import { KafkaSources } from '../../src/sources/kafka/kafka-source.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { expectedCounts } from '../../testkit/feed-expectations.js';
import { startTestPipeline } from '../support/pipeline.js';
import { startKafka, type KafkaServer } from '../support/servers.js';

let kafka: KafkaServer;
let cluster: KafkaCluster;

beforeAll(async () => {
  kafka = await startKafka();
  cluster = new KafkaCluster({ brokers: [kafka.broker], groupId: 'stream-test' });
});
afterAll(async () => {
  await cluster?.close();
  await kafka?.stop();
});

const EVENTS = 500;
const feedConfig = (partition: number): SimulatedFeedConfig => ({
  clientId: 'acme',
  partition,
  seed: 21,
  rate: 'unbounded',
  totalEvents: EVENTS,
  businessDate: '2026-11-21',
  duplicateShare: 0.03,
  conflictShare: 0.01,
  invalidShare: 0.02,
  unknownFieldsShare: 0.02,
});

/** Not JSON, over the size limit, a future schema version, and an event missing its currency. */
const POISON = [
  '{"schema_version":1,"transaction_id":',
  JSON.stringify({ schema_version: 1, transaction_id: 'big', description: 'x'.repeat(70_000) }),
  JSON.stringify({ schema_version: 2, transaction_id: 'v2', account_id: 'a', event_ts: '2026-11-21T10:00:00Z', amount: '1.00', currency: 'USD' }),
  JSON.stringify({ schema_version: 1, transaction_id: 'nocur', account_id: 'a', event_ts: '2026-11-21T10:00:00Z', amount: '1.00' }),
];
const POISON_REASONS = [/not valid JSON/, /over the limit of 65536/, /schema_version/, /field currency: is required/];

/** The feed's records of the partition, then the poison records: offsets 0..EVENTS-1 are the feed's. */
const producePartition = async (topic: string, partition: number): Promise<void> => {
  const feed = new SimulatedFeed(feedConfig(partition));
  const { records } = await feed.read({ fromCursor: 0, maxRows: EVENTS, maxWaitMs: 0 });
  const producer = new Producer({ clientId: 'test', bootstrapBrokers: [kafka.broker], serializers: stringSerializers, idempotent: true, acks: -1 });
  await producer.send({ messages: [...records.map((r) => r.payload), ...POISON].map((value) => ({ topic, partition, value })) });
  await producer.close();
};

describe('Kafka supervisor and partition streams', () => {
  it('streams every partition exactly once, also one added while running, with poison records rejected by topic, partition and offset', async () => {
    const topic = `tx-${randomUUID().slice(0, 8)}`;
    await ensureTopic(cluster, topic, 2);
    await Promise.all([0, 1].map((p) => producePartition(topic, p)));
    const dir = mkdtempSync(join(tmpdir(), 'kafka-stream-'));
    const dbPath = join(dir, 'w.duckdb');
    const warehouse = await DuckDbWarehouse.open({ path: dbPath });
    const registry = new KafkaSources(new KafkaCluster({ brokers: [kafka.broker], groupId: 'stream-test' }));
    const pipeline = await startTestPipeline({
      warehouse,
      kafka: { sourceRegistry: registry, discoverPartitions: (t) => registry.cluster.partitions(t) },
    });
    const end = EVENTS + POISON.length;
    try {
      const supervisor = await startKafkaSupervisor(pipeline.client, {
        taskQueue: pipeline.taskQueue,
        topic,
        clientId: 'acme',
        maxRows: 200,
        maxWaitMs: 200,
        discoverEveryMs: 500,
        streamStopAt: end,
        stopAfterPartitions: 3,
      });
      expect(supervisor).toEqual({ workflowId: `streams/kafka:${topic}`, started: true });
      // Both first streams finish, then the topic grows a third partition.
      const handleOf = (p: number) => pipeline.client.workflow.getHandle(workflowIds.stream(`kafka:${topic}:${p}`));
      const waitStarted = async (p: number): Promise<void> => {
        for (let i = 0; i < 300; i++) {
          if (await handleOf(p).describe().then(() => true, () => false)) return;
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      await Promise.all([0, 1].map(waitStarted));
      const firstTwo = (await Promise.all([0, 1].map((p) => handleOf(p).result()))) as StreamProgress[];
      await registry.cluster.admin.createPartitions({ topics: [{ name: topic, count: 3, assignments: null }] });
      await producePartition(topic, 2);
      const supervised = await pipeline.client.workflow.getHandle(supervisor.workflowId).result();
      expect(supervised.partitions).toEqual([0, 1, 2]);
      const third = (await handleOf(2).result()) as StreamProgress;
      const progress = [...firstTwo, third];

      const expected = [0, 1, 2].map((p) => expectedCounts({ config: feedConfig(p), to: EVENTS }));
      for (const [p, got] of progress.entries()) {
        const want = expected[p]!;
        expect(got.sourceId).toBe(`kafka:${topic}:${p}`);
        expect({ cursor: got.cursor, read: got.read, written: got.written, duplicates: got.duplicates, conflicts: got.conflicts, rejected: got.rejected }).toEqual({
          cursor: end,
          read: end,
          written: want.inserted,
          duplicates: want.duplicates,
          conflicts: want.conflicts,
          rejected: want.invalid + POISON.length,
        });
      }
      for (const s of [0, 1, 2]) await registry.get(`kafka:${topic}:${s}`)!.flushCommits();
      expect([...(await registry.cluster.committedOffsets(topic)).entries()].sort()).toEqual([[0, end], [1, end], [2, end]]);
      const totals = await warehouse.dailyTotals(['2026-11-21']);
      expect(totals.reduce((n, t) => n + t.rows, 0)).toBe(expected.reduce((n, e) => n + (e.provisional['2026-11-21']?.rows ?? 0), 0));
    } finally {
      await pipeline.stop();
      await registry.close();
      await warehouse.close();
    }
    // The rejects table, read as an operator would: one row per poison record with its topic, partition and offset.
    const db = await DuckDBInstance.create(dbPath);
    const c = await db.connect();
    const rows = (await c.runAndReadAll(`SELECT source_id, stream_offset::INTEGER AS o, reason FROM stream_rejects WHERE stream_offset >= ${EVENTS} ORDER BY 1, 2`)).getRowObjectsJson();
    c.closeSync();
    rmSync(dir, { recursive: true, force: true });
    expect(rows).toHaveLength(3 * POISON.length);
    for (const [i, row] of rows.entries()) {
      const p = Math.floor(i / POISON.length);
      const k = i % POISON.length;
      expect(row.source_id).toBe(`kafka:${topic}:${p}`);
      expect(row.o).toBe(EVENTS + k);
      expect(String(row.reason)).toMatch(new RegExp(`^kafka:${topic}:${p}:${EVENTS + k}`));
      expect(String(row.reason)).toMatch(POISON_REASONS[k]!);
    }
  });

  it('fails the supervisor of a topic that does not exist with an UnknownTopic failure naming the topic', async () => {
    const registry = new KafkaSources(new KafkaCluster({ brokers: [kafka.broker], groupId: 'stream-test' }));
    const pipeline = await startTestPipeline({ kafka: { sourceRegistry: registry, discoverPartitions: (t) => registry.cluster.partitions(t) } });
    try {
      const { workflowId } = await startKafkaSupervisor(pipeline.client, { taskQueue: pipeline.taskQueue, topic: 'missing-topic', clientId: 'acme', maxRows: 10, maxWaitMs: 100 });
      const error = await pipeline.client.workflow.getHandle(workflowId).result().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      const cause = (error as WorkflowFailedError).cause?.cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect((cause as ApplicationFailure).type).toBe('UnknownTopic');
      expect((cause as ApplicationFailure).message).toContain('Kafka topic "missing-topic" does not exist');
    } finally {
      await pipeline.stop();
      await registry.close();
    }
  });
});
