/**
 * Crash harness: runs one scenario (stream, reconciliation, amendment, a file that fails and is compensated,
 * stream again after the seal) in a worker child process, SIGKILLs that process at a step boundary, right
 * after a committed warehouse write, or at a random instant, restarts it, and checks that the warehouse ends
 * exactly as in a fault-free reference run. Every `--restart-every`-th trial (10 by default) also restarts the
 * Temporal dev server mid-run.
 *
 *   tsx scripts/crash-harness.ts --trials 20 --seed 7 [--restart-every 10]
 *
 * Counts only faults that landed: a kill that happened while the scenario ran, a server restart after which
 * another server process answered. Exits 1 if any trial ended differently or its fault did not land.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { generateFile, seededRandom } from '../src/files/generate.js';
import { intakeInput } from '../src/files/intake.js';
import { LocalDirLanding } from '../src/files/landing.js';
import { DuckDbWarehouse } from '../src/warehouse/duckdb/duckdb-warehouse.js';
import { endState, type EndState } from '../testkit/faulty-warehouse.js';
import type { FileRegistryEntry } from '../src/warehouse/port.js';
import type { fileWorkflow } from '../src/workflows/file-workflow.js';
import type { streamWorkflow } from '../src/workflows/stream-workflow.js';
import type { StreamProgress } from '../src/domain/workflow-api.js';
import { freePort, repoRoot, startTemporal } from '../test/support/servers.js';

const execFileAsync = promisify(execFile);

/** Crash points and where they sit; `n` is drawn from how often the reference run reached each. */
export const CRASH_POINTS = [
  'register', 'validate', 'stage', 'replace', 'publish', 'dropStaging', 'revert', 'unpublish', 'record',
  'stream.read', 'stream.write', 'stream.ack',
  'wh.writeStreamBatch.after', 'wh.stageFile.after', 'wh.replacePartitions.after', 'wh.publishChange.after',
  'wh.revertChange.after', 'wh.unpublishChange.after', 'wh.setFileOutcome.after', 'wh.registerFile.after',
] as const;

export type CrashPlan = { kind: 'none' } | { kind: 'point'; point: string; n: number } | { kind: 'time'; afterMs: number };

export interface TrialResult {
  trial: number;
  plan: CrashPlan;
  /** A server restart was planned for this trial. */
  serverRestart: boolean;
  /** The server restart landed: done while the scenario still ran, and a new server process answered. */
  serverRestarted: boolean;
  /** Worker processes killed by the fault (0 when the point was never reached or the run ended first). */
  kills: number;
  /** Every fault planned for this trial landed (a kill happened; a planned restart was verified). */
  landed: boolean;
  restarts: number;
  survived: boolean;
  differences: string[];
  /** Differences in batch bookkeeping only (how many micro-batches carried the same events). */
  bookkeeping: string[];
  ms: number;
}

export interface HarnessOptions {
  trials: number;
  seed: number;
  /** Temporal frontend; with `restartServer` the harness must own the server (its data dir and port). */
  server: { address: string; port: number; dataDir: string } ;
  /** Trials (1-based) in which the Temporal dev server is restarted mid-run. */
  restartServerInTrials: readonly number[];
  /** Fixed trials (CI) instead of drawn ones; `trials` is then their number. */
  plans?: CrashPlan[];
  /** Crash points to draw from (all by default). */
  points?: readonly string[];
  /** Share of trials killed at a random instant instead of at a point (0.2 by default). */
  randomKillShare?: number;
  /** When the server restart starts, from the start of the scenario (4 s by default). */
  restartAfterMs?: number;
  log?: (line: string) => void;
}

export interface HarnessReport {
  trials: number;
  /** Faults that landed: worker SIGKILLs that happened and server restarts verified. */
  faultsInjected: number;
  faultsSurvived: number;
  /** Server restarts verified (a planned restart that did not land is not counted). */
  serverRestarts: number;
  /** Trials whose planned fault did not land (a kill after the run ended, a restart not verified). */
  faultsMissed: number;
  results: TrialResult[];
}

const CLIENT_ID = 'acme';
const SOURCE_ID = `sim:${CLIENT_ID}:p0`;
const BUSINESS_DATE = '2026-11-21';
const STREAM_SPLIT = 200;
const STREAM_END = 400;
const crashWorkerPath = join(repoRoot, 'test/support/crash-worker.ts');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A worker child process that is started again whenever it dies, until stopped. */
class SupervisedWorker {
  private child: ChildProcess | null = null;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();
  kills = 0;
  restarts = 0;
  output = '';

