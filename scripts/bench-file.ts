/**
 * End-to-end file benchmark: the real file workflow (validate → stage → replace → publish) on a dev server,
 * against a DuckDB file warehouse, compared with DuckDB's own COPY of the same CSV into a typed table.
 *   npm run bench:file [-- --rows 1000000,10000000 --runs 2 --provisional]
 *                       [-- --memory-limit 256MB --file-memory-limit 96MB --validate-memory-limit 96MB]
 *
 * Files are generated once and cached under .data/bench/. Each measurement runs in its own child process,
 * which reports its wall time and its peak RSS (VmHWM), so one run's memory never shows in another's.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Command, InvalidArgumentError } from 'commander';
import { streamBatchOf } from '../src/activities/stream-activities.js';
import { FILE_COLUMNS } from '../src/domain/contract.js';
import { parseStreamRecords } from '../src/domain/stream-event.js';
import { intakeInput } from '../src/files/intake.js';
import { generateFile } from '../src/files/generate.js';
import { LocalDirLanding } from '../src/files/landing.js';
import { SimulatedFeed } from '../src/sources/simulated-feed.js';
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
  /** Provisional rows on the date before the file (--provisional). */
  provisionalRows: number;
  /** Ids the report found on one side only or with another amount. */
  diffCount: number;
  steps: Record<string, number>;
  /** Highest sampled RSS while each step ran. */
  stepPeakMb: Record<string, number>;
  /** Attempts per step: more than one means a retry, whose time is in the step's. */
  attempts: Record<string, number>;
  rows: number;
}

interface CopyRun {
  seconds: number;
  peakMb: number;
  rows: number;
}

/**
 * Before the file, fills its date as the stream would have during the day: the file's rows as `provisional`, except
 * that 1 in 100 has another amount, 1 in 200 never came, and 1 in 200 more came only from the stream. The
 * reconciliation then archives a full day and its report compares two full sides. Returns the rows written.
 */
