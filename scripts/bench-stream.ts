/**
 * Stream benchmark on the local default (DuckDB file warehouse, simulated feed), printing figures:
 *
 * 1. sustained: the feed emits at a fixed rate for a while; the stream must keep up. Throughput and freshness
 *    (emitted → durable in the warehouse, per event, p50/p99) through Temporal and through a bare loop.
 * 2. capacity: a backlog drained as fast as possible, through Temporal and through the bare loop; their ratio
 *    is what Temporal costs.
 *
 *   npm run bench:stream -- [--source sim|kafka] [--rate 25000] [--seconds 30] [--max-rows 5000] [--max-wait-ms 100] [--backlog 300000] [--memory-limit 256MB]
 *   npm run bench:stream -- --warehouse bigquery [--events 100000] [--max-rows 10000] [--merge-every-ms 5000]
 *
 * With `--source kafka` the simulated client produces into a one-partition topic of a real broker (scripts/kafka.sh)
 * and the stream consumes from it; freshness is then from the record's broker timestamp (produced) to durable.
 * Starts its own Temporal dev server (and broker) on free ports and stops them at the end.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { streamBatchOf, type StreamMetrics } from '../src/activities/stream-activities.js';
import { parseStreamRecords } from '../src/domain/stream-event.js';
import { LocalDirLanding } from '../src/files/landing.js';
import { startStreamWorkflow } from '../src/ops/start-stream.js';
import { ensureTopic } from '../src/sources/kafka/feed-producer.js';
import { KafkaCluster } from '../src/sources/kafka/kafka-client.js';
import { KafkaSources } from '../src/sources/kafka/kafka-source.js';
import { SimulatedFeed, type SimulatedFeedConfig } from '../src/sources/simulated-feed.js';
import type { ReadRequest, ReadResult, TransactionSource } from '../src/sources/source.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/duckdb-warehouse.js';
import { workflowBundle } from '../src/workers/bundle.js';
import { createPipelineWorker } from '../src/workers/pipeline-worker.js';
import { startKafka, startTemporal, type KafkaServer } from '../test/support/servers.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '25000' },
    seconds: { type: 'string', default: '30' },
    'max-rows': { type: 'string', default: '10000' },
    'max-wait-ms': { type: 'string', default: '100' },
    backlog: { type: 'string', default: '300000' },
    'memory-limit': { type: 'string' },
    source: { type: 'string', default: 'sim' },
    /** duckdb (default) or bigquery (the emulator, Storage Write sink: scripts/bench-stream-bigquery.ts). */
    warehouse: { type: 'string', default: 'duckdb' },
    events: { type: 'string', default: '100000' },
    'merge-every-ms': { type: 'string', default: '5000' },
  },
});
const SOURCE = args.source === 'kafka' ? 'kafka' : 'sim';
let kafka: KafkaServer | null = null;
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const MAX_ROWS = Number(args['max-rows']);
const MAX_WAIT_MS = Number(args['max-wait-ms']);
const BACKLOG = Number(args.backlog);
/** The warehouse DuckDB's memory_limit (DUCKDB_MEMORY_LIMIT); the warehouse default when absent. */
const openBenchWarehouse = (path: string) =>
  DuckDbWarehouse.open({ path, ...(args['memory-limit'] ? { memoryLimit: args['memory-limit'] } : {}) });
const TIME_ZONE = 'America/New_York';

Runtime.install({ logger: new DefaultLogger('WARN') });

interface RunFigures {
  events: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** From the last event emitted to its batch being durable: small when the stream kept up with the feed. */
  tailMs: number;
}

