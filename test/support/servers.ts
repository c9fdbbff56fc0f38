// Starts and stops the local servers tests run against, through the same
// scripts a developer uses (scripts/temporal.sh, scripts/emulator.sh).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const temporalScript = join(repoRoot, 'scripts/temporal.sh');
const emulatorScript = join(repoRoot, 'scripts/emulator.sh');

export interface TemporalServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  namespace: string;
  dataDir: string;
  stop: () => Promise<void>;
}

export interface StartTemporalOptions {
  port?: number;
  /** Dynamic config overrides, e.g. `{ 'limit.historyCount.suggestContinueAsNew': 50 }`. */
  dynamicConfig?: Record<string, unknown>;
  namespace?: string;
  /** More namespaces to create, each with the search attributes (the tests: one per test worker). */
  extraNamespaces?: string[];
}

export interface EmulatorServer {
  /** Base URL, e.g. http://127.0.0.1:9050 */
  endpoint: string;
  port: number;
  /** gRPC port of the Storage Read/Write API. */
  grpcPort: number;
  stop: () => Promise<void>;
}

/** A TCP port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not get a free port'));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

// Synchronous stoppers, run on exit and on signals so no server outlives the test run.
const pendingStops = new Map<string, () => void>();
let handlersInstalled = false;

function stopQuietly(stop: () => void): void {
  try {
    stop();
  } catch {
    // Best effort: the start error matters more, and temporal.sh's watchdog is a second line of defence.
  }
}

function stopAllSync(): void {
  for (const [key, stop] of pendingStops) {
    pendingStops.delete(key);
    stopQuietly(stop);
  }
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Prepended: vitest's own listeners call process.exit(), after which later listeners never run.
  process.prependOnceListener('exit', stopAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      stopAllSync();
      // With nobody else listening, restore the default action (exit) and re-raise.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.prependListener(signal, onSignal);
  }
}

function scriptError(what: string, err: unknown): Error {
  const e = err as { stdout?: string; stderr?: string; message?: string };
  const output = [e.stdout, e.stderr].filter((s) => s !== undefined && s.trim() !== '').join('\n');
  return new Error(`${what} failed: ${output.trim() !== '' ? output.trim() : (e.message ?? String(err))}`, { cause: err });
}

/**
 * Starts a Temporal dev server (headless, own SQLite file in a temp dir) on a free port.
 * Call `stop()` when done; it also runs automatically when the process exits.
 */
