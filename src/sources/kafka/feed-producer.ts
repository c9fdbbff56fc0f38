/**
 * The simulated client as a Kafka producer: each partition of the topic gets the simulated feed of that partition
 * (seeded, deterministic), produced at the feed's rate. The record at Kafka offset n is the feed's record n: after a
 * restart the producer resumes at the partition's end offset, so nothing is produced twice or skipped, and the
 * feed's oracle (testkit/feed-expectations) still says what the pipeline must produce.
 */
import { Producer, stringSerializers } from '@platformatic/kafka';
import type { SimulatedFeed } from '../simulated-feed.js';
import type { KafkaCluster } from './kafka-client.js';

export interface FeedProducerOptions {
  cluster: KafkaCluster;
  topic: string;
  /** The feed of each partition, by partition number. */
  feedOf: (partition: number) => SimulatedFeed;
  /** Records per produce request at most. */
  maxBatch?: number;
  onError?: (error: unknown) => void;
}

export interface FeedProducerStats {
  produced: number;
  errors: number;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

/** Creates the topic with `partitions` partitions if it does not exist, and adds partitions if it has fewer. */
export const ensureTopic = async (cluster: KafkaCluster, topic: string, partitions: number): Promise<number> => {
  const existing = await cluster.admin.listTopics();
  if (!existing.includes(topic)) {
    await cluster.admin.createTopics({ topics: [topic], partitions, replicas: 1 });
    return partitions;
  }
  const { leaders } = await cluster.topic(topic, true);
  if (leaders.length < partitions) {
    await cluster.admin.createPartitions({ topics: [{ name: topic, count: partitions, assignments: null }] });
    return partitions;
  }
  return leaders.length;
};

export class FeedProducer {
  readonly stats: FeedProducerStats = { produced: 0, errors: 0 };
  private readonly stopping = new AbortController();
  private producer: Producer<string, string, string, string>;
  private readonly loops = new Map<number, Promise<void>>();

  constructor(private readonly options: FeedProducerOptions) {
    this.producer = this.newProducer();
  }

  private newProducer(): Producer<string, string, string, string> {
    const { settings } = this.options.cluster;
    return new Producer({
      clientId: `${settings.clientId ?? 'transactions-pipeline'}-feed`,
      bootstrapBrokers: settings.brokers,
      serializers: stringSerializers,
      idempotent: true,
      acks: -1,
      retries: 3,
      retryDelay: 250,
    });
  }

  /** After a failed send the idempotent producer's sequence state is unknown: start a fresh one (new producer id). */
  private async renewProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.newProducer();
    await old.close().catch(() => undefined);
  }

  /** Starts producing into these partitions (again-safe: a partition already produced to is left alone). */
  start(partitions: number[]): void {
    for (const p of partitions) {
      if (!this.loops.has(p)) this.loops.set(p, this.run(p));
    }
  }

  private async endOffset(partition: number): Promise<number> {
    const listed = await this.options.cluster.admin.listOffsets({
      topics: [{ name: this.options.topic, partitions: [{ partitionIndex: partition, timestamp: -1n }] }],
    });
    return Number(listed[0]?.partitions[0]?.offset ?? 0n);
  }

  private async run(partition: number): Promise<void> {
    const feed = this.options.feedOf(partition);
    const signal = this.stopping.signal;
    let cursor: number | null = null;
    while (!signal.aborted) {
      try {
        // After any failure the partition's end offset says what actually landed.
        cursor ??= await this.endOffset(partition);
        const read = await feed.read({ fromCursor: cursor, maxRows: this.options.maxBatch ?? 5_000, maxWaitMs: 100, signal });
        if (read.records.length === 0) continue;
        await this.producer.send({
          messages: read.records.map((r) => ({ topic: this.options.topic, partition, value: r.payload })),
        });
        cursor = read.nextCursor;
        this.stats.produced += read.records.length;
      } catch (error) {
        if (signal.aborted) break;
        cursor = null;
        this.stats.errors += 1;
        this.options.onError?.(error);
        await this.renewProducer();
        await sleep(1_000, signal);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.loops.values());
    await this.producer.close().catch(() => undefined);
  }
}
