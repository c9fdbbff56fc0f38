/**
 * A Prometheus server (installed into .tools/bin by scripts/setup.sh) for tests: loopback, its own data directory,
 * stopped on `stop()` or when the test process exits.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, repoRoot } from './servers.js';

export const prometheusBinary = join(repoRoot, '.tools/bin/prometheus');

export interface PrometheusServer {
  url: string;
  /** GET /api/v1/<path> and return `data`. */
  api: <T>(path: string) => Promise<T>;
  output: () => string;
  stop: () => Promise<void>;
}

export interface PrometheusAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

export const startPrometheus = async (config: Record<string, unknown>): Promise<PrometheusServer> => {
  if (!existsSync(prometheusBinary)) throw new Error(`${prometheusBinary} is missing: run bash scripts/setup.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-test-'));
  const configPath = join(dir, 'prometheus.yml');
  writeFileSync(configPath, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    prometheusBinary,
    [`--config.file=${configPath}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`Prometheus did not become ready on ${url}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}/api/v1/${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  return { url, api, output: () => log, stop };
};
