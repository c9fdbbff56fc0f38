/**
 * The CLI as an operator runs it (a child process per command) against the dev server: help everywhere,
 * a reconciliation delivered and followed, status/report/files read through the worker's read API, and
 * straight from the DuckDB file once the worker is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliHelp } from '../support/cli-help.js';
import { freePort, repoRoot } from '../support/servers.js';

const tsx = join(repoRoot, 'node_modules/.bin/tsx');

describe('cli', () => {
  const root = mkdtempSync(join(tmpdir(), 'cli-test-'));
  const clientId = `cli${randomUUID().slice(0, 8)}`;
  let env: NodeJS.ProcessEnv;
  let worker: ChildProcess | undefined;

  const cli = (...args: string[]): Promise<{ code: number; out: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(tsx, ['src/cli/main.ts', ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, out }));
    });

  beforeAll(async () => {
    const metricsPort = await freePort();
    env = {
      ...process.env,
      NO_COLOR: '1',
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      TASK_QUEUE: `cli-${randomUUID()}`,
      CLIENT_ID: clientId,
      DUCKDB_PATH: join(root, 'warehouse.duckdb'),
      LANDING_DIR: join(root, 'landing'),
      WORK_DIR: join(root, 'work'),
      METRICS_PORT: String(metricsPort),
      SDK_METRICS_PORT: '0',
      LOG_LEVEL: 'WARN',
    };
  });

  afterAll(() => {
    worker?.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  });

  /** The subcommands a `--help` output lists under "Commands:" (help itself left out). */
  const subcommands = (help: string): string[] => {
    const section = help.split(/^Commands:$/m)[1] ?? '';
    return [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1] ?? '').filter((name) => name !== 'help');
  };

  it('has --help on every command and subcommand the help lists, found by walking the help tree', async () => {
    // The walk reads each help from the commander tree the CLI parses (test/support/cli-help.ts), in this process.
    const seen: string[][] = [];
    let level: string[][] = [[]];
    while (level.length > 0) {
      const next: string[][] = [];
      for (const command of level) {
        const help = await cliHelp(command);
        expect(help, command.join(' ')).toMatch(new RegExp(`^Usage: cli${command.map((c) => ` ${c}`).join('')}\\b`, 'm'));
        seen.push(command);
        next.push(...subcommands(help).map((sub) => [...command, sub]));
      }
      level = next;
    }
    // The walk found the tree, not just the root: the commands operators use are among what it checked.
    const names = seen.map((c) => c.join(' '));
    expect(names).toEqual(expect.arrayContaining(['up', 'stack start', 'worker', 'reconcile', 'replay', 'restore', 'stream pause', 'schedule trigger', 'generate']));
    expect(names.length).toBeGreaterThanOrEqual(25);
    // And as an operator runs it: a child process prints the same help and exits 0, at the root and at a leaf.
    for (const command of [[], ['stream', 'pause']]) {
      const r = await cli(...command, '--help');
      expect(r.code, command.join(' ')).toBe(0);
      expect(r.out.trim(), command.join(' ')).toBe((await cliHelp(command)).trim());
    }
  }, 600_000);

  it('delivers a reconciliation, reads it back through the worker, then from the file when the worker is gone', async () => {
    worker = spawn(tsx, ['src/cli/main.ts', 'worker'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let workerOut = '';
    worker.stdout?.on('data', (c: Buffer) => (workerOut += c.toString()));
    worker.stderr?.on('data', (c: Buffer) => (workerOut += c.toString()));
    // A generous start-up limit: a first start compiles the CLI's TypeScript, slow on a busy machine.
    let exited: number | null = null;
    worker.once('exit', (code) => (exited = code ?? 1));
    for (const deadline = Date.now() + 120_000; !/worker on/.test(workerOut); ) {
      if (exited !== null) throw new Error(`worker exited (code ${exited}) before it started: ${workerOut}`);
      if (Date.now() > deadline) throw new Error(`worker did not start within 120 s: ${workerOut}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const outbox = join(root, 'outbox');
    const generated = await cli('generate', '--kind', 'reconciliation', '--date', '2026-11-10', '--rows', '50', '--sequence', '7', '--dir', outbox);
    expect(generated.code, generated.out).toBe(0);
    const dataName = readdirSync(outbox).find((n) => n.endsWith('.csv')) ?? '';

    const reconciled = await cli('reconcile', join(outbox, dataName), '--no-progress');
    expect(reconciled.code, reconciled.out).toBe(0);
    expect(reconciled.out).toMatch(new RegExp(`reconcile/${clientId}/2026-11-10/.*: applied`));
    expect(reconciled.out).toMatch(/2026-11-10\s+0→1\s+0→50/);

    const wrongKind = await cli('amend', join(outbox, dataName));
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.out).toMatch(/is a reconciliation, not an amendment/);

    const status = await cli('status', '2026-11-10');
    expect(status.code, status.out).toBe(0);
    expect(status.out).toMatch(/2026-11-10\s+\[RECONCILED\]\s+version 1, 50 rows/);
    expect(status.out).toMatch(/read through worker at/);

    const report = await cli('report', '2026-11-10');
    expect(report.out).toMatch(/Reconciliation report for 2026-11-10/);
    expect(report.out).toMatch(/only in file 50/);

    const files = await cli('files', '--outcome', 'applied');
    expect(files.out).toMatch(new RegExp(`reconciliation\\s+applied\\s+COMPLETED\\s+reconcile/${clientId}/2026-11-10/`));
    expect(files.out).toMatch(/visibility query: WorkflowType = 'fileWorkflow'/);

    const badDate = await cli('status', '2026-02-30');
    expect(badDate.code).not.toBe(0);
    expect(badDate.out).toMatch(/expected a date/);

    worker.kill('SIGTERM');
    await new Promise((r) => worker?.once('close', r));
    worker = undefined;

    const direct = await cli('status', '2026-11-10');
    expect(direct.code, direct.out).toBe(0);
    expect(direct.out).toMatch(/\[RECONCILED\]/);
    expect(direct.out).toMatch(/no worker running/);
  }, 300_000);
});
