/**
 * One Kafka topic partition behind the source port. Reads are stateless fetches at the workflow's cursor (the
 * client never joins the consumer group, so nothing rebalances under a running stream and a retried read returns
 * the same records); `acknowledge` records the durable cursor as the group's committed offset, so Kafka's own
 * tools show the lag.
 */
import type { Consumer } from '@platformatic/kafka';
import { SourceError, type ReadRequest, type ReadResult, type SourceLookup, type SourceRecord, type TransactionSource } from '../source.js';
import { kafkaSourceId, parseKafkaSourceId, type KafkaCluster } from './kafka-client.js';

/** Upper bound of bytes one fetch may return for the partition. */
const PARTITION_MAX_BYTES = 16 * 1024 * 1024;
/**
 * A fetch returns whole record batches up to its byte limit, all decoded by the client: asking for about the bytes
 * of the records wanted (from the sizes seen so far) keeps it from decoding a large backlog to keep a few.
 */
const fetchBytesFor = (rows: number, bytesPerRecord: number): number =>
  Math.min(PARTITION_MAX_BYTES, Math.max(64 * 1024, Math.ceil(rows * bytesPerRecord * 1.2)));

export class KafkaPartitionSource implements TransactionSource {
  readonly id: string;
  private closed = false;
  private committing: Promise<void> | null = null;
  private pendingCommit: number | null = null;
  private lastCommitted = -1;
  private fetcher: Consumer | null = null;
  /** Running estimate of a record's size on the wire (value plus record overhead). */
  private bytesPerRecord = 400;

  constructor(
    private readonly cluster: KafkaCluster,
    readonly topic: string,
    readonly partition: number,
    private readonly onCommitError: (error: unknown) => void = () => {},
  ) {
    this.id = kafkaSourceId(topic, partition);
  }

  describe(): string {
    return `Kafka ${this.cluster.settings.brokers.join(',')} topic ${this.topic} partition ${this.partition}`;
  }

  async read({ fromCursor, maxRows, maxWaitMs, signal }: ReadRequest): Promise<ReadResult> {
    if (this.closed) throw new SourceError('source is closed', 'CLOSED', this.id);
    if (!Number.isSafeInteger(fromCursor) || fromCursor < 0) throw new SourceError(`fromCursor must be an offset ≥ 0, got ${fromCursor}`, 'BAD_REQUEST', this.id);
    if (!Number.isSafeInteger(maxRows) || maxRows < 1) throw new SourceError(`maxRows must be an integer ≥ 1, got ${maxRows}`, 'BAD_REQUEST', this.id);
    const deadline = Date.now() + Math.max(0, maxWaitMs);
    const records: SourceRecord[] = [];
    let next = fromCursor;
    let head = fromCursor;
    // Fetch until the size trigger is met or the time trigger passes; the broker holds each fetch until data arrives.
    for (;;) {
      signal?.throwIfAborted();
      const fetched = await this.fetchOnce(next, maxRows - records.length, Math.max(0, deadline - Date.now()));
      head = fetched.head;
      records.push(...fetched.records);
      if (fetched.records.length > 0) next = fetched.records[fetched.records.length - 1]!.offset + 1;
      if (records.length >= maxRows || Date.now() >= deadline) break;
    }
    return { records, nextCursor: next, headCursor: Math.max(head, next) };
  }

  private async fetchOnce(fromCursor: number, maxRows: number, waitMs: number): Promise<{ records: SourceRecord[]; head: number }> {
    const topic = await this.cluster.topic(this.topic);
    const leader = topic.leaders[this.partition];
    if (leader === undefined) throw new SourceError(`topic ${this.topic} has no partition ${this.partition}`, 'BAD_REQUEST', this.id);
    // Its own connection: a broker answers one request per connection at a time, and a fetch waits for data.
    this.fetcher ??= this.cluster.fetcher();
    const bytes = fetchBytesFor(maxRows, this.bytesPerRecord);
    const response = await this.fetcher.fetch({
      node: leader,
      maxWaitTime: Math.min(waitMs, 5_000),
      minBytes: 1,
      maxBytes: bytes,
      topics: [
        {
          topicId: topic.id,
          partitions: [{ partition: this.partition, fetchOffset: BigInt(fromCursor), currentLeaderEpoch: -1, lastFetchedEpoch: -1, partitionMaxBytes: bytes }],
        },
      ],
    });
    const part = response.responses[0]?.partitions.find((p) => p.partitionIndex === this.partition);
    if (!part) return { records: [], head: fromCursor };
    if (part.errorCode !== 0) {
      // A stale leader or topic id: refresh the metadata, and let the activity's retry read again.
      await this.cluster.topic(this.topic, true).catch(() => undefined);
      throw new Error(`fetch of ${this.id} at offset ${fromCursor} failed with Kafka error code ${part.errorCode}`);
    }
    const records: SourceRecord[] = [];
    let wireBytes = 0;
    let decoded = 0;
    for (const batch of part.records ?? []) {
      wireBytes += batch.length;
      decoded += batch.records.length;
      for (const r of batch.records) {
        const offset = Number(batch.firstOffset) + r.offsetDelta;
        // A fetch returns whole record batches: skip what lies before the cursor.
        if (offset < fromCursor || records.length >= maxRows) continue;
        records.push({ offset, emittedAtMs: Number(batch.firstTimestamp + r.timestampDelta), payload: r.value?.toString('utf8') ?? '' });
      }
    }
    if (decoded > 0) this.bytesPerRecord = Math.max(50, wireBytes / decoded);
    return { records, head: Number(part.highWatermark) };
  }

  acknowledge(cursor: number): void {
    if (cursor <= this.lastCommitted || this.closed) return;
    this.pendingCommit = Math.max(this.pendingCommit ?? -1, cursor);
    if (this.committing) return;
    // One commit in flight per partition; the latest cursor waiting behind it wins.
    const loop = async (): Promise<void> => {
      while (this.pendingCommit !== null && !this.closed) {
        const offset = this.pendingCommit;
        this.pendingCommit = null;
        try {
          await this.cluster.commit(this.topic, this.partition, offset);
          this.lastCommitted = Math.max(this.lastCommitted, offset);
        } catch (error) {
          this.onCommitError(error);
        }
      }
    };
    this.committing = loop().finally(() => {
      this.committing = null;
    });
  }

  /** Waits for the commit in flight, if any (tests, shutdown). */
  async flushCommits(): Promise<void> {
    while (this.committing) await this.committing;
  }

  async close(): Promise<void> {
    await this.flushCommits();
    this.closed = true;
    await this.fetcher?.close(true);
  }
}

/**
 * The partitions of a worker's topics, opened on first use: a partition added to the topic later is read by its new
 * stream workflow without restarting the worker.
 */
export class KafkaSources implements SourceLookup {
  private readonly open = new Map<string, KafkaPartitionSource>();

  constructor(
    readonly cluster: KafkaCluster,
    private readonly onCommitError?: (error: unknown) => void,
  ) {}

  get(sourceId: string): KafkaPartitionSource | undefined {
    const existing = this.open.get(sourceId);
    if (existing) return existing;
    const parsed = parseKafkaSourceId(sourceId);
    if (!parsed) return undefined;
    const source = new KafkaPartitionSource(this.cluster, parsed.topic, parsed.partition, this.onCommitError);
    this.open.set(sourceId, source);
    return source;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.open.values()].map((s) => s.close()));
    await this.cluster.close();
  }
}