/** Per-event latencies (emitted → durable), collected in one flat array. */
class LatencyRecorder implements StreamMetrics {
  latencies: number[] = [];
  firstEmitted = Infinity;
  lastEmitted = 0;
  lastDurable = 0;
  batchWritten(input: Parameters<StreamMetrics['batchWritten']>[0]): void {
    for (const emitted of input.emittedAtMs) {
      this.latencies.push(input.durableAtMs - emitted);
      if (emitted < this.firstEmitted) this.firstEmitted = emitted;
      if (emitted > this.lastEmitted) this.lastEmitted = emitted;
    }
    if (input.durableAtMs > this.lastDurable) this.lastDurable = input.durableAtMs;
  }
  figures(events: number, startedAt: number): RunFigures {
    const sorted = Float64Array.from(this.latencies).sort();
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    // From the first event being available (or the run's start, for a backlog) to the last batch being durable.
    const seconds = (this.lastDurable - Math.max(startedAt, this.firstEmitted)) / 1000;
    return {
      events, seconds, perSecond: events / seconds, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1] ?? NaN,
      tailMs: this.lastDurable - this.lastEmitted,
    };
  }
}

const feedConfig = (clientId: string, rate: number | 'unbounded', totalEvents: number, startMs: number): SimulatedFeedConfig => ({
  clientId, seed: 99, rate, totalEvents, startMs, businessDate: '2026-11-21', timeZone: TIME_ZONE,
});

const tempDb = (): { path: string; dir: string } => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-stream-'));
  return { dir, path: join(dir, 'warehouse.duckdb') };
};

/**
 * A source held back until `begin()`: reads before it wait briefly and return nothing. The stream is started first
 * (its workflow sandbox built, its first read waiting), then the feed begins, so freshness is measured on a running
 * stream, as in production, and the worker's start-up is not counted as lag.
 */
class GatedSource implements TransactionSource {
  private inner: TransactionSource | null = null;
  private markRead!: () => void;
  /** Settles when the stream has asked for records for the first time. */
  readonly firstRead = new Promise<void>((resolve) => (this.markRead = resolve));
  constructor(
    readonly id: string,
    private readonly label: string,
    private readonly closeAll: () => Promise<void>,
  ) {}
  open(source: TransactionSource): void {
    this.inner = source;
  }
  describe(): string {
    return this.label;
  }
  async read(request: ReadRequest): Promise<ReadResult> {
    this.markRead();
    if (this.inner !== null) return this.inner.read(request);
    await new Promise((r) => setTimeout(r, Math.min(request.maxWaitMs, 50)));
    return { records: [], nextCursor: request.fromCursor, headCursor: request.fromCursor };
  }
  acknowledge(cursor: number): void {
    this.inner?.acknowledge?.(cursor);
  }
  close(): Promise<void> {
    return this.closeAll();
  }
}

/**
 * The source a run reads, gated until `begin()`: the simulated feed itself, its clock starting at `begin()`; or
 * (`--source kafka`) a fresh one-partition topic the feed is produced into by a separate process: from `begin()` at
 * its rate for a sustained run, all of it before the run for a backlog.
 */
const openSource = async (makeConfig: () => SimulatedFeedConfig): Promise<{ source: GatedSource; begin: () => void }> => {
  const config = makeConfig();
  if (!kafka) {
    const probe = new SimulatedFeed(config);
    const source = new GatedSource(probe.id, probe.describe(), async () => {});
    return { source, begin: () => source.open(new SimulatedFeed({ ...makeConfig(), startMs: Date.now() })) };
  }
  const cluster = new KafkaCluster({ brokers: [kafka.broker], groupId: 'bench' });
  const topic = `bench-${randomUUID().slice(0, 8)}`;
  await ensureTopic(cluster, topic, 1);
  const producer = await forkProducer(kafka.broker, topic, config);
  const sources = new KafkaSources(cluster);
  const partition = sources.get(`kafka:${topic}:0`)!;
  const source = new GatedSource(partition.id, partition.describe(), async () => {
    producer.stop();
    await sources.close();
    await cluster.close();
  });
  if (config.rate === 'unbounded') {
    await producer.begin();
    while ((await partition.read({ fromCursor: 0, maxRows: 1, maxWaitMs: 0 })).headCursor < (config.totalEvents ?? 0)) await new Promise((r) => setTimeout(r, 200));
    return { source, begin: () => source.open(partition) };
  }
  return {
    source,
    begin: () => {
      void producer.begin();
      source.open(partition);
    },
  };
};

