/**
 * The BigQuery stream sink: a micro-batch becomes appends to the default stream of `stream_events` (valid events),
 * `stream_rejects` and `stream_batches` through the Storage Write API; no DML per batch. Exactly once in effect:
 * the default stream is at-least-once (a retried batch may append its rows again), and everything downstream
 * (classification, the freshness view) counts one row per (source_id, stream_offset) and one accepted version per
 * transaction_id. Classification runs separately (stream-merge.ts).
 */
import type { BigQuery, Dataset } from '@google-cloud/bigquery';
import type { StreamBatch, StreamBatchResult } from '../port.js';
import { DEFAULT_SETTLE_MS, StreamMerge, startMergeLoop, type RunSql } from './stream-merge.js';
import { STREAM_TABLES, dmlTargets, freshnessViewStatement, streamTableMetadata, type TableRef } from './stream-sql.js';
import { StorageWriteAppender, type AppendRow, type AppendStats, type RowAppender } from './storage-write.js';

const DAY_MS = 86_400_000;

/** DATE as the Storage Write API encodes it: days since 1970-01-01. */
export const epochDays = (date: string): number => Date.parse(`${date}T00:00:00Z`) / DAY_MS;

/**
 * TIMESTAMP as microseconds since the epoch, UTC. The contract allows up to 9 fraction digits; BigQuery keeps 6, so
 * digits beyond the sixth are dropped (truncated, not rounded), exactly as the DML path and DuckDB do.
 */
export const epochMicros = (ts: string): number => {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(ts);
  if (!m) throw new Error(`not an RFC 3339 timestamp: ${JSON.stringify(ts)}`);
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  const fraction = Number((m[2] ?? '').padEnd(6, '0').slice(0, 6));
  return seconds * 1000 + fraction;
};

export interface SinkStats extends AppendStats {
  batches: number;
}

export class BigQueryStreamSink {
  readonly stats: SinkStats = { batches: 0, requests: 0, rows: 0, bytes: 0 };

  /**
   * @param maxAppendMs a batch whose appends took longer fails (and is retried): its rows may have become visible
   *   after a classification window closed over their `received_at`. Keep it below the classification's settle time.
   */
  constructor(
    private readonly appender: RowAppender,
    private readonly now: () => Date = () => new Date(),
    private readonly maxAppendMs = DEFAULT_SETTLE_MS / 2,
  ) {}

  /** Rows of `stream_events` for a batch; `received_at` is the same for the whole batch. */
  static eventRows(batch: StreamBatch, receivedMicros: number): AppendRow[] {
    return batch.events.map((e) => ({
      transaction_id: e.transactionId,
      account_id: e.accountId,
      event_ts: epochMicros(e.eventTs),
      event_date: epochDays(e.eventDate),
      amount: e.amount,
      currency: e.currency,
      merchant_id: e.merchantId,
      description: e.description,
      source_id: batch.sourceId,
      batch_id: batch.batchId,
      stream_offset: e.offset,
      received_at: receivedMicros,
    }));
  }

  /**
   * Appends the batch. The counts say what was accepted into the stream table (`inserted`: events waiting for
   * classification); duplicates, conflicts and late arrivals are counted by the classification runs (`stream_merges`).
   */
  async write(batch: StreamBatch): Promise<StreamBatchResult> {
    const received = this.now().getTime() * 1000;
    const appended = await Promise.all([
      this.appender.append('stream_events', BigQueryStreamSink.eventRows(batch, received)),
      this.appender.append(
        'stream_rejects',
        batch.rejects.map((r) => ({
          source_id: batch.sourceId, batch_id: batch.batchId, stream_offset: r.offset, reason: r.reason, raw: r.raw, received_at: received,
        })),
      ),
    ]);
    // The batch row last: present only when the batch's rows are.
    const batchRow = await this.appender.append('stream_batches', [
      {
        batch_id: batch.batchId, source_id: batch.sourceId, from_cursor: batch.fromCursor, to_cursor: batch.toCursor,
        inserted: batch.events.length, duplicates: 0, conflicts: 0, late: 0, rejected: batch.rejects.length,
        unknown_fields: batch.unknownFields, written_at: received,
      },
    ]);
    this.stats.batches += 1;
    for (const s of [...appended, batchRow]) {
      this.stats.requests += s.requests;
      this.stats.rows += s.rows;
      this.stats.bytes += s.bytes;
    }
    const tookMs = this.now().getTime() - received / 1000;
    if (tookMs > this.maxAppendMs) {
      // A plain error: the activity retries, the retry's rows are classified, these are removed as repeats.
      throw new Error(`batch ${batch.batchId}: appends took ${tookMs} ms, over ${this.maxAppendMs} ms; appending again`);
    }
    return {
      inserted: batch.events.length,
      duplicates: 0,
      conflicts: 0,
      late: 0,
      rejected: batch.rejects.length,
      alreadyApplied: false,
      toCursor: batch.toCursor,
    };
  }
}

/** A batch id as a script literal: batch ids are `source@offset` text; anything else is refused. */
const batchIdLiteral = (id: string): string => {
  if (!/^[A-Za-z0-9_.:@/-]{1,256}$/.test(id)) throw new Error(`batch id cannot be written into a statement: ${JSON.stringify(id)}`);
  return id;
};

/** Runs one statement or script as a query job and returns its rows (errors raised, also the emulator's). */
export const queryRunner =
  (bq: BigQuery, location: string, labels: Record<string, string> = {}): RunSql =>
  async (sql) => {
    const [job] = await bq.createQueryJob({ query: sql, useLegacySql: false, location, labels: { role: 'stream-sink', ...labels } });
    const [rows] = await job.getQueryResults();
    return rows as Array<Record<string, unknown>>;
  };

