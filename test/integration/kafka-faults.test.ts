/**
 * The broker stopped mid-stream and started again (same data dir): the stream stalls without failing, says so in
 * its progress query (lastReadAt stops moving) and in the source-read metrics, and after the restart the warehouse
 * holds exactly what the feed must produce: nothing lost, nothing doubled.
 */
import { randomUUID } from 'node:crypto';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StreamMetrics } from '../../src/activities/stream-activities.js';
import { streamProgressQuery } from '../../src/domain/workflow-api.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import { KafkaCluster } from '../../src/sources/kafka/kafka-client.js';
import { ensureTopic } from '../../src/sources/kafka/feed-producer.js';
import { KafkaSources } from '../../src/sources/kafka/kafka-source.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { expectedCounts } from '../../testkit/feed-expectations.js';
import { startTestPipeline } from '../support/pipeline.js';
import { startKafka, type KafkaServer } from '../support/servers.js';

let kafka: KafkaServer;
beforeAll(async () => {
  kafka = await startKafka();
});
afterAll(async () => {
  await kafka?.stop();
});

const TOTAL = 800;
const config: SimulatedFeedConfig = { clientId: 'acme', seed: 8, rate: 'unbounded', totalEvents: TOTAL, businessDate: '2026-11-21', duplicateShare: 0.03, invalidShare: 0.02 };

const produce = async (topic: string, from: number, to: number): Promise<void> => {
  const feed = new SimulatedFeed(config);
  const { records } = await feed.read({ fromCursor: from, maxRows: to - from, maxWaitMs: 0 });
  const producer = new Producer({ clientId: 'test', bootstrapBrokers: [kafka.broker], serializers: stringSerializers, idempotent: true, acks: -1 });
  await producer.send({ messages: records.map((r) => ({ topic, partition: 0, value: r.payload })) });
  await producer.close();
};

class ReadRecorder implements StreamMetrics {
  failures = 0;
  answered = 0;
  batchWritten(): void {}
  sourceRead(input: { ok: boolean }): void {
    if (input.ok) this.answered++;
    else this.failures++;
  }
}

const until = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 90_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

it('stalls while the broker is down, shows the stall in lastReadAt and the read-failure metric, and loses and doubles nothing after its restart', { timeout: 400_000 }, async () => {
  const topic = `faults-${randomUUID().slice(0, 8)}`;
  const cluster = new KafkaCluster({ brokers: [kafka.broker], groupId: 'faults' });
  await ensureTopic(cluster, topic, 1);
  await produce(topic, 0, TOTAL / 2);
  const registry = new KafkaSources(new KafkaCluster({ brokers: [kafka.broker], groupId: 'faults' }));
  const metrics = new ReadRecorder();
  const pipeline = await startTestPipeline({ kafka: { sourceRegistry: registry }, metrics });
  try {
    const sourceId = `kafka:${topic}:0`;
    const { handle } = await startStreamWorkflow(pipeline.client, { taskQueue: pipeline.taskQueue, sourceId, clientId: 'acme', maxRows: 100, maxWaitMs: 200, stopAt: TOTAL });
    const step = (what: string): void => console.log(`kafka-faults: ${what} at ${new Date().toISOString()}`);
    step('stream started');
    await until('the first half streamed', async () => (await handle.query(streamProgressQuery)).cursor >= TOTAL / 2);

    step('first half streamed');
    await kafka.halt();
    step('broker stopped');
    const failuresBefore = metrics.failures;
    await until('reads failing', () => metrics.failures > failuresBefore + 1);
    const stalled = await handle.query(streamProgressQuery);
    await new Promise((r) => setTimeout(r, 3_000));
    const stillStalled = await handle.query(streamProgressQuery);
    expect(stillStalled.lastReadAt).toBe(stalled.lastReadAt);
    expect(stillStalled.cursor).toBe(TOTAL / 2);
    expect(Date.now() - Date.parse(stillStalled.lastReadAt ?? '')).toBeGreaterThan(3_000);

    step('stall observed');
    await kafka.restart();
    step('broker restarted');
    await produce(topic, TOTAL / 2, TOTAL);
    const done = await handle.result();
    const want = expectedCounts({ config, to: TOTAL });
    expect({ cursor: done.cursor, written: done.written, duplicates: done.duplicates, rejected: done.rejected }).toEqual({
      cursor: TOTAL,
      written: want.inserted,
      duplicates: want.duplicates,
      rejected: want.invalid,
    });
    const rows = (await pipeline.warehouse.dailyTotals(Object.keys(want.provisional))).reduce((n, t) => n + t.rows, 0);
    expect(rows).toBe(want.inserted);
    expect((await pipeline.warehouse.countSideTables()).rejects).toBe(want.invalid);
  } finally {
    await pipeline.stop();
    await registry.close();
    await cluster.close();
  }
});