/**
 * The simulated client in a process of its own (scripts/lib/bench-producer.ts), as a client's producer is: its
 * CPU is not this process's event loop. `begin()` starts production; for a backlog it settles once all is produced.
 */
const forkProducer = async (broker: string, topic: string, config: SimulatedFeedConfig): Promise<{ begin: () => Promise<void>; stop: () => void }> => {
  const child = fork(join(import.meta.dirname, 'lib/bench-producer.ts'), [JSON.stringify({ broker, topic, config })], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: { ready?: boolean; produced?: number; error?: string }[] = [];
  const waiters: (() => void)[] = [];
  child.on('message', (m: { ready?: boolean; produced?: number; error?: string }) => {
    if (m.error !== undefined) console.warn(`simulated client: ${m.error}`);
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the simulated client exited (code ${code})`))));
  const until = async (test: (m: { ready?: boolean; produced?: number }) => boolean): Promise<void> => {
    while (!messages.some(test)) await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
  };
  await until((m) => m.ready === true);
  return {
    begin: async () => {
      child.send({ begin: true });
      if (config.rate === 'unbounded') await until((m) => m.produced !== undefined);
    },
    stop: () => {
      child.removeAllListeners('exit');
      child.kill('SIGTERM');
    },
  };
};

/** The micro-batch loop without Temporal: read → parse → writeStreamBatch, one batch after another. */
const bareLoop = async (makeConfig: () => SimulatedFeedConfig, total: number): Promise<RunFigures> => {
  const db = tempDb();
  const warehouse = await openBenchWarehouse(db.path);
  const { source: feed, begin } = await openSource(makeConfig);
  const recorder = new LatencyRecorder();
  begin();
  const startedAt = Date.now();
  try {
    for (let cursor = 0; cursor < total; ) {
      const read = await feed.read({ fromCursor: cursor, maxRows: Math.min(MAX_ROWS, total - cursor), maxWaitMs: MAX_WAIT_MS });
      if (read.records.length === 0) continue;
      const parsed = parseStreamRecords({ sourceId: feed.id, records: read.records, timeZone: TIME_ZONE });
      await warehouse.writeStreamBatch(streamBatchOf({ sourceId: feed.id, fromCursor: cursor, toCursor: read.nextCursor, parsed }));
      recorder.batchWritten({ sourceId: feed.id, emittedAtMs: read.records.map((r) => r.emittedAtMs), durableAtMs: Date.now(), inserted: 0, late: 0, rejected: 0, conflicts: 0, lag: 0 });
      cursor = read.nextCursor;
    }
  } finally {
    await warehouse.close();
    await feed.close();
    rmSync(db.dir, { recursive: true, force: true });
  }
  return recorder.figures(total, startedAt);
};

/** The same through the stream workflow on a real dev server, the worker in this process. */
const throughTemporal = async (address: string, makeConfig: () => SimulatedFeedConfig, total: number): Promise<RunFigures & { batches: number }> => {
  const db = tempDb();
  const warehouse = await openBenchWarehouse(db.path);
  await workflowBundle();
  const { source: feed, begin } = await openSource(makeConfig);
  const recorder = new LatencyRecorder();
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const taskQueue = `bench-${randomUUID()}`;
  const worker = await createPipelineWorker({
    connection: nativeConnection, namespace: 'default', taskQueue,
    deps: { warehouse, landing: new LocalDirLanding(join(db.dir, 'landing')), sources: new Map([[feed.id, feed]]), timeZone: TIME_ZONE, workDir: db.dir, metrics: recorder },
  });
  const running = worker.run();
  try {
    const started = await startStreamWorkflow(client, {
      taskQueue, sourceId: feed.id, clientId: makeConfig().clientId ?? 'bench', maxRows: MAX_ROWS, maxWaitMs: MAX_WAIT_MS, stopAt: total,
    });
    // The stream is running and waiting for records: now the feed begins.
    await feed.firstRead;
    begin();
    const startedAt = Date.now();
    const result = await started.handle.result();
    return { ...recorder.figures(total, startedAt), batches: result.batches };
  } finally {
    worker.shutdown();
    await running;
    await nativeConnection.close();
    await connection.close();
    await warehouse.close();
    await feed.close();
    rmSync(db.dir, { recursive: true, force: true });
  }
};

const row = (name: string, f: RunFigures): string =>
  `${name.padEnd(22)} ${String(f.events).padStart(9)} ev  ${f.seconds.toFixed(1).padStart(6)} s  ${Math.round(f.perSecond).toLocaleString('en-US').padStart(8)} tx/s` +
  `  freshness p50 ${Math.round(f.p50Ms).toString().padStart(5)} ms  p99 ${Math.round(f.p99Ms).toString().padStart(5)} ms  max ${Math.round(f.maxMs).toString().padStart(5)} ms`;

const main = async (): Promise<void> => {
  if (args.warehouse === 'bigquery') {
    const { benchBigQuery } = await import('./bench-stream-bigquery.js');
    await benchBigQuery({ events: Number(args.events), maxRows: MAX_ROWS, mergeEveryMs: Number(args['merge-every-ms']) });
    return;
  }
  if (args.warehouse !== 'duckdb') throw new Error(`--warehouse must be duckdb or bigquery, got ${String(args.warehouse)}`);
  console.log(`stream benchmark: DuckDB file warehouse, ${SOURCE === 'kafka' ? 'Kafka broker fed by the simulated client' : 'simulated feed'}, maxRows ${MAX_ROWS}, maxWaitMs ${MAX_WAIT_MS}, memory_limit ${args['memory-limit'] ?? 'default'}`);
  const server = await startTemporal();
  if (SOURCE === 'kafka') kafka = await startKafka();
  await workflowBundle();
  try {
    const total = RATE * SECONDS;
    console.log(`\n1. sustained: ${RATE.toLocaleString('en-US')} events/s for ${SECONDS} s (${total.toLocaleString('en-US')} events)`);
    const sustainedTemporal = await throughTemporal(server.address, () => feedConfig('benchs', RATE, total, Date.now()), total);
    console.log(row('through Temporal', sustainedTemporal), ` (${sustainedTemporal.batches} batches)`);
    const sustainedBare = await bareLoop(() => feedConfig('benchb', RATE, total, Date.now()), total);
    console.log(row('bare loop', sustainedBare));

    console.log(`\n2. capacity: a backlog of ${BACKLOG.toLocaleString('en-US')} events drained as fast as possible`);
    const capacityTemporal = await throughTemporal(server.address, () => feedConfig('benchc', 'unbounded', BACKLOG, Date.now()), BACKLOG);
    console.log(row('through Temporal', capacityTemporal), ` (${capacityTemporal.batches} batches)`);
    const capacityBare = await bareLoop(() => feedConfig('benchd', 'unbounded', BACKLOG, Date.now()), BACKLOG);
    console.log(row('bare loop', capacityBare));

    const cost = 1 - capacityTemporal.perSecond / capacityBare.perSecond;
    console.log(`\nTemporal / bare capacity: ${(capacityTemporal.perSecond / capacityBare.perSecond).toFixed(3)} (Temporal costs ${(cost * 100).toFixed(1)}%)`);
    // Kept up: the last event was durable within 2 s of being emitted, so the stream never fell behind the feed.
    const keptUp = sustainedTemporal.tailMs < 2_000;
    console.log(`through Temporal: last event durable ${Math.round(sustainedTemporal.tailMs)} ms after it was emitted (kept up: ${keptUp ? 'yes' : 'no'})`);
    console.log(`targets: ≥ 25,000 tx/s sustained: ${RATE >= 25_000 && keptUp ? 'met' : 'NOT met'};` +
      ` p99 freshness < 2 s: ${sustainedTemporal.p99Ms < 2_000 ? 'met' : 'NOT met'}; Temporal ≤ 10%: ${cost <= 0.1 ? 'met' : 'NOT met'}`);
  } finally {
    await server.stop();
    await kafka?.stop();
  }
};

await main();
