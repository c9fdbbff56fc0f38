/**
 * The Kafka partition source and the simulated client's producer against a real broker (scripts/kafka.sh): reads at
 * a cursor are repeatable, the durable cursor becomes the group's committed offset, a missing topic is named, and the
 * producer resumes at the partition's end so Kafka offset n always holds the feed's record n.
 */
import { Producer, stringSerializers } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaCluster } from '../../src/sources/kafka/kafka-client.js';
import { ensureTopic, FeedProducer } from '../../src/sources/kafka/feed-producer.js';
import { KafkaSources } from '../../src/sources/kafka/kafka-source.js';
import { SimulatedFeed } from '../../src/sources/simulated-feed.js';
import { SourceError } from '../../src/sources/source.js';
import { startKafka, type KafkaServer } from '../support/servers.js';

let kafka: KafkaServer;
let cluster: KafkaCluster;

beforeAll(async () => {
  kafka = await startKafka();
  cluster = new KafkaCluster({ brokers: [kafka.broker], groupId: 'test-group' });
});
afterAll(async () => {
  await cluster?.close();
  await kafka?.stop();
});

const produce = async (topic: string, partition: number, values: string[]): Promise<void> => {
  const producer = new Producer({ clientId: 'test', bootstrapBrokers: [kafka.broker], serializers: stringSerializers, idempotent: true, acks: -1 });
  await producer.send({ messages: values.map((value) => ({ topic, partition, value })) });
  await producer.close();
};

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe('KafkaPartitionSource', () => {
  it('reads the records at a cursor with their offsets, the same records again on a repeat, and the partition head', async () => {
    await ensureTopic(cluster, 'reads', 2);
    await produce('reads', 1, Array.from({ length: 10 }, (_, i) => `{"n":${i}}`));
    const sources = new KafkaSources(cluster);
    const source = sources.get('kafka:reads:1');
    expect(source?.id).toBe('kafka:reads:1');
    const first = await source!.read({ fromCursor: 3, maxRows: 4, maxWaitMs: 2_000 });
    expect(first.records.map((r) => [r.offset, r.payload])).toEqual([3, 4, 5, 6].map((n) => [n, `{"n":${n}}`]));
    expect(first.nextCursor).toBe(7);
    expect(first.headCursor).toBe(10);
    expect(first.records.every((r) => r.emittedAtMs > Date.now() - 600_000)).toBe(true);
    const again = await source!.read({ fromCursor: 3, maxRows: 4, maxWaitMs: 0 });
    expect(again.records).toEqual(first.records);
    const rest = await source!.read({ fromCursor: 7, maxRows: 100, maxWaitMs: 300 });
    expect(rest.records.map((r) => r.offset)).toEqual([7, 8, 9]);
    expect(rest.nextCursor).toBe(10);
    const empty = await sources.get('kafka:reads:0')!.read({ fromCursor: 0, maxRows: 10, maxWaitMs: 200 });
    expect(empty).toEqual({ records: [], nextCursor: 0, headCursor: 0 });
    expect(sources.get('sim:acme:p0')).toBeUndefined();
    await sources.get('kafka:reads:0')!.close();
    await source!.close();
  });

  it('records an acknowledged cursor as the consumer group committed offset, and lists it as the start cursor of the partition for a new stream', async () => {
    await ensureTopic(cluster, 'acks', 1);
    await produce('acks', 0, ['a', 'b', 'c', 'd']);
    const source = new KafkaSources(cluster).get('kafka:acks:0')!;
    source.acknowledge(2);
    source.acknowledge(3);
    await source.flushCommits();
    expect((await cluster.committedOffsets('acks')).get(0)).toBe(3);
    expect(await cluster.partitions('acks')).toEqual([{ partition: 0, startCursor: 3 }]);
    await source.close();
  });

  it('names a topic that does not exist instead of reading nothing from it', async () => {
    const error = await cluster.partitions('no-such-topic').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).code).toBe('UNKNOWN_TOPIC');
    expect((error as SourceError).message).toContain('Kafka topic "no-such-topic" does not exist');
  });
});

describe('FeedProducer', () => {
  it('puts feed record n at Kafka offset n of each partition and resumes at the end offset after a restart, producing nothing twice', async () => {
    const total = 3_000;
    const feedOf = (partition: number): SimulatedFeed =>
      new SimulatedFeed({ clientId: 'acme', partition, seed: 5, rate: 'unbounded', totalEvents: total, businessDate: '2026-11-21' });
    expect(await ensureTopic(cluster, 'feed', 2)).toBe(2);
    // First run stops part way; the second continues from wherever the first ended.
    const first = new FeedProducer({ cluster, topic: 'feed', feedOf, maxBatch: 500 });
    first.start([0, 1]);
    await waitFor('a first part produced', async () => first.stats.produced >= 1_000);
    await first.stop();
    const second = new FeedProducer({ cluster, topic: 'feed', feedOf, maxBatch: 500 });
    second.start([0, 1]);
    const sources = new KafkaSources(cluster);
    await waitFor('both partitions complete', async () => {
      const heads = await Promise.all([0, 1].map((p) => sources.get(`kafka:feed:${p}`)!.read({ fromCursor: 0, maxRows: 1, maxWaitMs: 0 })));
      return heads.every((h) => h.headCursor >= total);
    });
    await second.stop();
    for (const p of [0, 1]) {
      const source = sources.get(`kafka:feed:${p}`)!;
      const all = await source.read({ fromCursor: 0, maxRows: total + 10, maxWaitMs: 1_000 });
      expect(all.headCursor).toBe(total);
      const feed = feedOf(p);
      expect(all.records.map((r) => r.offset)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(all.records.every((r) => r.payload === feed.payloadAt(r.offset))).toBe(true);
    }
    // A topic that already has more partitions than asked keeps them.
    expect(await ensureTopic(cluster, 'feed', 1)).toBe(2);
    await sources.close();
  });
});
