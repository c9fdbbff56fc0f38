/**
 * The real worker process (src/workers/main.ts) as a child of a test, configured only through its environment,
 * so a test can kill it with SIGKILL at any instant and start it again on the same state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './servers.js';

export interface WorkerProcess {
  pid: number;
  /** Resolves once the worker polls its task queue (it prints its banner). */
  ready: Promise<void>;
  /** Resolves with the exit code or signal when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process printed, for failure messages. */
  output: () => string;
  /** SIGKILL: no shutdown, no flush, no goodbye. */
  kill: () => Promise<void>;
  /** SIGTERM: the worker drains and closes the warehouse. Falls back to SIGKILL after `graceMs`. */
  stop: (graceMs?: number) => Promise<void>;
}

const READY_BANNER = 'worker on task queue';

/** What a worker process runs: by default the bare worker; CLI_WORKER is `npm run cli -- worker` (operating activities, read API). */
export interface WorkerEntry {
  args: string[];
  readyBanner: string;
}
export const CLI_WORKER: WorkerEntry = { args: ['src/cli/main.ts', 'worker'], readyBanner: 'metrics and read API on' };

/**
 * Starts `src/workers/main.ts` under the tsx loader. Node runs the worker itself (`node --import tsx`, not the
 * `tsx` launcher, which would put a second process in between that a SIGKILL could not pass through).
 */
export const spawnWorkerProcess = (
  env: Record<string, string>,
  opts: { readyTimeoutMs?: number; entry?: WorkerEntry } = {},
): WorkerProcess => {
  const entry = opts.entry ?? { args: ['src/workers/main.ts'], readyBanner: READY_BANNER };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ...entry.args.map((a, i) => (i === 0 ? join(repoRoot, a) : a))], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('worker process did not start');
  const pid = child.pid;
  let log = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker ${pid} not ready after ${opts.readyTimeoutMs ?? 60_000} ms:\n${log}`)),
      opts.readyTimeoutMs ?? 60_000,
    );
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes(entry.readyBanner)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`worker ${pid} exited (${code ?? signal}) before it was ready:\n${log}`));
    });
  });
  // A rejection nobody awaited (the worker was killed before it was ready on purpose) must not fail the run.
  ready.catch(() => undefined);

  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return {
    pid,
    ready,
    exited,
    output: () => log,
    kill,
    stop: async (graceMs = 30_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
};