  constructor(
    private readonly env: Record<string, string>,
    private crashAt: string | undefined,
  ) {}

  start(): Promise<void> {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...this.env };
    if (this.crashAt) env.CRASH_AT = this.crashAt;
    // Node runs the worker itself (no tsx launcher in between), so a SIGKILL reaches it.
    const child = spawn(process.execPath, ['--import', 'tsx', crashWorkerPath], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const onData = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
      if (this.output.includes('worker on task queue')) ready();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (_code, signal) => {
        ready();
        if (signal === 'SIGKILL') this.kills++;
        resolve();
        if (!this.stopping) {
          // Only the first process carries the crash point; its successors run clean.
          this.crashAt = undefined;
          this.restarts++;
          this.output = '';
          void sleep(200).then(() => (this.stopping ? undefined : this.start()));
        }
      });
    });
    return isReady;
  }

  kill(): void {
    this.child?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

/** Waits for a workflow's result across server restarts (a lost connection is not a workflow failure). */
const resultOf = async <T>(get: () => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await get();
    } catch (error) {
      if (error instanceof WorkflowFailedError || attempt >= 30) throw error;
      await sleep(1000);
    }
  }
};

/** The stream's counters; head, lag and timestamps depend on the clock and are left out. */
type StreamCounts = Pick<StreamProgress, 'cursor' | 'batches' | 'read' | 'written' | 'duplicates' | 'conflicts' | 'late' | 'rejected' | 'unknownFields'>;

interface ScenarioOutcome {
  streams: StreamCounts[];
  files: Record<string, string>;
}

/** The scenario, driven from the client side; the worker child does all the work. */
const runScenario = async (client: Client, taskQueue: string, landing: LocalDirLanding, tag: string): Promise<ScenarioOutcome> => {
  const streams: StreamCounts[] = [];
  const stream = async (phase: number, cursor: number, stopAt: number): Promise<void> => {
    const handle = await client.workflow.start<typeof streamWorkflow>('streamWorkflow', {
      taskQueue,
      workflowId: `crash/${tag}/stream-${phase}`,
      args: [{ sourceId: SOURCE_ID, clientId: CLIENT_ID, cursor, maxRows: 40, maxWaitMs: 50, stopAt }],
    });
    const { cursor: at, batches, read, written, duplicates, conflicts, late, rejected, unknownFields } = await resultOf(() => handle.result());
    streams.push({ cursor: at, batches, read, written, duplicates, conflicts, late, rejected, unknownFields });
  };
  const files: Record<string, string> = {};
  const file = async (name: string, fileId: string): Promise<void> => {
    const input = await intakeInput({ landing, fileId, clientId: CLIENT_ID });
    const handle = await client.workflow.start<typeof fileWorkflow>('fileWorkflow', {
      taskQueue,
      workflowId: `crash/${tag}/${name}`,
      args: [input],
    });
    try {
      files[name] = (await resultOf(() => handle.result())).outcome;
    } catch (error) {
      files[name] = error instanceof WorkflowFailedError ? 'failed' : `error: ${String(error)}`;
    }
  };
  await stream(1, 0, STREAM_SPLIT);
  await file('recon', 'acme-recon-2026-11-21-1');
  await file('amend', 'acme-amend-2026-11-20-2');
  await file('doomed', 'acme-recon-2026-11-19-3');
  // After the seal: events for the reconciled date are late arrivals now.
  await stream(2, STREAM_SPLIT, STREAM_END);
  return { streams, files };
};

/** Lands the scenario's files and the simulated feed's fixed start in fresh directories. */
const prepare = async (root: string): Promise<{ landingDir: string; workDir: string; dbPath: string; files: Record<string, string> }> => {
  const landingDir = join(root, 'landing');
  const workDir = join(root, 'work');
  mkdirSync(workDir, { recursive: true });
  // The feed starts long ago, so every offset is available and batch boundaries depend on the cursor only.
  writeFileSync(join(workDir, 'simulated-feed.json'), JSON.stringify({ startMs: 0, businessDate: BUSINESS_DATE }));
  const at = '2026-11-22T05:00:00Z';
  const recon = await generateFile({ dir: landingDir, kind: 'reconciliation', covers: [BUSINESS_DATE], rows: 120, sequence: 1, createdAt: at });
  const amend = await generateFile({
    dir: landingDir,
    kind: 'amendment',
    covers: ['2026-11-20', BUSINESS_DATE],
    rows: 80,
    sequence: 2,
    createdAt: at,
    transform: (row, pos) => (pos.indexInDate === 5 ? { ...row, amount: '5.55', currency: 'USD' } : row),
  });
  const doomed = await generateFile({ dir: landingDir, kind: 'reconciliation', covers: ['2026-11-19'], rows: 30, sequence: 3, createdAt: at });
  const files = Object.fromEntries([recon, amend, doomed].map((f) => [f.fileId, f.manifest.sha256]));
  return { landingDir, workDir, dbPath: join(root, 'warehouse.duckdb'), files };
};