const preloadStreamDay = async (warehousePath: string, csvPath: string): Promise<number> => {
  const instance = await DuckDBInstance.create(warehousePath);
  const c = await instance.connect();
  try {
    const stream = `SELECT transaction_id, account_id, CAST(event_ts AS TIMESTAMPTZ) AS event_ts, CAST(event_date AS DATE) AS event_date,
        CAST(CAST(amount AS DECIMAL(18, 9)) AS DECIMAL(38, 9)) AS amount, currency, nullif(merchant_id, '') AS merchant_id,
        nullif(description, '') AS description, hash(transaction_id) % 200 AS bucket
      FROM read_csv('${csvPath}', header = true, auto_detect = false, all_varchar = true,
        columns = {${FILE_COLUMNS.map((col) => `'${col}': 'VARCHAR'`).join(', ')}})`;
    await c.run(`INSERT INTO transactions
      SELECT CASE WHEN bucket = 2 THEN 'stream-only-' || transaction_id ELSE transaction_id END, account_id, event_ts, event_date,
             CASE WHEN bucket IN (3, 4) THEN amount + 1 ELSE amount END, currency, merchant_id, description,
             'provisional', 0, 'stream', 'bench-stream', NULL, now()
      FROM (${stream}) WHERE bucket <> 1`);
    await c.run('CHECKPOINT');
    const [r] = (await c.runAndReadAll('SELECT count(*)::BIGINT AS n FROM transactions')).getRowObjectsJson();
    return Number(r?.n);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
};

/**
 * One stream micro-batch through the worker's warehouse, for the next day. Its id lookup reads the stored day as
 * the stream's batches do all day long, so the file meets a warehouse holding the stream's cache, as in a worker
 * that has streamed since morning.
 */
const streamBatch = async (warehouse: DuckDbWarehouse, events: number): Promise<void> => {
  const timeZone = 'America/New_York';
  const feed = new SimulatedFeed({
    clientId: 'acme', seed: 7, rate: 'unbounded', totalEvents: events, startMs: Date.parse('2026-11-22T15:00:00Z'), businessDate: '2026-11-22', timeZone,
  });
  try {
    const read = await feed.read({ fromCursor: 0, maxRows: events, maxWaitMs: 5_000 });
    const parsed = parseStreamRecords({ sourceId: feed.id, records: read.records, timeZone });
    await warehouse.writeStreamBatch(streamBatchOf({ sourceId: feed.id, fromCursor: 0, toCursor: read.nextCursor, parsed }));
  } finally {
    await feed.close();
  }
};

/** Child: one file through the real workflow, worker in this process, DuckDB warehouse file in a temp dir. */
const childWorkflow = async (opts: {
  address: string;
  rows: number;
  memoryLimit?: string;
  fileMemoryLimit?: string;
  validateMemoryLimit?: string;
  provisional?: boolean;
}): Promise<WorkflowRun> => {
  const file = await cachedFile(opts.rows);
  const scratch = await mkdtemp(join(tmpdir(), 'bench-file-'));
  const landingDir = join(scratch, 'landing');
  await mkdir(landingDir, { recursive: true });
  // Hard links: the workflow moves the landed pair to processed/, the cache keeps its own names.
  await link(file.dataPath, join(landingDir, `${file.fileId}.csv`));
  await link(file.manifestPath, join(landingDir, `${file.fileId}.manifest.json`));
  const warehousePath = join(scratch, 'warehouse', 'warehouse.duckdb');
  const warehouseOptions = {
    path: warehousePath,
    ...(opts.memoryLimit ? { memoryLimit: opts.memoryLimit } : {}),
    ...(opts.fileMemoryLimit ? { fileMemoryLimit: opts.fileMemoryLimit } : {}),
  };
  let provisionalRows = 0;
  if (opts.provisional) {
    // In another process, so the worker's peak is its own.
    await (await DuckDbWarehouse.open(warehouseOptions)).close();
    provisionalRows = (await inChild<{ rows: number }>(['--child', 'preload', '--rows', String(opts.rows), '--warehouse', warehousePath])).rows;
  }
  const warehouse = await DuckDbWarehouse.open(warehouseOptions);
  if (opts.provisional) await streamBatch(warehouse, 10_000);
  const landing = new LocalDirLanding(landingDir);
  const nativeConnection = await NativeConnection.connect({ address: opts.address });
  const connection = await Connection.connect({ address: opts.address });
  const client = new Client({ connection });
  const taskQueue = `bench-file-${randomUUID()}`;
  const worker = await createPipelineWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: {
      warehouse,
      landing,
      sources: new Map(),
      timeZone: 'America/New_York',
      workDir: join(scratch, 'work'),
      ...(opts.validateMemoryLimit ? { validateMemoryLimit: opts.validateMemoryLimit } : {}),
    },
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
    const attempts = Object.fromEntries(Object.entries(windows).map(([k, w]) => [k, w.attempts]));
    const stepPeakMb = Object.fromEntries(
      Object.entries(windows).map(([k, w]) => [
        k,
        Math.round(Math.max(0, ...samples.filter(([t]) => t >= w.from && t <= w.to).map(([, rss]) => rss)) / 2 ** 20),
      ]),
    );
    const rows = result.dates.reduce((n, d) => n + d.rowsAfter, 0);
    const diffCount = (await warehouse.getReport(DATE))?.diffCount ?? 0;
    return { seconds, peakMb: await peakRssMb(), baseMb, provisionalRows, diffCount, steps, stepPeakMb, attempts, rows };
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
}): Promise<Record<string, { from: number; to: number; seconds: number; attempts: number }>> => {
  interface Event {
    eventId?: { toString(): string } | null;
    eventTime?: { seconds?: { toString(): string } | null; nanos?: number | null } | null;
    activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
    activityTaskCompletedEventAttributes?: { scheduledEventId?: { toString(): string } | null } | null;
    activityTaskStartedEventAttributes?: { scheduledEventId?: { toString(): string } | null; attempt?: number | null } | null;
  }
  const history = await handle.fetchHistory();
  const at = (e: Event): number => Number(e.eventTime?.seconds?.toString() ?? 0) + (e.eventTime?.nanos ?? 0) / 1e9;
  const scheduled = new Map<string, { name: string; time: number; attempts: number }>();
  const out: Record<string, { from: number; to: number; seconds: number; attempts: number }> = {};
  for (const e of (history.events ?? []) as Event[]) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) scheduled.set(String(e.eventId), { name, time: at(e), attempts: 1 });
    const started = e.activityTaskStartedEventAttributes;
    const attempted = started ? scheduled.get(String(started.scheduledEventId)) : undefined;
    if (attempted) attempted.attempts = started?.attempt ?? 1;
    const done = e.activityTaskCompletedEventAttributes?.scheduledEventId;
    if (done !== undefined && done !== null) {
      const s = scheduled.get(done.toString());
      const prior = out[s?.name ?? ''];
      if (s) {
        out[s.name] = {
          from: prior?.from ?? s.time,
          to: at(e),
          seconds: (prior?.seconds ?? 0) + (at(e) - s.time),
          attempts: (prior?.attempts ?? 0) + s.attempts,
        };
      }
    }
  }
  return out;
};

