/**
 * The stream source port: where transactions come from, one partition at a time.
 * Shaped like a broker partition (Kafka): records carry increasing offsets, the consumer owns its cursor,
 * and one stream workflow runs per source partition. Adapters: the simulated client feed (`sim:`) and a
 * Kafka topic partition (`kafka:<topic>:<partition>`, src/sources/kafka/).
 */

/** One record of a source partition, as received. */
export interface SourceRecord {
  /** Position in the partition: 0, 1, 2, … without gaps. */
  offset: number;
  /** When the source made the record available (epoch ms), for end-to-end latency. */
  emittedAtMs: number;
  /** The raw event text as received (JSON expected, not guaranteed): parsing and rejecting happen downstream. */
  payload: string;
}

export interface ReadRequest {
  /** Offset of the first record wanted: the consumer's cursor (the next offset it has not processed). */
  fromCursor: number;
  /** Size trigger: return as soon as this many records are available. */
  maxRows: number;
  /** Time trigger: return after this long with whatever is available (possibly nothing). */
  maxWaitMs: number;
  /** Aborts the wait (activity cancellation); `read` then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface ReadResult {
  /** Records in offset order starting at `fromCursor`, at most `maxRows`. */
  records: SourceRecord[];
  /**
   * The cursor after this read: the last record's offset + 1 (`fromCursor + records.length` for a gapless
   * source; a broker's offsets may skip, e.g. transaction markers), or `fromCursor` when nothing was read.
   */
  nextCursor: number;
  /**
   * The partition's high-water mark when the read returned: the offset the next record to be produced
   * will get (latest available offset + 1). Lag = `headCursor - nextCursor`.
   */
  headCursor: number;
}

/**
 * A partition of transaction events.
 *
 * Reads are repeatable: reading again from the same cursor returns the same records (same offsets,
 * same payloads), because a retried activity re-reads. The source never tracks what a consumer has
 * processed; the cursor lives in the stream workflow's state.
 */
export interface TransactionSource {
  /** Stable id of the partition, `<kind>:<client>:p<partition>` (e.g. `sim:acme:p0`); a simulated feed starts with `sim:`. */
  readonly id: string;
  /** A human label for logs and the UI. */
  describe(): string;
  /** Returns when `maxRows` records from `fromCursor` are available, or when `maxWaitMs` has passed. */
  read(request: ReadRequest): Promise<ReadResult>;
  /**
   * Optional: told that everything before `cursor` is durable in the warehouse. A broker records it for its own
   * tools (a Kafka consumer group's committed offset, so lag shows there); the cursor itself stays in the
   * workflow. Never throws and never blocks the batch.
   */
  acknowledge?(cursor: number): void;
  /** Releases connections and timers; later reads fail. */
  close(): Promise<void>;
}

/** Finds the source of a partition by id: a fixed map, or a registry that opens partitions as they appear. */
export interface SourceLookup {
  get(sourceId: string): TransactionSource | undefined;
}

/** Raised for a read the source can never satisfy (bad arguments, closed source); retrying does not help. */
export class SourceError extends Error {
  constructor(
    message: string,
    readonly code: 'BAD_REQUEST' | 'CLOSED' | 'CONFIG' | 'UNKNOWN_TOPIC',
    readonly sourceId: string,
  ) {
    super(message);
    this.name = 'SourceError';
  }
}
