/**
 * The stream's freshness while a large file is validated and replaced in the same worker process, on one shared task
 * queue (as before the split) and on separate stream and files queues. Prints figures; asserts nothing.
 *
 *   npx tsx scripts/bench-isolation.ts [--rows 10000000] [--rate 2000] [--queues shared,split]
 *
 * Per mode: a fresh DuckDB file warehouse, a stream at `--rate` events/s; 5 s later the file workflow starts; the
 * stream runs until 5 s after the file is applied. Freshness is per event, emitted → durable; "during the file" counts
 * the events emitted between the file's start and its end. Starts its own Temporal dev server on free ports.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { StreamMetrics } from '../src/activities/stream-activities.js';
import { workloadQueue, type FileWorkflowFn, type QueueName } from '../src/domain/workflow-api.js';
import { generateFile } from '../src/files/generate.js';
import { intakeInput } from '../src/files/intake.js';
import { LocalDirLanding } from '../src/files/landing.js';
import { startStreamWorkflow } from '../src/ops/start-stream.js';
import { SimulatedFeed } from '../src/sources/simulated-feed.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/duckdb-warehouse.js';
import { workflowBundle } from '../src/workers/bundle.js';
import { createPipelineWorker, type PipelineDeps } from '../src/workers/pipeline-worker.js';
import { startTemporal } from '../test/support/servers.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    rate: { type: 'string', default: '2000' },
    queues: { type: 'string', default: 'shared,split' },
  },
});
const ROWS = Number(args.rows);
const RATE = Number(args.rate);
const DATE = '2026-11-20';
const root = join(import.meta.dirname, '..');

Runtime.install({ logger: new DefaultLogger('WARN') });

const cachedFile = async (rows: number): Promise<{ dir: string; fileId: string }> => {
  const dir = join(root, '.data/bench', `recon-${rows}`);
  const fileId = `acme-recon-${DATE}-1`;
  if (!existsSync(join(dir, `${fileId}.manifest.json`))) {
    const t0 = performance.now();
    process.stdout.write(`generating ${rows.toLocaleString('en-US')} rows into ${dir} ... `);
    await generateFile({ dir, kind: 'reconciliation', covers: [DATE], rows, seed: 9, fileId });
    console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { dir, fileId };
};

class Freshness implements StreamMetrics {
  readonly samples: Array<[emittedAtMs: number, latencyMs: number]> = [];
  batchWritten(input: Parameters<StreamMetrics['batchWritten']>[0]): void {
    for (const emitted of input.emittedAtMs) this.samples.push([emitted, input.durableAtMs - emitted]);
  }
  figures(from = -Infinity, to = Infinity): { events: number; p50: number; p99: number; max: number } {
    const sorted = Float64Array.from(this.samples.filter(([e]) => e >= from && e <= to).map(([, l]) => l)).sort();
    const at = (q: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
    return { events: sorted.length, p50: at(0.5), p99: at(0.99), max: Math.round(sorted[sorted.length - 1] ?? NaN) };
  }
}

const runMode = async (address: string, mode: 'shared' | 'split', file: { dir: string; fileId: string }): Promise<void> => {
  const scratch = await mkdtemp(join(tmpdir(), 'bench-isolation-'));
  const landingDir = join(scratch, 'landing');
  await mkdir(landingDir, { recursive: true });
  await link(join(file.dir, `${file.fileId}.csv`), join(landingDir, `${file.fileId}.csv`));
  await link(join(file.dir, `${file.fileId}.manifest.json`), join(landingDir, `${file.fileId}.manifest.json`));
  const warehouse = await DuckDbWarehouse.open({ path: join(scratch, 'warehouse.duckdb') });
  const landing = new LocalDirLanding(landingDir);
  const base = `bench-iso-${randomUUID().slice(0, 8)}`;
  const freshness = new Freshness();
  const feed = new SimulatedFeed({ clientId: 'acme', seed: 3, rate: RATE, startMs: Date.now() + 2_000, businessDate: '2026-11-21', timeZone: 'America/New_York' });
  const deps: PipelineDeps = { warehouse, landing, sources: new Map([[feed.id, feed]]), timeZone: 'America/New_York', workDir: join(scratch, 'work'), metrics: freshness };
  const native = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const queues: QueueName[] = mode === 'shared' ? ['shared'] : ['stream', 'files'];
  const queueOf = (q: QueueName): string => (q === 'shared' ? base : workloadQueue(base, q));
  // The slots the worker has by default: the shared queue the sum, each workload queue its own.
  const slots = { shared: { activities: 32 }, stream: { activities: 20 }, files: { activities: 2 }, ops: { activities: 10 } };
  const workers: Worker[] = [];
  for (const q of queues) workers.push(await createPipelineWorker({ connection: native, namespace: 'default', taskQueue: queueOf(q), queue: q, deps, slots: slots[q] }));
  const running = workers.map((w) => w.run());
  const load: number[] = [];
  const sampler = setInterval(() => load.push(loadavg()[0] ?? 0), 1_000);
  try {
    const stream = await startStreamWorkflow(client, {
      taskQueue: queueOf(mode === 'shared' ? 'shared' : 'stream'), sourceId: feed.id, clientId: 'acme', maxRows: 10_000, maxWaitMs: 250,
    });
    await new Promise((r) => setTimeout(r, 7_000));
    const input = await intakeInput({ landing, fileId: file.fileId, clientId: 'acme' });
    const fileFrom = Date.now();
    const handle = await client.workflow.start<FileWorkflowFn>('fileWorkflow', {
      taskQueue: queueOf(mode === 'shared' ? 'shared' : 'files'), workflowId: `bench-iso/${randomUUID()}`, args: [input],
    });
    const result = await handle.result();
    const fileTo = Date.now();
    await new Promise((r) => setTimeout(r, 5_000));
    await stream.handle.terminate('benchmark done');
    const all = freshness.figures();
    const during = freshness.figures(fileFrom, fileTo);
    console.log(
      `${mode.padEnd(7)} file ${result.outcome} in ${((fileTo - fileFrom) / 1000).toFixed(1)} s | stream freshness during the file: ` +
        `${during.events} ev, p50 ${during.p50} ms, p99 ${during.p99} ms, max ${during.max} ms | whole run: ${all.events} ev, p99 ${all.p99} ms` +
        ` | load avg (1 min) ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} on ${cpus().length} cores`,
    );
  } finally {
    clearInterval(sampler);
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await native.close();
    await connection.close();
    await warehouse.close();
    await feed.close();
    await rm(scratch, { recursive: true, force: true });
  }
};

const main = async (): Promise<void> => {
  const file = await cachedFile(ROWS);
  console.log(`isolation benchmark: a ${ROWS.toLocaleString('en-US')}-row reconciliation while the stream runs at ${RATE} events/s (DuckDB file warehouse, one worker process)`);
  const server = await startTemporal();
  await workflowBundle();
  try {
    for (const mode of args.queues.split(',')) {
      if (mode !== 'shared' && mode !== 'split') throw new Error(`--queues: shared or split, got ${mode}`);
      await runMode(server.address, mode, file);
    }
  } finally {
    await server.stop();
  }
};

await main();