export async function startTemporal(options: StartTemporalOptions = {}): Promise<TemporalServer> {
  const port = options.port ?? (await freePort());
  const namespace = options.namespace ?? 'default';
  const dataDir = mkdtempSync(join(tmpdir(), 'temporal-test-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_PORT: String(port),
    TEMPORAL_DATA_DIR: dataDir,
    TEMPORAL_HEADLESS: '1',
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_EXTRA_NAMESPACES: (options.extraNamespaces ?? []).join(' '),
    TEMPORAL_DYNAMIC_CONFIG: Object.entries(options.dynamicConfig ?? {})
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
      .join(' '),
    // If this process dies without running its handlers (SIGKILL), the server follows.
    TEMPORAL_WATCH_PID: String(process.pid),
    TEMPORAL_DATA_DIR_TEMPORARY: '1',
  };

  const key = `temporal:${dataDir}`;
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    execFileSync('bash', [temporalScript, 'stop'], { env, stdio: 'ignore' });
    rmSync(dataDir, { recursive: true, force: true });
  };
  installExitHandlers();
  pendingStops.set(key, stopSync);

  try {
    await execFileAsync('bash', [temporalScript, 'start'], { env, cwd: repoRoot });
  } catch (err) {
    pendingStops.delete(key);
    stopQuietly(stopSync);
    throw scriptError(`Temporal dev server on port ${port} (scripts/temporal.sh start)`, err);
  }

  const stop = async (): Promise<void> => {
    if (stopped) return;
    pendingStops.delete(key);
    stopped = true;
    try {
      await execFileAsync('bash', [temporalScript, 'stop'], { env, cwd: repoRoot });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
  return { address: `127.0.0.1:${port}`, namespace, dataDir, stop };
}

export function emulatorAvailable(): boolean {
  return existsSync(emulatorScript);
}

async function waitForTcp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((done) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Starts the local BigQuery emulator (scripts/emulator.sh) on a free port; `inMemory` keeps its data in memory
 * instead of a DuckDB file in a temporary directory (removed at stop either way).
 * Call `stop()` when done; it also runs automatically when the process exits.
 */
export async function startEmulator(options: { port?: number; gcsRoot?: string; inMemory?: boolean } = {}): Promise<EmulatorServer> {
  if (!emulatorAvailable()) {
    throw new Error('scripts/emulator.sh does not exist: the BigQuery emulator cannot be started');
  }
  const port = options.port ?? (await freePort());
  const grpcPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'bq-emulator-test-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BQ_EMULATOR_PORT: String(port),
    BQ_EMULATOR_GRPC_PORT: String(grpcPort),
    BQ_EMULATOR_DATA_DIR: dataDir,
    // In memory (BQ_EMULATOR_EPHEMERAL): the same answers as on disk (docs/emulators.md), in less time.
    ...(options.inMemory ? { BQ_EMULATOR_EPHEMERAL: '1' } : {}),
    // Load jobs read gs://bucket/object from <gcsRoot>/bucket/object (startGcs's objectsDir).
    ...(options.gcsRoot ? { BQ_EMULATOR_GCS_ROOT: options.gcsRoot } : {}),
  };

  const key = `emulator:${port}`;
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    execFileSync('bash', [emulatorScript, 'stop'], { env, stdio: 'ignore' });
    rmSync(dataDir, { recursive: true, force: true });
  };
  installExitHandlers();
  pendingStops.set(key, stopSync);

  try {
    await execFileAsync('bash', [emulatorScript, 'start'], { env, cwd: repoRoot });
    await waitForTcp(port, 60_000);
  } catch (err) {
    pendingStops.delete(key);
    stopQuietly(stopSync);
    throw scriptError(`BigQuery emulator on port ${port} (scripts/emulator.sh start)`, err);
  }

  const stop = async (): Promise<void> => {
    if (stopped) return;
    pendingStops.delete(key);
    stopped = true;
    try {
      await execFileAsync('bash', [emulatorScript, 'stop'], { env, cwd: repoRoot });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
  return { endpoint: `http://127.0.0.1:${port}`, port, grpcPort, stop };
}

const kafkaScript = join(repoRoot, 'scripts/kafka.sh');

export interface KafkaServer {
  /** host:port of the broker's client listener. */
  broker: string;
  port: number;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  /** Stops the broker and keeps its data (a fault test restarts it with `restart`). */
  halt: () => Promise<void>;
  restart: () => Promise<void>;
  stop: () => Promise<void>;
}

/**
 * Starts a single-node Kafka broker (scripts/kafka.sh) on free ports with its own data dir.
 * Call `stop()` when done; it also runs automatically when the process exits.
 */
export async function startKafka(): Promise<KafkaServer> {
  const port = await freePort();
  const controllerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'kafka-test-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controllerPort),
    KAFKA_DATA_DIR: dataDir,
    KAFKA_HEAP: '384m',
    KAFKA_WATCH_PID: String(process.pid),
  };
  const key = `kafka:${dataDir}`;
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    execFileSync('bash', [kafkaScript, 'stop'], { env, stdio: 'ignore' });
    rmSync(dataDir, { recursive: true, force: true });
  };
  installExitHandlers();
  pendingStops.set(key, stopSync);
  const run = async (command: 'start' | 'stop'): Promise<void> => {
    try {
      await execFileAsync('bash', [kafkaScript, command], { env, cwd: repoRoot });
    } catch (err) {
      throw scriptError(`Kafka broker on port ${port} (scripts/kafka.sh ${command})`, err);
    }
  };
  try {
    await run('start');
  } catch (err) {
    pendingStops.delete(key);
    stopQuietly(stopSync);
    throw err;
  }
  return {
    broker: `127.0.0.1:${port}`,
    port,
    dataDir,
    env,
    halt: () => run('stop'),
    restart: () => run('start'),
    stop: async () => {
      if (stopped) return;
      pendingStops.delete(key);
      stopped = true;
      try {
        await run('stop');
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

const gcsScript = join(repoRoot, 'scripts/gcs.sh');

/** Whether scripts/setup.sh could install fake-gcs-server (it needs Go). */
export const gcsAvailable = (): boolean => existsSync(join(repoRoot, '.tools/bin/fake-gcs-server'));

/** Starts the local GCS-compatible server (scripts/gcs.sh) on a free port; stopped at exit too. */
export async function startGcs(): Promise<{ endpoint: string; objectsDir: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'gcs-test-'));
  const env: NodeJS.ProcessEnv = { ...process.env, GCS_PORT: String(port), GCS_DATA_DIR: dataDir, GCS_WATCH_PID: String(process.pid) };
  const key = `gcs:${dataDir}`;
  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    execFileSync('bash', [gcsScript, 'stop'], { env, stdio: 'ignore' });
    rmSync(dataDir, { recursive: true, force: true });
  };
  installExitHandlers();
  pendingStops.set(key, stopSync);
  try {
    await execFileAsync('bash', [gcsScript, 'start'], { env, cwd: repoRoot });
  } catch (err) {
    pendingStops.delete(key);
    stopQuietly(stopSync);
    throw scriptError(`GCS server on port ${port} (scripts/gcs.sh start)`, err);
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // The filesystem backend keeps an object's bytes at <objectsDir>/<bucket>/<object> (scripts/gcs.sh).
    objectsDir: join(dataDir, 'objects'),
    stop: async () => {
      if (stopped) return;
      pendingStops.delete(key);
      stopped = true;
      try {
        await execFileAsync('bash', [gcsScript, 'stop'], { env, cwd: repoRoot });
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
