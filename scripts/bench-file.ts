/**
 * End-to-end file benchmark: the real file workflow (validate → stage → replace → publish) on a dev server,
 * against a DuckDB file warehouse, compared with DuckDB's own COPY of the same CSV into a typed table.
 *   npm run bench:file [-- --rows 1000000,10000000 --runs 2 --memory-limit 384MB]
 *
 * Files are generated once and cached under .data/bench/. Each measurement runs in its own child process,
 * which reports its wall time and its peak RSS (VmHWM), so one run's memory never shows in another's.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Command } from 'commander';
import { intakeInput } from '../src/files/intake.js';
import { generateFile } from '../src/files/generate.js';
import { LocalDirLanding } from '../src/files/landing.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/duckdb-warehouse.js';
import { createPipelineWorker } from '../src/workers/pipeline-worker.js';
import type { fileWorkflow } from '../src/workflows/file-workflow.js';
import { startTemporal } from '../test/support/servers.js';

const execFileAsync = promisify(execFile);
const self = fileURLToPath(import.meta.url);
const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const benchDir = join(root, '.data/bench');
const DATE = '2026-11-21';

interface CachedFile {
  fileId: string;
  dataPath: string;
  manifestPath: string;
  bytes: number;
}

/** Generates the reconciliation file for `rows` once; later runs reuse it. */
const cachedFile = async (rows: number): Promise<CachedFile> => {
  const dir = join(benchDir, `recon-${rows}`);
  const fileId = `acme-recon-${DATE}-1`;
  const dataPath = join(dir, `${fileId}.csv`);
  const manifestPath = join(dir, `${fileId}.manifest.json`);
  if (!existsSync(manifestPath) || !existsSync(dataPath)) {
    const t0 = performance.now();
    process.stdout.write(`generating ${rows.toLocaleString('en-US')} rows into ${dir} ... `);
    await generateFile({ dir, kind: 'reconciliation', covers: [DATE], rows, seed: 9, fileId });
    console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const { size } = await import('node:fs/promises').then((fs) => fs.stat(dataPath));
  return { fileId, dataPath, manifestPath, bytes: size };
};

const peakRssMb = async (): Promise<number> => {
  const status = await readFile('/proc/self/status', 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
};

interface WorkflowRun {
  seconds: number;
  peakMb: number;
  /** RSS once the worker is up, before the file. */
  baseMb: number;
  steps: Record<string, number>;
  /** Highest sampled RSS while each step ran. */
  stepPeakMb: Record<string, number>;
  rows: number;
}

interface CopyRun {
  seconds: number;
  peakMb: number;
  rows: number;
}

/** Child: one file through the real workflow, worker in this process, DuckDB warehouse file in a temp dir. */
const childWorkflow = async (opts: { address: string; rows: number; memoryLimit?: string }): Promise<WorkflowRun> => {
  const file = await cachedFile(opts.rows);
  const scratch = await mkdtemp(join(tmpdir(), 'bench-file-'));
  const landingDir = join(scratch, 'landing');
  await mkdir(landingDir, { recursive: true });
  // Hard links: the workflow moves the landed pair to processed/, the cache keeps its own names.
  await link(file.dataPath, join(landingDir, `${file.fileId}.csv`));
  await link(file.manifestPath, join(landingDir, `${file.fileId}.manifest.json`));
  const warehouse = await DuckDbWarehouse.open({
    path: join(scratch, 'warehouse', 'warehouse.duckdb'),
    ...(opts.memoryLimit ? { memoryLimit: opts.memoryLimit } : {}),
  });
  const landing = new LocalDirLanding(landingDir);
  const nativeConnection = await NativeConnection.connect({ address: opts.address });
  const connection = await Connection.connect({ address: opts.address });
  const client = new Client({ connection });
  const taskQueue = `bench-file-${randomUUID()}`;
  const worker = await createPipelineWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: { warehouse, landing, sources: new Map(), timeZone: 'America/New_York', workDir: join(scratch, 'work') },
  });
  const running = worker.run();
  try {
    const input = await intakeInput({ landing, fileId: file.fileId, clientId: 'acme' });
    const baseMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    const samples: Array<[number, number]> = [];
    const sampler = setInterval(() => samples.push([Date.now() / 1000, process.memoryUsage().rss]), 100);
    const t0 = performance.now();
    // Its own workflow id per run: the business key would refuse a second run of the same file on one server.
    const handle = await client.workflow.start<typeof fileWorkflow>('fileWorkflow', { taskQueue, workflowId: `bench-file/${opts.rows}/${randomUUID()}`, args: [input] });
    const started = { handle };
    const result = await handle.result();
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    if (result.outcome !== 'applied') throw new Error(`unexpected outcome ${result.outcome}`);
    const windows = await stepWindows(started.handle);
    const steps = Object.fromEntries(Object.entries(windows).map(([k, w]) => [k, w.seconds]));
    const stepPeakMb = Object.fromEntries(
      Object.entries(windows).map(([k, w]) => [
        k,
        Math.round(Math.max(0, ...samples.filter(([t]) => t >= w.from && t <= w.to).map(([, rss]) => rss)) / 2 ** 20),
      ]),
    );
    const rows = result.dates.reduce((n, d) => n + d.rowsAfter, 0);
    return { seconds, peakMb: await peakRssMb(), baseMb, steps, stepPeakMb, rows };
  } finally {
    worker.shutdown();
    await running;
    await nativeConnection.close();
    await connection.close();
    await warehouse.close();
    await rm(scratch, { recursive: true, force: true });
  }
};

