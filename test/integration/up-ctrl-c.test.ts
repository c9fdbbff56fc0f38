/**
 * Ctrl-C on `npm start`: the terminal sends SIGINT to the whole foreground process group (npm, tsx, the node
 * process running `up`); the worker and the Temporal dev server that `up` started must both be gone soon after,
 * whatever the feed rate. The time it took is printed (a figure, not an assertion: the machine is shared).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot } from '../support/servers.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const killGroup = (pid: number): void => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('Ctrl-C on npm start', () => {
  it.each([1, 20_000])('stops the worker and the Temporal server it started (feed at %i events/s)', { timeout: 300_000 }, async (rate) => {
    const root = mkdtempSync(join(tmpdir(), 'up-ctrl-c-'));
    const [temporalPort, uiPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn('npm', ['start'], {
      cwd: repoRoot,
      detached: true, // its own process group, as a terminal's foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NO_COLOR: '1',
        TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
        TEMPORAL_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        TEMPORAL_DATA_DIR: join(root, 'temporal'),
        METRICS_PORT: String(metricsPort),
        SDK_METRICS_PORT: '0',
        DUCKDB_PATH: join(root, 'warehouse.duckdb'),
        LANDING_DIR: join(root, 'landing'),
        WORK_DIR: join(root, 'work'),
        FEED_RATE: String(rate),
      },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const upBy = Date.now() + 240_000;
      while (!out.includes('The pipeline is up')) {
        if (Date.now() > upBy || child.exitCode !== null) throw new Error(`npm start did not come up:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 3_000)); // the stream runs
      const serverPid = Number(readFileSync(join(root, 'temporal/temporal.pid'), 'utf8').trim());
      expect(alive(serverPid)).toBe(true);

      const sentAt = Date.now();
      process.kill(-(child.pid as number), 'SIGINT');
      const code = await exited;
      const npmGoneMs = Date.now() - sentAt;
      while (alive(serverPid) && Date.now() - sentAt < 60_000) await new Promise((r) => setTimeout(r, 100));
      const serverGoneMs = Date.now() - sentAt;
      console.log(`feed ${rate}/s: npm start exited ${npmGoneMs} ms after Ctrl-C, the Temporal server was gone after ${serverGoneMs} ms`);

      // npm re-raises the interrupt: it ends by SIGINT (no exit code) or with 0, never with an error.
      expect([0, null], out.slice(-2000)).toContain(code);
      expect(out).toContain('stopping the worker');
      expect(alive(serverPid)).toBe(false);
      expect(await portOpen(temporalPort)).toBe(false);
      expect(await portOpen(metricsPort)).toBe(false);
      expect(existsSync(join(root, 'temporal/temporal.pid'))).toBe(false);
    } finally {
      killGroup(child.pid as number);
      const pidFile = join(root, 'temporal/temporal.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (alive(pid)) killGroup(pid);
      }
      rmSync(root, { recursive: true, force: true });
    }
  });
});