/**
 * Child: DuckDB's own COPY of the CSV into a typed table in a fresh database file. `amountType` is the
 * warehouse's DECIMAL(38, 9) by default; DECIMAL(18, 9) parses ~20x faster and gives the tighter reference.
 */
const childCopy = async (opts: { rows: number; amountType: string }): Promise<CopyRun> => {
  const file = await cachedFile(opts.rows);
  const scratch = await mkdtemp(join(tmpdir(), 'bench-copy-'));
  try {
    const instance = await DuckDBInstance.create(join(scratch, 'copy.duckdb'));
    const c = await instance.connect();
    await c.run(`CREATE TABLE transactions_copy (transaction_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL,
      event_ts TIMESTAMPTZ NOT NULL, event_date DATE NOT NULL, amount ${opts.amountType} NOT NULL, currency VARCHAR NOT NULL,
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

/** Runs a child; its log (the worker's, for a workflow child) is kept in .data/bench/logs/ for a retry's reason. */
const inChild = async <T>(args: string[]): Promise<T & { log: string }> => {
  const log = join(benchDir, 'logs', `${args.filter((a) => !a.startsWith('-')).join('-').replaceAll(/[^a-z0-9.-]/gi, '_')}-${Date.now()}.log`);
  await mkdir(dirname(log), { recursive: true });
  const { stdout, stderr } = await execFileAsync(process.execPath, [...process.execArgv, self, ...args], {
    cwd: root,
    maxBuffer: 64 << 20,
    env: process.env,
  }).catch((error: { stderr?: string }) => {
    throw new Error(`child ${args.join(' ')} failed:\n${(error.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  });
  await writeFile(log, stderr);
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return { ...(JSON.parse(line) as T), log };
};

const fmt = (s: number): string => `${s.toFixed(1)} s`;
const stepOrder = ['registerFile', 'validateFile', 'stageFile', 'replacePartitions', 'publishChange', 'dropStaging'];

const program = new Command('bench-file')
  .option('--rows <list>', 'comma-separated row counts', '1000000,10000000')
  .option('--runs <n>', 'measurements per size', (v) => Number(v), 2)
  .option('--memory-limit <size>', 'warehouse DuckDB memory_limit (default: the warehouse default)')
  .option('--file-memory-limit <size>', 'warehouse DuckDB memory_limit during file work (default: the warehouse default)')
  .option('--validate-memory-limit <size>', 'validation DuckDB memory_limit (default: the validator default)')
  .option(
    '--copy-amount <type>',
    "amount's type in the COPY reference: the warehouse's DECIMAL(38,9), or DECIMAL(18,9) for a faster, stricter limit",
    (v) => {
      const m = /^DECIMAL\((\d+), ?(\d+)\)$/i.exec(v.trim());
      if (!m) throw new InvalidArgumentError('expected DECIMAL(p,s), e.g. DECIMAL(18,9)');
      return `DECIMAL(${m[1]}, ${m[2]})`;
    },
    'DECIMAL(38, 9)',
  )
  .option('--provisional', 'fill the date with the day\'s stream rows first, so the file replaces and compares a full day')
  .option('--child <kind>', 'internal: workflow | copy | preload')
  .option('--address <host:port>', 'internal: Temporal frontend for --child workflow')
  .option('--warehouse <path>', 'internal: warehouse file for --child preload')
  .action(async (opts: {
    rows: string;
    runs: number;
    memoryLimit?: string;
    fileMemoryLimit?: string;
    validateMemoryLimit?: string;
    provisional?: boolean;
    copyAmount: string;
    child?: string;
    address?: string;
    warehouse?: string;
  }) => {
    const sizes = opts.rows.split(',').map((v) => Number(v.replaceAll('_', '')));
    if (opts.child === 'workflow') {
      console.log(
        JSON.stringify(
          await childWorkflow({
            address: opts.address!,
            rows: sizes[0]!,
            ...(opts.memoryLimit ? { memoryLimit: opts.memoryLimit } : {}),
            ...(opts.fileMemoryLimit ? { fileMemoryLimit: opts.fileMemoryLimit } : {}),
            ...(opts.validateMemoryLimit ? { validateMemoryLimit: opts.validateMemoryLimit } : {}),
            provisional: opts.provisional === true,
          }),
        ),
      );
      process.exit(0);
    }
    if (opts.child === 'preload') {
      console.log(JSON.stringify({ rows: await preloadStreamDay(opts.warehouse!, (await cachedFile(sizes[0]!)).dataPath) }));
      process.exit(0);
    }
    if (opts.child === 'copy') {
      console.log(JSON.stringify(await childCopy({ rows: sizes[0]!, amountType: opts.copyAmount })));
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
          const copy = await inChild<CopyRun>(['--child', 'copy', '--rows', String(rows), '--copy-amount', opts.copyAmount]);
          const wf = await inChild<WorkflowRun>([
            '--child', 'workflow', '--rows', String(rows), '--address', temporal.address,
            ...(opts.memoryLimit ? ['--memory-limit', opts.memoryLimit] : []),
            ...(opts.fileMemoryLimit ? ['--file-memory-limit', opts.fileMemoryLimit] : []),
            ...(opts.validateMemoryLimit ? ['--validate-memory-limit', opts.validateMemoryLimit] : []),
            ...(opts.provisional ? ['--provisional'] : []),
          ]);
          if (wf.rows !== rows || copy.rows !== rows) throw new Error(`row counts differ: workflow ${wf.rows}, copy ${copy.rows}, file ${rows}`);
          const steps = stepOrder
            .filter((s) => wf.steps[s] !== undefined)
            .map(
              (s) =>
                `${s.replace(/File|Partitions|Change/, '')} ${fmt(wf.steps[s]!)} (${wf.stepPeakMb[s]} MB` +
                `${(wf.attempts[s] ?? 1) > 1 ? `, ${wf.attempts[s]} attempts` : ''})`,
            );
          const retried = Object.entries(wf.attempts).filter(([, n]) => n > 1);
          if (retried.length > 0) console.log(`  retried: ${retried.map(([s]) => s).join(', ')}; the worker's log is ${wf.log}`);
          console.log(
            `${rows.toLocaleString('en-US')} rows (${Math.round(file.bytes / 1e6)} MB) run ${run}: workflow ${fmt(wf.seconds)} ` +
              `(peak ${wf.peakMb} MB, ${wf.baseMb} MB before the file` +
              `${opts.provisional ? `; date held ${wf.provisionalRows.toLocaleString('en-US')} provisional rows, report: ${wf.diffCount.toLocaleString('en-US')} ids differ` : ''}), COPY ${fmt(copy.seconds)} (amount ${opts.copyAmount}, peak ${copy.peakMb} MB), ratio ${(wf.seconds / copy.seconds).toFixed(2)}\n  steps: ${steps.join(', ')}`,
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