/** Activity windows (scheduled → completed, epoch seconds) from the workflow's history, by activity type. */
const stepWindows = async (handle: {
  fetchHistory: () => Promise<{ events?: unknown[] | null }>;
}): Promise<Record<string, { from: number; to: number; seconds: number }>> => {
  interface Event {
    eventId?: { toString(): string } | null;
    eventTime?: { seconds?: { toString(): string } | null; nanos?: number | null } | null;
    activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
    activityTaskCompletedEventAttributes?: { scheduledEventId?: { toString(): string } | null } | null;
  }
  const history = await handle.fetchHistory();
  const at = (e: Event): number => Number(e.eventTime?.seconds?.toString() ?? 0) + (e.eventTime?.nanos ?? 0) / 1e9;
  const scheduled = new Map<string, { name: string; time: number }>();
  const out: Record<string, { from: number; to: number; seconds: number }> = {};
  for (const e of (history.events ?? []) as Event[]) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) scheduled.set(String(e.eventId), { name, time: at(e) });
    const done = e.activityTaskCompletedEventAttributes?.scheduledEventId;
    if (done !== undefined && done !== null) {
      const s = scheduled.get(done.toString());
      const prior = out[s?.name ?? ''];
      if (s) out[s.name] = { from: prior?.from ?? s.time, to: at(e), seconds: (prior?.seconds ?? 0) + (at(e) - s.time) };
    }
  }
  return out;
};