interface Snapshot {
  state: EndState;
  side: Awaited<ReturnType<DuckDbWarehouse['countSideTables']>>;
  registry: Record<string, Pick<FileRegistryEntry, 'outcome'> | null>;
  duplicates: number;
}

const snapshot = async (dbPath: string, files: Record<string, string>): Promise<Snapshot> => {
  const warehouse = await DuckDbWarehouse.open({ path: dbPath });
  try {
    const state = await endState(warehouse);
    const registry: Snapshot['registry'] = {};
    for (const [fileId, sha] of Object.entries(files)) {
      const entry = await warehouse.getFile(fileId, sha);
      registry[fileId] = entry && { outcome: entry.outcome };
    }
    let duplicates = 0;
    for (const d of Object.values(state.dates)) {
      const ids = (d.rows as Array<{ transactionId: string }>).map((r) => r.transactionId);
      duplicates += ids.length - new Set(ids).size;
    }
    return { state, side: await warehouse.countSideTables(), registry, duplicates };
  } finally {
    await warehouse.close();
  }
};

const batchRanges = async (dbPath: string): Promise<string> => {
  const instance = await DuckDBInstance.create(dbPath);
  try {
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll('SELECT from_cursor, to_cursor FROM stream_batches ORDER BY from_cursor, batch_id');
    const ranges = reader.getRowObjectsJson().map((r) => `${String(r.from_cursor)}-${String(r.to_cursor)}`).join(',');
    connection.closeSync();
    return ranges;
  } finally {
    instance.closeSync();
  }
};

