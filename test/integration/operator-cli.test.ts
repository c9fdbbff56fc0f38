/**
 * Operator flows as a new user runs them: a worker started by `cli worker`, the landing watcher, files dropped
 * into the landing directory, and the CLI's replay and restore commands (a child process per command).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFile } from '../../src/files/generate.js';
import { httpReader, type WarehouseReader } from '../../src/ops/read-api.js';
import { startLandingWorkflow } from '../../src/ops/start-landing.js';
import { freePort, repoRoot } from '../support/servers.js';

const tsx = join(repoRoot, 'node_modules/.bin/tsx');

describe('operator flows through the CLI and the landing watcher', () => {
  const root = mkdtempSync(join(tmpdir(), 'operator-cli-'));
  const landingDir = join(root, 'landing');
  const clientId = `op${randomUUID().slice(0, 8)}`;
  let env: NodeJS.ProcessEnv;
  let worker: ChildProcess | undefined;
  let workerOut = '';
  let reader: WarehouseReader;
  let connection: Connection;

  const cli = (...args: string[]): Promise<{ code: number; out: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn(tsx, ['src/cli/main.ts', ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, out }));
    });

  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T> => {
    for (let i = 0; i < 600; i++) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}; worker said:\n${workerOut}`);
  };
  const partition = async (date: string) => (await reader.getPartitions([date]))[0];
  const deliver = (date: string, sequence: number, seed: number, owner = clientId) =>
    generateFile({ dir: landingDir, kind: 'reconciliation', covers: [date], rows: 12, sequence, seed, clientId: owner, idPrefix: `s${seed}-` });

  beforeAll(async () => {
    const metricsPort = await freePort();
    env = {
      ...process.env,
      NO_COLOR: '1',
      TASK_QUEUE: `operator-${randomUUID()}`,
      CLIENT_ID: clientId,
      DUCKDB_PATH: join(root, 'warehouse.duckdb'),
      LANDING_DIR: landingDir,
      WORK_DIR: join(root, 'work'),
      METRICS_PORT: String(metricsPort),
      SDK_METRICS_PORT: '0',
      LOG_LEVEL: 'WARN',
    };
    worker = spawn(tsx, ['src/cli/main.ts', 'worker'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    worker.stdout?.on('data', (c: Buffer) => (workerOut += c.toString()));
    worker.stderr?.on('data', (c: Buffer) => (workerOut += c.toString()));
    await waitFor('the worker', async () => /worker on/.test(workerOut));
    reader = httpReader(`http://127.0.0.1:${metricsPort}`);
    connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '' });
    const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    await startLandingWorkflow(client, { taskQueue: env.TASK_QUEUE ?? '', clientId, location: `dir:${landingDir}`, pollIntervalMs: 500 });
  });

  afterAll(async () => {
    worker?.kill('SIGTERM');
    if (worker) await new Promise((r) => worker?.once('close', r));
    await connection?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("quarantines a reconciliation whose manifest names another client, on client_id, and leaves the date's version as it was", async () => {
    const date = '2026-11-03';
    const own = await deliver(date, 10, 1);
    await waitFor('the first file applied', async () => (await partition(date))?.fileId === own.fileId);
    const foreign = await deliver(date, 20, 2, 'globex');
    const report = join(landingDir, 'quarantine', foreign.fileId, foreign.manifest.sha256.slice(0, 12), `${foreign.fileId}.errors.json`);
    await waitFor('the foreign file quarantined', async () => existsSync(report));
    const errors = JSON.parse(readFileSync(report, 'utf8')) as { issues: Array<{ field: string | null; reason: string }> };
    expect(errors.issues).toEqual([
      expect.objectContaining({ field: 'client_id', reason: expect.stringContaining(`client_id "globex" is not the client this landing area serves ("${clientId}")`) }),
    ]);
    expect(await partition(date)).toMatchObject({ version: 1, fileId: own.fileId, sequence: 10 });
    expect((await reader.getChanges(date)).map((c) => c.fileId)).toEqual([own.fileId]);
    expect(await reader.getFile(foreign.fileId, foreign.manifest.sha256)).toMatchObject({ outcome: 'rejected', clientId });
  });

  it('keeps a file refused for an older sequence in refused/, and `cli replay` applies it as the next version', async () => {
    const date = '2026-11-04';
    const newer = await deliver(date, 100, 3);
    await waitFor('the newer file applied', async () => (await partition(date))?.fileId === newer.fileId);
    const older = await deliver(date, 50, 4);
    const kept = join(landingDir, 'refused', older.fileId, older.manifest.sha256.slice(0, 12));
    await waitFor('the older file kept in refused/', async () => existsSync(join(kept, `${older.fileId}.manifest.json`)));
    expect(readdirSync(kept).sort()).toEqual([`${older.fileId}.csv`, `${older.fileId}.errors.json`, `${older.fileId}.manifest.json`]);
    expect(readdirSync(landingDir).filter((n) => n.startsWith(older.fileId))).toEqual([]);
    expect(await reader.getFile(older.fileId, older.manifest.sha256)).toMatchObject({ outcome: 'refused_stale' });
    expect(await partition(date)).toMatchObject({ version: 1, fileId: newer.fileId });

    const replay = await cli('replay', older.fileId, '--by', 'test');
    expect(replay.code, replay.out).toBe(0);
    expect(replay.out).toMatch(/replay started: replaying refused delivery/);
    await waitFor('the replay applied', async () => (await partition(date))?.fileId === older.fileId);
    expect(await partition(date)).toMatchObject({ version: 2, sequence: 50, status: 'reconciled' });
    expect((await reader.getChanges(date)).map((c) => [c.fromVersion, c.toVersion, c.fileId])).toEqual([
      [0, 1, newer.fileId],
      [1, 2, older.fileId],
    ]);
  });

  it("`cli generate` builds a reconciliation from the simulated feed's transactions for the date and prints the differences it put in", async () => {
    const feedState = JSON.parse(readFileSync(join(root, 'work', 'simulated-feed.json'), 'utf8')) as { businessDate: string };
    const outbox = join(root, 'outbox');
    const generated = await cli('generate', '--date', feedState.businessDate, '--sequence', '5', '--dir', outbox);
    expect(generated.code, generated.out).toBe(0);
    expect(generated.out).toMatch(new RegExp(`from the simulated feed sim:${clientId}:p0 through .*: (\\d+) transaction\\(s\\) for ${feedState.businessDate}`));
    expect(generated.out).toMatch(/only in the file \(missed by the stream\): 3 — file-only-\d{8}-1, file-only-\d{8}-2, file-only-\d{8}-3/);
    expect(generated.out).toMatch(/amount changed: 2 — sim-42-\d+ [-\d.]+ → [-\d.]+, sim-42-\d+/);
    expect(generated.out).toMatch(/only in the stream \(left out of the file\): 1 — sim-42-\d+/);
    const truth = Number(/: (\d+) transaction\(s\) for/.exec(generated.out)?.[1]);
    const csv = readFileSync(join(outbox, readdirSync(outbox).find((n) => n.endsWith('.csv')) ?? ''), 'utf8');
    const ids = (parse(csv, { columns: true }) as Array<{ transaction_id: string }>).map((r) => r.transaction_id);
    expect(ids.length).toBe(truth - 1 + 3);
    expect(ids.filter((id) => id.startsWith('sim-42-')).length).toBe(truth - 1);
  });

  it('`cli restore` brings back an earlier version as the next one, records it, and reports against the version it replaced', async () => {
    const date = '2026-11-05';
    const first = await deliver(date, 1, 5);
    await waitFor('the first file applied', async () => (await partition(date))?.fileId === first.fileId);
    // Version 1's control totals per currency, to compare the restored version with.
    const totalsOf = async () => (await reader.dailyTotals([date])).map(({ currency, rows, total }) => ({ currency, rows, total }));
    const firstTotals = await totalsOf();
    expect(firstTotals.length).toBeGreaterThan(0);
    const second = await deliver(date, 2, 6);
    await waitFor('the second file applied', async () => (await partition(date))?.fileId === second.fileId);

    const restored = await cli('restore', date, '--to-version', '1', '--by', 'test');
    expect(restored.code, restored.out).toBe(0);
    expect(restored.out).toMatch(new RegExp(`follow it: restore/${clientId}/${date}/v1/`));
    expect(restored.out).toMatch(new RegExp(`${date}: version 2 replaced by version 3, holding the rows of version 1`));
    // Seeds 5 and 6 share no transaction id: every row of both versions differs.
    expect(restored.out).toMatch(/rows 12 → 12; 24 transaction\(s\) differ/);

    expect(await partition(date)).toMatchObject({ version: 3, status: 'reconciled' });
    // Version 3 holds version 1's rows: the same rows and totals per currency.
    expect(await totalsOf()).toEqual(firstTotals);
    const history = await reader.getChanges(date);
    expect(history.map((c) => [c.kind, c.fromVersion, c.toVersion, c.published])).toEqual([
      ['replace', 0, 1, true],
      ['replace', 1, 2, true],
      ['restore', 2, 3, true],
    ]);
    expect(history[2]?.workflowId).toMatch(new RegExp(`^restore/${clientId}/${date}/v1/`));
    const report = await reader.getReport(date);
    expect(report).toMatchObject({ changeId: history[2]?.changeId, comparedWith: 'reconciled', diffCount: 24 });
    expect(new Set(report?.diffs.map((d) => d.transactionId.split('-')[0]))).toEqual(new Set(['s5', 's6']));

    const status = await cli('status', date);
    expect(status.out).toMatch(/2→3\s+reconciled\s+restore/);

    const refused = await cli('restore', date, '--to-version', '3');
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/only an earlier version can be restored/);
    expect(await partition(date)).toMatchObject({ version: 3 });
  });
});
