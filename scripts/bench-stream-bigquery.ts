/**
 * Stream benchmark on the BigQuery adapter against the local emulator (`npm run bench:stream -- --warehouse bigquery`):
 * a backlog of simulated events written batch after batch through the Storage Write sink while the classification
 * loop runs, then classified to the end. Prints throughput and the counts that carry over to BigQuery: append
 * requests, rows and bytes per second, statements per second and DML statements per table per 10 s. The emulator's
 * speed is not BigQuery's; the counts are the code's.
 */
import { parseStreamRecords } from '../src/domain/stream-event.js';
import { streamBatchOf } from '../src/activities/stream-activities.js';
import { SimulatedFeed } from '../src/sources/simulated-feed.js';
import { BigQueryWarehouse } from '../src/warehouse/bigquery/bigquery-warehouse.js';
import type { MergeOutcome } from '../src/warehouse/bigquery/stream-merge.js';
import { startEmulator } from '../test/support/servers.js';

export interface BigQueryBenchOptions {
  events: number;
  maxRows: number;
  mergeEveryMs: number;
}

const TIME_ZONE = 'America/New_York';

export const benchBigQuery = async (o: BigQueryBenchOptions): Promise<void> => {
  console.log(`stream benchmark: BigQuery adapter on the emulator, Storage Write sink, ${o.events.toLocaleString('en-US')} events,` +
    ` batches of ${o.maxRows}, classification every ${o.mergeEveryMs} ms`);
  const emulator = await startEmulator();
  const projectId = process.env.BQ_EMULATOR_PROJECT ?? 'local-project';
  const merged = { events: 0, runs: 0, yielded: 0, failed: 0 };
  const onMerge = (r: MergeOutcome | { outcome: 'failed'; error: unknown }): void => {
    if (r.outcome === 'merged') {
      merged.events += r.counts.events;
      merged.runs += 1;
    } else if (r.outcome === 'yielded') merged.yielded += 1;
    else if (r.outcome === 'failed') {
      merged.failed += 1;
      console.error('classification failed:', r.error);
    }
  };
  const warehouse = await BigQueryWarehouse.open({
    projectId, datasetId: `bench_${process.pid}`, location: 'US', apiEndpoint: emulator.endpoint,
    streamSink: { grpcEndpoint: `127.0.0.1:${emulator.grpcPort}`, mergeEveryMs: o.mergeEveryMs, settleMs: 20_000, onMerge },
  });
  const path = warehouse.streamPath;
  if (!path) throw new Error('the stream path is not configured');
  try {
    const feed = new SimulatedFeed({ clientId: 'benchbq', seed: 99, rate: 'unbounded', totalEvents: o.events, startMs: Date.now(), businessDate: '2026-11-21', timeZone: TIME_ZONE });
    const statementsBefore = path.statementStats.statements;
    const started = Date.now();
    let cursor = 0;
    let events = 0;
    while (cursor < o.events) {
      const read = await feed.read({ fromCursor: cursor, maxRows: Math.min(o.maxRows, o.events - cursor), maxWaitMs: 0 });
      const parsed = parseStreamRecords({ sourceId: feed.id, records: read.records, timeZone: TIME_ZONE });
      await warehouse.writeStreamBatch(streamBatchOf({ sourceId: feed.id, fromCursor: cursor, toCursor: read.nextCursor, parsed }));
      events += parsed.events.length;
      cursor = read.nextCursor;
    }
    const writeSeconds = (Date.now() - started) / 1000;
    const s = path.sink.stats;
    console.log(`\nwrite: ${events.toLocaleString('en-US')} valid events in ${writeSeconds.toFixed(1)} s = ${Math.round(events / writeSeconds).toLocaleString('en-US')} events/s`);
    console.log(`  appends: ${s.batches} batches, ${s.requests} AppendRows requests (${(s.requests / writeSeconds).toFixed(1)}/s), ` +
      `${s.rows.toLocaleString('en-US')} rows, ${(s.bytes / 1e6).toFixed(1)} MB (${(s.bytes / 1e6 / writeSeconds).toFixed(2)} MB/s)`);
    console.log(`  statements during the writes: ${path.statementStats.statements - statementsBefore} (classification runs only; no DML per batch)`);

    // Classify to the end: runs until every appended event is in a run's counts.
    const drainStarted = Date.now();
    while (merged.events < events && Date.now() - drainStarted < 600_000) await new Promise((r) => setTimeout(r, 250));
    const totalSeconds = (Date.now() - started) / 1000;
    const st = path.statementStats;
    console.log(`\nclassification: ${merged.events.toLocaleString('en-US')} events in ${merged.runs} runs (${merged.yielded} yielded, ${merged.failed} failed); ` +
      `all classified ${((Date.now() - drainStarted) / 1000).toFixed(1)} s after the last append`);
    console.log(`  statements: ${st.statements} in ${totalSeconds.toFixed(1)} s = ${(st.statements / totalSeconds).toFixed(2)}/s`);
    console.log(`  DML per table per 10 s: ${Object.entries(st.dmlByTable).map(([t, n]) => `${t} ${((n * 10) / totalSeconds).toFixed(2)}`).join(', ')} (limit 25)`);
    const counts = await warehouse.countSideTables();
    console.log(`  side tables: ${counts.lateArrivals} late arrivals, ${counts.conflicts} conflicts, ${counts.rejects} rejects, ${counts.batches} batch rows`);
  } finally {
    await warehouse.close();
    await emulator.stop();
  }
};