/** A short list of what differs, for the report. */
const differences = (a: unknown, b: unknown, path = ''): string[] => {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`));
  }
  const show = (v: unknown): string => (Array.isArray(v) ? `[${v.length} items]` : JSON.stringify(v)?.slice(0, 120) ?? 'undefined');
  return [`${path || '(root)'}: expected ${show(a)}, got ${show(b)}`];
};

const serverPid = (dataDir: string): number | null => {
  try {
    const pid = Number(readFileSync(join(dataDir, 'temporal.pid'), 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
};

/** Restarts the dev server; true when a new server process (another pid) is running afterwards. */
const restartTemporal = async (server: HarnessOptions['server']): Promise<boolean> => {
  const before = serverPid(server.dataDir);
  await execFileAsync('bash', [join(repoRoot, 'scripts/temporal.sh'), 'restart'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      TEMPORAL_PORT: String(server.port),
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_DATA_DIR: server.dataDir,
      TEMPORAL_HEADLESS: '1',
      TEMPORAL_WATCH_PID: String(process.pid),
      TEMPORAL_DATA_DIR_TEMPORARY: '1',
    },
  });
  const after = serverPid(server.dataDir);
  return before !== null && after !== null && after !== before;
};

interface RunOutput {
  snapshot: Snapshot;
  /** `from-to` of every stored micro-batch, to see how a different batch count came about. */
  batchRanges: string;
  outcome: ScenarioOutcome;
  counts: Record<string, number>;
  kills: number;
  restarts: number;
  serverRestarted: boolean;
  scenarioMs: number;
}

const runOnce = async (
  options: HarnessOptions,
  client: Client,
  tag: string,
  plan: CrashPlan,
  restartServer: boolean,
): Promise<RunOutput> => {
  const root = mkdtempSync(join(tmpdir(), `crash-${tag.replaceAll('/', '-')}-`));
  let keep = false;
  try {
    const { landingDir, workDir, dbPath, files } = await prepare(root);
    const taskQueue = `crash-${tag}-${Date.now()}`;
    const countsPath = join(root, 'step-counts.json');
    const worker = new SupervisedWorker(
      {
        TEMPORAL_ADDRESS: options.server.address,
        // The harness's own server and its default namespace, which its client uses too (never an inherited one).
        TEMPORAL_NAMESPACE: 'default',
        TASK_QUEUE: taskQueue,
        WAREHOUSE: 'duckdb',
        DUCKDB_PATH: dbPath,
        LANDING_DIR: landingDir,
        WORK_DIR: workDir,
        CLIENT_ID,
        FEED_SEED: '7',
        FEED_RATE: '100000',
        METRICS_PORT: String(await freePort()),
        // No SDK exporter: its port would be METRICS_PORT + 1, which nobody reserved.
        SDK_METRICS_PORT: '0',
        STEP_COUNTS_PATH: countsPath,
        LOG_LEVEL: 'WARN',
      },
      plan.kind === 'point' ? `${plan.point}:${plan.n}` : undefined,
    );
    await worker.start();
    const timers: NodeJS.Timeout[] = [];
    if (plan.kind === 'time') timers.push(setTimeout(() => worker.kill(), plan.afterMs));
    let restarted: Promise<boolean> = Promise.resolve(false);
    let scenarioEnded = false;
    if (restartServer) {
      timers.push(
        setTimeout(() => {
          options.log?.('  restarting the Temporal dev server (same data dir)');
          restarted = restartTemporal(options.server).then(
            (landed) => landed && !scenarioEnded,
            (error: unknown) => {
              options.log?.(`  server restart failed: ${String(error)}`);
              return false;
            },
          );
        }, options.restartAfterMs ?? 4000),
      );
    }
    const scenarioStarted = Date.now();
    let outcome: ScenarioOutcome;
    let serverRestarted: boolean;
    try {
      outcome = await runScenario(client, taskQueue, new LocalDirLanding(landingDir), tag);
    } finally {
      scenarioEnded = true;
      timers.forEach(clearTimeout);
      serverRestarted = await restarted;
      await worker.stop();
    }
    const scenarioMs = Date.now() - scenarioStarted;
    const counts = JSON.parse(readFileSync(countsPath, 'utf8')) as Record<string, number>;
    keep = process.env.CRASH_HARNESS_KEEP === '1';
    const state = await snapshot(dbPath, files);
    if (keep) options.log?.(`  kept ${root}`);
    return { snapshot: state, batchRanges: await batchRanges(dbPath), outcome, counts, kills: worker.kills, restarts: worker.restarts, serverRestarted, scenarioMs };
  } finally {
    if (!keep) rmSync(root, { recursive: true, force: true });
  }
};

export const runCrashHarness = async (options: HarnessOptions): Promise<HarnessReport> => {
  const log = options.log ?? (() => undefined);
  const connection = await Connection.connect({ address: options.server.address });
  const client = new Client({ connection });
  const run = `${options.seed}-${Date.now().toString(36)}`;
  try {
    log('reference run (no faults)');
    const reference = await runOnce(options, client, `${run}/ref`, { kind: 'none' }, false);
    const expectedFiles = { recon: 'applied', amend: 'applied', doomed: 'failed' };
    if (JSON.stringify(reference.outcome.files) !== JSON.stringify(expectedFiles) || reference.snapshot.duplicates > 0) {
      throw new Error(`the reference run itself went wrong: ${JSON.stringify(reference.outcome.files)}`);
    }
    const dates = Object.entries(reference.snapshot.state.dates);
    log(
      `  reference: ${dates.map(([d, v]) => `${d} ${v.ledger.status} v${v.ledger.version} ${v.rows.length} rows`).join(', ')}; ` +
        `side tables ${JSON.stringify(reference.snapshot.side)}; files ${JSON.stringify(reference.outcome.files)}`,
    );
    const random = seededRandom(options.seed);
    const points = (options.points ?? CRASH_POINTS).filter((p) => (reference.counts[p] ?? 0) > 0);
    const results: TrialResult[] = [];
    const trials = options.plans?.length ?? options.trials;
    // A timed kill lands only while the scenario runs: draw it within the shortest scenario seen so far (the
    // reference, or a later trial's when the machine got faster, e.g. after a server restart: a run with a fault
    // is never shorter than the same run without one).
    let shortestScenarioMs = reference.scenarioMs;
    for (let trial = 1; trial <= trials; trial++) {
      const killSpanMs = Math.max(1000, Math.floor(shortestScenarioMs * 0.8) - 500);
      const started = Date.now();
      const serverRestart = options.restartServerInTrials.includes(trial);
      const point = points[Math.floor(random() * points.length)] ?? 'stream.write';
      const plan: CrashPlan = options.plans?.[trial - 1] ??
        (random() < (options.randomKillShare ?? 0.2)
          ? { kind: 'time', afterMs: 500 + Math.floor(random() * killSpanMs) }
          : { kind: 'point', point, n: 1 + Math.floor(random() * (reference.counts[point] ?? 1)) });
      log(`trial ${trial}: ${plan.kind === 'point' ? `SIGKILL at ${plan.point} #${plan.n}` : plan.kind === 'time' ? `SIGKILL after ${plan.afterMs} ms` : 'none'}${serverRestart ? ' + server restart' : ''}`);
      let result: TrialResult;
      try {
        const got = await runOnce(options, client, `${run}/t${trial}`, plan, serverRestart);
        shortestScenarioMs = Math.min(shortestScenarioMs, got.scenarioMs);
        const all = [
          ...differences(reference.outcome, got.outcome, 'workflows'),
          ...differences(reference.snapshot, got.snapshot, 'warehouse'),
        ];
        // How many micro-batches carried the events is bookkeeping, not data: reported, not a failure.
        const bookkeeping = all.filter((d) => /\.batches:/.test(d));
        const diffs = all.filter((d) => !bookkeeping.includes(d));
        const landed = (plan.kind === 'none' || got.kills > 0) && (!serverRestart || got.serverRestarted);
        result = {
          trial, plan, serverRestart, serverRestarted: got.serverRestarted, kills: got.kills, landed, restarts: got.restarts,
          survived: diffs.length === 0, differences: diffs, bookkeeping, ms: Date.now() - started,
        };
        if (bookkeeping.length > 0) bookkeeping.push(`batch ranges ${got.batchRanges} (reference ${reference.batchRanges})`);
      } catch (error) {
        result = {
          trial, plan, serverRestart, serverRestarted: false, kills: 0, landed: false, restarts: 0,
          survived: false, differences: [`trial failed: ${String(error)}`], bookkeeping: [], ms: Date.now() - started,
        };
      }
      results.push(result);
      log(
        `  ${result.survived ? 'ok' : 'DIFFERENT'}: ${result.kills} kill(s)${result.serverRestart ? `, server restart ${result.serverRestarted ? 'verified' : 'NOT verified'}` : ''}, ` +
          `${result.restarts} worker restart(s), ${Math.round(result.ms / 1000)} s${result.landed ? '' : ', FAULT DID NOT LAND'}` +
          (result.survived ? '' : `\n    ${result.differences.slice(0, 10).join('\n    ')}`) +
          (result.bookkeeping.length > 0 ? `\n    batch bookkeeping differs: ${result.bookkeeping.join('; ')}` : ''),
      );
    }
    const landedFaults = (r: TrialResult): number => r.kills + (r.serverRestarted ? 1 : 0);
    const faultsInjected = results.reduce((n, r) => n + landedFaults(r), 0);
    const faultsSurvived = results.filter((r) => r.survived).reduce((n, r) => n + landedFaults(r), 0);
    return {
      trials: results.length,
      faultsInjected,
      faultsSurvived,
      serverRestarts: results.filter((r) => r.serverRestarted).length,
      faultsMissed: results.filter((r) => !r.landed).length,
      results,
    };
  } finally {
    await connection.close();
  }
};

/** Trials k, 2k, … up to `trials`; the middle trial when there are fewer than k. */
export const restartTrials = (trials: number, every: number): number[] => {
  const picked = Array.from({ length: Math.floor(trials / every) }, (_, i) => (i + 1) * every);
  return picked.length > 0 ? picked : [Math.max(1, Math.ceil(trials / 2))];
};

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const killAt = process.argv.includes('--kill-at-ms') ? (process.argv[process.argv.indexOf('--kill-at-ms') + 1] ?? '').split(',').map(Number) : null;
  const trials = killAt?.length ?? arg('trials', 20);
  const server = await startTemporal();
  const port = Number(server.address.split(':').at(-1));
  try {
    const report = await runCrashHarness({
      trials,
      seed: arg('seed', 7),
      server: { address: server.address, port, dataDir: server.dataDir },
      // Every `--restart-every`-th trial (10 by default) also restarts the server; at least one trial does.
      restartServerInTrials: killAt ? [] : restartTrials(trials, arg('restart-every', 10)),
      ...(killAt ? { plans: killAt.map((afterMs): CrashPlan => ({ kind: 'time', afterMs })) } : {}),
      log: (line) => console.log(line),
    });
    console.log(
      `\ntrials run: ${report.trials}\nfaults landed: ${report.faultsInjected} (worker SIGKILLs + ${report.serverRestarts} verified server restart(s))\n` +
        `faults survived: ${report.faultsSurvived}\ntrials whose fault did not land: ${report.faultsMissed}\n` +
        `trials ending exactly as the reference: ${report.results.filter((r) => r.survived).length}/${report.trials}\n` +
        `trials with another batch count: ${report.results.filter((r) => r.bookkeeping.length > 0).length}`,
    );
    process.exitCode = report.results.every((r) => r.survived && r.landed) ? 0 : 1;
  } finally {
    await server.stop();
  }
}