/** Child: DuckDB's own COPY of the CSV into a typed table in a fresh database file. */
const childCopy = async (opts: { rows: number }): Promise<CopyRun> => {
  const file = await cachedFile(opts.rows);
  const scratch = await mkdtemp(join(tmpdir(), 'bench-copy-'));
  try {
    const instance = await DuckDBInstance.create(join(scratch, 'copy.duckdb'));
    const c = await instance.connect();
    await c.run(`CREATE TABLE transactions_copy (transaction_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL,
      event_ts TIMESTAMPTZ NOT NULL, event_date DATE NOT NULL, amount DECIMAL(38, 9) NOT NULL, currency VARCHAR NOT NULL,
      merchant_id VARCHAR, description VARCHAR)`);
    const t0 = performance.now();
    await c.run(`COPY transactions_copy FROM '${file.dataPath}' (HEADER, DELIMITER ',', QUOTE '"', ESCAPE '"')`);
    await c.run('CHECKPOINT');
    const seconds = (performance.now() - t0) / 1000;
    const n = Number((await c.runAndReadAll('SELECT count(*)::BIGINT AS n FROM transactions_copy')).getRowObjectsJson()[0]?.n);
    c.closeSync();
    instance.closeSync();
    return { seconds, peakMb: await peakRssMb(), rows: n };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
};

const inChild = async <T>(args: string[]): Promise<T> => {
  const { stdout } = await execFileAsync(process.execPath, [...process.execArgv, self, ...args], {
    cwd: root,
    maxBuffer: 64 << 20,
    env: process.env,
  }).catch((error: { stderr?: string }) => {
    throw new Error(`child ${args.join(' ')} failed:\n${(error.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  });
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
};

const fmt = (s: number): string => `${s.toFixed(1)} s`;
const stepOrder = ['registerFile', 'validateFile', 'stageFile', 'replacePartitions', 'publishChange', 'dropStaging'];

const program = new Command('bench-file')
  .option('--rows <list>', 'comma-separated row counts', '1000000,10000000')
  .option('--runs <n>', 'measurements per size', (v) => Number(v), 2)
  .option('--memory-limit <size>', 'warehouse DuckDB memory_limit (default: the warehouse default)')
  .option('--child <kind>', 'internal: workflow | copy')
  .option('--address <host:port>', 'internal: Temporal frontend for --child workflow')
  .action(async (opts: { rows: string; runs: number; memoryLimit?: string; child?: string; address?: string }) => {
    const sizes = opts.rows.split(',').map((v) => Number(v.replaceAll('_', '')));
    if (opts.child === 'workflow') {
      console.log(JSON.stringify(await childWorkflow({ address: opts.address!, rows: sizes[0]!, ...(opts.memoryLimit ? { memoryLimit: opts.memoryLimit } : {}) })));
      process.exit(0);
    }
    if (opts.child === 'copy') {
      console.log(JSON.stringify(await childCopy({ rows: sizes[0]! })));
      process.exit(0);
    }

    const files = new Map<number, CachedFile>();
    for (const rows of sizes) files.set(rows, await cachedFile(rows));
    const temporal = await startTemporal();
    const table: string[][] = [];
    try {
      for (const rows of sizes) {
        const file = files.get(rows)!;
        for (let run = 1; run <= opts.runs; run++) {
          const copy = await inChild<CopyRun>(['--child', 'copy', '--rows', String(rows)]);
          const wf = await inChild<WorkflowRun>([
            '--child', 'workflow', '--rows', String(rows), '--address', temporal.address,
            ...(opts.memoryLimit ? ['--memory-limit', opts.memoryLimit] : []),
          ]);
          if (wf.rows !== rows || copy.rows !== rows) throw new Error(`row counts differ: workflow ${wf.rows}, copy ${copy.rows}, file ${rows}`);
          const steps = stepOrder
            .filter((s) => wf.steps[s] !== undefined)
            .map((s) => `${s.replace(/File|Partitions|Change/, '')} ${fmt(wf.steps[s]!)} (${wf.stepPeakMb[s]} MB)`);
          console.log(
            `${rows.toLocaleString('en-US')} rows (${Math.round(file.bytes / 1e6)} MB) run ${run}: workflow ${fmt(wf.seconds)} ` +
              `(peak ${wf.peakMb} MB, ${wf.baseMb} MB before the file), COPY ${fmt(copy.seconds)} (peak ${copy.peakMb} MB), ratio ${(wf.seconds / copy.seconds).toFixed(2)}\n  steps: ${steps.join(', ')}`,
          );
          table.push([
            rows.toLocaleString('en-US'),
            String(run),
            fmt(wf.seconds),
            fmt(copy.seconds),
            `${(wf.seconds / copy.seconds).toFixed(2)}x`,
            `${wf.peakMb} MB`,
            `${copy.peakMb} MB`,
            ...['validateFile', 'stageFile', 'replacePartitions', 'publishChange'].map((s) => fmt(wf.steps[s] ?? 0)),
          ]);
        }
      }
    } finally {
      await temporal.stop();
    }
    const header = ['rows', 'run', 'workflow', 'COPY', 'ratio', 'peak wf', 'peak COPY', 'validate', 'stage', 'replace', 'publish'];
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
    const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
    console.log(`\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const r of table) console.log(line(r));
  });

await program.parseAsync();
