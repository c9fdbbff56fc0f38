/**
 * The connection to a Kafka cluster that a worker shares between its partition sources: one consumer client
 * for metadata and fetches (it never joins the group: the stream workflows own the cursors), one admin client
 * for the group's committed offsets. Source ids are `kafka:<topic>:<partition>`.
 */
import { Admin, Consumer } from '@platformatic/kafka';
import { SourceError } from '../source.js';

export interface KafkaSettings {
  /** `host:port` of one or more brokers. */
  brokers: string[];
  /** Consumer group the stream's committed offsets are recorded under (what `kafka-consumer-groups` shows). */
  groupId: string;
  /** Client id in the broker's logs and metrics. */
  clientId?: string;
}

export interface PartitionStart {
  partition: number;
  /** Where a new stream of this partition starts: the group's committed offset, else the earliest kept offset. */
  startCursor: number;
}

const SOURCE_ID = /^kafka:([A-Za-z0-9._-]{1,249}):(\d{1,6})$/;

export const kafkaSourceId = (topic: string, partition: number): string => `kafka:${topic}:${partition}`;

/** The topic and partition of a `kafka:<topic>:<partition>` id, or null for another kind of source. */
export const parseKafkaSourceId = (sourceId: string): { topic: string; partition: number } | null => {
  const m = SOURCE_ID.exec(sourceId);
  return m?.[1] !== undefined && m[2] !== undefined ? { topic: m[1], partition: Number(m[2]) } : null;
};

const isUnknownTopic = (error: unknown): boolean =>
  error instanceof Error && (/Unknown topic/i.test(error.message) || (error as { apiCode?: number }).apiCode === 3);

export class KafkaCluster {
  readonly consumer: Consumer;
  readonly admin: Admin;

  private readonly base: { clientId: string; bootstrapBrokers: string[]; retries: number; retryDelay: number };

  constructor(readonly settings: KafkaSettings) {
    this.base = { clientId: settings.clientId ?? 'transactions-pipeline', bootstrapBrokers: settings.brokers, retries: 2, retryDelay: 250 };
    this.consumer = new Consumer({ ...this.base, groupId: settings.groupId });
    this.admin = new Admin(this.base);
  }

  /** A client with connections of its own, for one partition's fetches. */
  fetcher(): Consumer {
    return new Consumer({ ...this.base, groupId: this.settings.groupId });
  }

  /** Topic id, partition count and each partition's leader; raises UNKNOWN_TOPIC for a topic the broker does not have. */
  async topic(topic: string, forceUpdate = false): Promise<{ id: string; leaders: number[] }> {
    try {
      const metadata = await this.consumer.metadata({ topics: [topic], forceUpdate });
      const t = metadata.topics.get(topic);
      if (!t) throw new Error(`Unknown topic ${topic}.`);
      return { id: t.id, leaders: t.partitions.map((p) => p.leader) };
    } catch (error) {
      if (isUnknownTopic(error)) {
        throw new SourceError(
          `Kafka topic "${topic}" does not exist on ${this.settings.brokers.join(',')} (topics are not created automatically; create it, e.g. with the feed producer or kafka-topics.sh)`,
          'UNKNOWN_TOPIC',
          `kafka:${topic}`,
        );
      }
      throw error;
    }
  }

  /** Every partition of the topic with the offset a new stream of it starts from. */
  async partitions(topic: string): Promise<PartitionStart[]> {
    const { leaders } = await this.topic(topic, true);
    const partitions = leaders.map((_, i) => i);
    const [earliest, committed] = await Promise.all([
      this.admin.listOffsets({ topics: [{ name: topic, partitions: partitions.map((p) => ({ partitionIndex: p, timestamp: -2n })) }] }),
      this.committedOffsets(topic),
    ]);
    const earliestOf = new Map(earliest.flatMap((t) => t.partitions).map((p) => [p.partitionIndex, Number(p.offset)]));
    return partitions.map((partition) => ({
      partition,
      startCursor: Math.max(committed.get(partition) ?? 0, earliestOf.get(partition) ?? 0),
    }));
  }

  /** The group's committed offset per partition of the topic (partitions without one are absent). */
  async committedOffsets(topic: string): Promise<Map<number, number>> {
    const groups = await this.admin.listConsumerGroupOffsets({ groups: [this.settings.groupId] });
    const out = new Map<number, number>();
    for (const g of groups) {
      for (const t of g.topics) {
        if (t.name !== topic) continue;
        for (const p of t.partitions) if (p.committedOffset >= 0n) out.set(p.partitionIndex, Number(p.committedOffset));
      }
    }
    return out;
  }

  /** Records the group's committed offset of one partition. */
  async commit(topic: string, partition: number, offset: number): Promise<void> {
    await this.admin.alterConsumerGroupOffsets({
      groupId: this.settings.groupId,
      topics: [{ name: topic, partitionOffsets: [{ partition, offset: BigInt(offset) }] }],
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.consumer.close(true), this.admin.close()]);
  }
}