/** Creates the sink's tables when missing and (re)creates the freshness view; safe at every start. */
export const migrateStreamSink = async (dataset: Dataset, run: RunSql, t: TableRef): Promise<void> => {
  for (const spec of STREAM_TABLES) {
    const [exists] = await dataset.table(spec.name).exists();
    if (exists) continue;
    await dataset.createTable(spec.name, streamTableMetadata(spec)).catch((error: unknown) => {
      if ((error as { code?: number }).code !== 409) throw error;
    });
  }
  await run(freshnessViewStatement(t));
};

export interface StreamPathOptions {
  projectId: string;
  datasetId: string;
  location: string;
  /** host:port of the emulator's Storage Write gRPC endpoint; production leaves it out. */
  grpcEndpoint?: string;
  /** Classification cadence; 0 runs no loop in this process (another worker classifies). Default 60 s. */
  mergeEveryMs?: number;
  settleMs?: number;
  /** Days of event dates around each event's in which its id is looked for (default CROSS_DATE_DAYS, stream-sql.ts). */
  crossDateDays?: number;
  /** Longest a batch's appends may take (default: half the settle time); see BigQueryStreamSink. */
  maxAppendMs?: number;
  /**
   * Classify each batch right after appending it and answer with its counts, as the DML path does (the contract
   * suite and small set-ups); a batch already recorded is answered from its record. Production leaves it off and
   * classifies on the cadence.
   */
  classifyOnWrite?: boolean;
  /** Called after each classification run (metrics, logs). */
  onMerge?: Parameters<typeof startMergeLoop>[2];
}

/** Statements the stream path sent: all, and data-modifying ones per target table (what the DML limit counts). */
export interface StatementStats {
  statements: number;
  dmlByTable: Record<string, number>;
}

/** The sink, its appender and its classification loop, as the BigQuery adapter composes them. */
export class BigQueryStreamPath {
  readonly statementStats: StatementStats = { statements: 0, dmlByTable: {} };
  readonly sink: BigQueryStreamSink;
  readonly merge: StreamMerge;
  private readonly appender: StorageWriteAppender;
  private readonly run: RunSql;
  private loop: { stop: () => Promise<void> } | undefined;

  constructor(
    private readonly bq: BigQuery,
    private readonly t: TableRef,
    private readonly options: StreamPathOptions,
    /** How statements run (the adapter passes its connection: labels, timeout, ids); default: plain query jobs. */
    runSql: RunSql = queryRunner(bq, options.location),
  ) {
    this.appender = new StorageWriteAppender({
      projectId: options.projectId,
      datasetId: options.datasetId,
      ...(options.grpcEndpoint ? { grpcEndpoint: options.grpcEndpoint } : {}),
    });
    this.sink = new BigQueryStreamSink(this.appender, () => new Date(), options.maxAppendMs ?? (options.settleMs ?? DEFAULT_SETTLE_MS) / 2);
    this.run = (sql) => {
      this.statementStats.statements += 1;
      for (const [table, n] of Object.entries(dmlTargets(sql))) {
        this.statementStats.dmlByTable[table] = (this.statementStats.dmlByTable[table] ?? 0) + n;
      }
      return runSql(sql);
    };
    this.merge = new StreamMerge({
      run: this.run,
      t,
      runIdPrefix: `merge-${process.pid}`,
      ...(options.crossDateDays !== undefined ? { crossDateDays: options.crossDateDays } : {}),
      // Classifying on write: everything appended so far is settled (this process appended it and saw it answered).
      ...(options.classifyOnWrite ? { settleMs: 0 } : options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
    });
  }

  /** Creates the sink's tables and view, then starts the classification loop. */
  async migrate(): Promise<void> {
    await migrateStreamSink(this.bq.dataset(this.options.datasetId, { location: this.options.location }), this.run, this.t);
    const every = this.options.mergeEveryMs ?? 60_000;
    if (every > 0 && !this.loop) this.loop = startMergeLoop(this.merge, every, this.options.onMerge);
  }

  async write(batch: StreamBatch): Promise<StreamBatchResult> {
    if (!this.options.classifyOnWrite) return this.sink.write(batch);
    const [stored] = await this.run(
      `SELECT inserted, to_cursor FROM ${this.t('stream_batches')} WHERE batch_id = '${batchIdLiteral(batch.batchId)}' LIMIT 1`,
    );
    if (stored) {
      return { inserted: Number(stored.inserted), duplicates: 0, conflicts: 0, late: 0, rejected: batch.rejects.length, alreadyApplied: true, toCursor: Number(stored.to_cursor) };
    }
    const appended = await this.sink.write(batch);
    for (let attempt = 1; ; attempt++) {
      const result = await this.merge.tick();
      if (result.outcome === 'merged') {
        const { inserted, duplicates, conflicts, late } = result.counts;
        return { ...appended, inserted, duplicates, conflicts, late };
      }
      if (result.outcome === 'empty') return { ...appended, inserted: 0 };
      // Another writer held the fence (a file's replacement): classify again shortly, as the next tick would.
      if (attempt >= 20) throw new Error(`batch ${batch.batchId}: classification kept yielding: ${result.reason}`);
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }

  async close(): Promise<void> {
    await this.loop?.stop();
    this.loop = undefined;
    await this.appender.close();
  }
}
