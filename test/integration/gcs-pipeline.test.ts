/**
 * Files from a bucket end to end, on the dev server and a real GCS-compatible server (fake-gcs-server): a delivery
 * dropped in the bucket is started by the landing watcher and applied by the file workflow; applied and rejected
 * deliveries stay findable under processed/ and quarantine/; `npm run cli -- replay <fileId>` replays a bucket
 * delivery; a data object overwritten while its delivery is processed is never half-applied; and the watcher never
 * starts the same delivery twice.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import type { FaultInjector } from '../../src/activities/file-activities.js';
import { workflowIds, type FileWorkflowResult } from '../../src/domain/workflow-api.js';
import { generateFile, type GeneratedFile } from '../../src/files/generate.js';
import { GcsLanding } from '../../src/files/gcs-landing.js';
import { startLandingWorkflow } from '../../src/ops/start-landing.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { createPipelineWorker } from '../../src/workers/pipeline-worker.js';
import { landingStateQuery } from '../../src/workflows/landing-workflow.js';
import { temporalAddress } from '../support/pipeline.js';
import { useGcsServer } from '../support/gcs-fixture.js';
import { gcsAvailable, repoRoot } from '../support/servers.js';

const execFileAsync = promisify(execFile);
const DATE = '2026-11-18';
const PREFIX = 'acme/';

const { gcs, tempDir } = useGcsServer();

/** Drops a generated delivery into the bucket as a client does: data first, manifest last. */
const drop = async (landing: GcsLanding, file: GeneratedFile, dataBytes?: Buffer): Promise<void> => {
  const dataName = file.dataPath.split('/').at(-1)!;
  await landing.bucket.file(`${PREFIX}${dataName}`).save(dataBytes ?? readFileSync(file.dataPath), { resumable: false });
  await landing.bucket.file(`${PREFIX}${file.fileId}.manifest.json`).save(readFileSync(file.manifestPath), { resumable: false });
};

const names = async (landing: GcsLanding, under: string): Promise<string[]> => {
  const [files] = await landing.bucket.getFiles({ prefix: `${PREFIX}${under}` });
  return files.map((f) => f.name.slice(PREFIX.length)).sort();
};

/** Objects at the landing level itself (kept deliveries live in sub-folders). */
const incomingObjects = async (landing: GcsLanding): Promise<string[]> => {
  const [files] = await landing.bucket.getFiles({ prefix: PREFIX, delimiter: '/' });
  return files.map((f) => f.name);
};

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

/** An in-process worker whose landing is the bucket, with the operating activities (watcher, replays). */
const startBucketPipeline = async (bucket: string, faults?: FaultInjector) => {
  const address = temporalAddress();
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = `gcs-${randomUUID()}`;
  const clientId = `acme${randomUUID().slice(0, 8)}`;
  const landing = new GcsLanding({ bucket, prefix: PREFIX, apiEndpoint: gcs().endpoint, projectId: 'local', tmpDir: tempDir('gcs-tmp-') });
  await landing.ensureBucket();
  const warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const worker: Worker = await createPipelineWorker({
    connection: nativeConnection,
    namespace,
    taskQueue,
    deps: {
      warehouse,
      landing,
      sources: new Map(),
      timeZone: 'America/New_York',
      workDir: tempDir('gcs-work-'),
      clientId,
      ...(faults ? { faults } : {}),
      ops: { client, taskQueue },
    },
  });
  const running = worker.run();
  const watcher = await startLandingWorkflow(client, { taskQueue, clientId, location: landing.location, pollIntervalMs: 500 });
  const fileResult = (file: GeneratedFile): Promise<FileWorkflowResult> =>
    waitFor(`the workflow of ${file.fileId}`, async () => {
      const id = workflowIds.file(clientId, file.manifest.kind, file.manifest.covers, file.fileId, file.manifest.sha256);
      await client.workflow.getHandle(id).describe();
      return id;
    }).then((id) => client.workflow.getHandle(id).result() as Promise<FileWorkflowResult>);
  return {
    client,
    clientId,
    taskQueue,
    landing,
    warehouse,
    watcher,
    fileResult,
    stop: async () => {
      await watcher.terminate().catch(() => undefined);
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await warehouse.close();
    },
  };
};

/** The transaction ids of a generated file, sorted. */
const idsOf = (file: GeneratedFile): string[] =>
  readFileSync(file.dataPath, 'utf8').trim().split('\n').slice(1).map((line) => line.split(',')[0] ?? '').sort();

/** A fault hook that runs the client's overwrite once, just before the given step of a file workflow. */
const overwriteAt = (step: string) => {
  let pending: (() => Promise<void>) | null = null;
  let fired = false;
  const faults: FaultInjector = {
    before: async (at) => {
      if (at !== step || !pending) return;
      const once = pending;
      pending = null;
      fired = true;
      await once();
    },
  };
  return { faults, arm: (f: () => Promise<void>) => (pending = f), fired: () => fired };
};

// Skipped only where setup had no Go to build fake-gcs-server with (scripts/setup.sh says so).
describe.skipIf(!gcsAvailable())('files from a bucket through the watcher and the file workflow', () => {
  it('applies a dropped delivery, keeps applied and rejected ones findable, replays one with `npm run cli -- replay`, and starts each delivery once', async () => {
    const p = await startBucketPipeline('landing-e2e');
    const dir = tempDir('gcs-files-');
    try {
      const recon = await generateFile({ dir, kind: 'reconciliation', covers: [DATE], rows: 25, sequence: 1, clientId: p.clientId });
      await drop(p.landing, recon);
      expect(await p.fileResult(recon)).toMatchObject({ outcome: 'applied', dates: [expect.objectContaining({ eventDate: DATE, rowsAfter: 25, toVersion: 1 })] });
      expect(await p.warehouse.readRows(DATE)).toHaveLength(25);
      const sha12 = recon.manifest.sha256.slice(0, 12);
      expect(await names(p.landing, `processed/${recon.fileId}/`)).toEqual([
        `processed/${recon.fileId}/${sha12}/${recon.fileId}.csv`,
        `processed/${recon.fileId}/${sha12}/${recon.fileId}.manifest.json`,
      ]);

      // A delivery whose bytes do not match its manifest: rejected, kept in quarantine with its report.
      const bad = await generateFile({ dir, kind: 'amendment', covers: [DATE], rows: 10, sequence: 2, clientId: p.clientId, fileId: `${p.clientId}-bad` });
      await drop(p.landing, bad, Buffer.from(readFileSync(bad.dataPath, 'utf8').replace(/\n[^\n]+\n$/, '\n')));
      expect((await p.fileResult(bad).catch((e: unknown) => e)) as Error).toBeInstanceOf(Error);
      const badSha12 = bad.manifest.sha256.slice(0, 12);
      expect(await names(p.landing, `quarantine/${bad.fileId}/`)).toEqual([
        `quarantine/${bad.fileId}/${badSha12}/${bad.fileId}.csv`,
        `quarantine/${bad.fileId}/${badSha12}/${bad.fileId}.errors.json`,
        `quarantine/${bad.fileId}/${badSha12}/${bad.fileId}.manifest.json`,
      ]);
      expect(await p.landing.listStored(bad.fileId, 'quarantine')).toEqual([badSha12]);

      // The same delivery dropped again: refused as a duplicate, never started a second time.
      await drop(p.landing, recon);
      await waitFor('the duplicate to be refused', async () => ((await p.watcher.query(landingStateQuery)).duplicates === 1 ? true : undefined));
      const state = await p.watcher.query(landingStateQuery);
      expect({ started: state.started, duplicates: state.duplicates }).toEqual({ started: 2, duplicates: 1 });
      // Nothing is left incoming: the re-delivered objects went to quarantine with the duplicate's report.
      expect(await incomingObjects(p.landing)).toEqual([]);
      expect(await names(p.landing, `quarantine/${recon.fileId}/`)).toContain(`quarantine/${recon.fileId}/${sha12}/${recon.fileId}.errors.json`);

      // The operator's replay of the bucket delivery, through the CLI.
      const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'replay', recon.fileId, '--by', 'test'], {
        cwd: repoRoot,
        env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress(), CLIENT_ID: p.clientId, TASK_QUEUE: p.taskQueue, LOG_LEVEL: 'WARN' },
      });
      expect(stdout).toContain(`replaying processed delivery ${sha12}`);
      const replayId = /follow it: (\S+)/.exec(stdout)?.[1] ?? '';
      expect(replayId).toMatch(new RegExp(`^replay/${p.clientId}/${recon.fileId}/${recon.manifest.sha256.slice(0, 8)}/`));
      expect(await p.client.workflow.getHandle(replayId).result()).toMatchObject({
        outcome: 'applied',
        dates: [expect.objectContaining({ eventDate: DATE, fromVersion: 1, toVersion: 2, rowsAfter: 25 })],
      });
      expect((await p.watcher.query(landingStateQuery)).started).toBe(2);
    } finally {
      await p.stop();
    }
  });

  it('never half-applies a delivery whose data object is overwritten (a new generation) while it is processed: the read generation is applied whole, the new one runs as its own delivery', async () => {
    // Between validation (the bytes were read) and staging, the client overwrites the data and the manifest.
    const overwrite = overwriteAt('stage');
    const p = await startBucketPipeline('landing-overwrite', overwrite.faults);
    const dir = tempDir('gcs-files-');
    try {
      const fileId = `${p.clientId}-recon`;
      const v1 = await generateFile({ dir: join(dir, 'v1'), kind: 'reconciliation', covers: [DATE], rows: 20, sequence: 1, clientId: p.clientId, fileId, seed: 1, idPrefix: 'g1-' });
      const v2 = await generateFile({ dir: join(dir, 'v2'), kind: 'reconciliation', covers: [DATE], rows: 30, sequence: 2, clientId: p.clientId, fileId, seed: 2, idPrefix: 'g2-' });
      overwrite.arm(() => drop(p.landing, v2));
      await drop(p.landing, v1);
      const first = await p.fileResult(v1);
      expect(first).toMatchObject({ outcome: 'applied', dates: [expect.objectContaining({ toVersion: 1, rowsAfter: 20 })] });
      expect(overwrite.fired()).toBe(true);
      const second = await p.fileResult(v2);
      expect(second).toMatchObject({ outcome: 'applied', dates: [expect.objectContaining({ fromVersion: 1, toVersion: 2, rowsAfter: 30 })] });
      // Version 1 was exactly v1's rows, version 2 is exactly v2's: no version mixes the two generations.
      expect((await p.warehouse.readVersion(DATE, 1)).map((r) => r.transactionId).sort()).toEqual(idsOf(v1));
      expect((await p.warehouse.readRows(DATE)).map((r) => r.transactionId).sort()).toEqual(idsOf(v2));
      // Both generations are kept, each under its own sha256, with the bytes of that generation.
      const kept = await p.landing.listStored(fileId, 'processed');
      expect(kept.sort()).toEqual([v1.manifest.sha256.slice(0, 12), v2.manifest.sha256.slice(0, 12)].sort());
      for (const file of [v1, v2]) {
        const opened = await p.landing.openData(fileId, { area: 'processed', sha256: file.manifest.sha256 });
        expect(createHash('sha256').update(readFileSync(opened!.path)).digest('hex')).toBe(file.manifest.sha256);
        await opened!.release();
      }
      expect((await p.watcher.query(landingStateQuery)).started).toBe(2);
    } finally {
      await p.stop();
    }
  });

  it('rejects whole a delivery whose objects are replaced before its data is read (nothing of it applied, its report in quarantine) and applies the replacement as its own delivery', async () => {
    // After the watcher read the manifest and started the run, before validation reads the data.
    const overwrite = overwriteAt('validate');
    const p = await startBucketPipeline('landing-replaced', overwrite.faults);
    const dir = tempDir('gcs-files-');
    try {
      const fileId = `${p.clientId}-recon`;
      const v1 = await generateFile({ dir: join(dir, 'v1'), kind: 'reconciliation', covers: [DATE], rows: 20, sequence: 1, clientId: p.clientId, fileId, seed: 1, idPrefix: 'g1-' });
      const v2 = await generateFile({ dir: join(dir, 'v2'), kind: 'reconciliation', covers: [DATE], rows: 30, sequence: 2, clientId: p.clientId, fileId, seed: 2, idPrefix: 'g2-' });
      overwrite.arm(() => drop(p.landing, v2));
      await drop(p.landing, v1);
      const error = (await p.fileResult(v1).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(overwrite.fired()).toBe(true);
      const second = await p.fileResult(v2);
      expect(second).toMatchObject({ outcome: 'applied', dates: [expect.objectContaining({ fromVersion: 0, toVersion: 1, rowsAfter: 30 })] });
      expect(await p.warehouse.readRows(DATE)).toHaveLength(30);
      const [partition] = await p.warehouse.getPartitions([DATE]);
      expect(partition).toMatchObject({ version: 1, sequence: 2 });
      const report = JSON.parse(
        (await p.landing.bucket.file(`${PREFIX}quarantine/${fileId}/${v1.manifest.sha256.slice(0, 12)}/${fileId}.errors.json`).download())[0].toString('utf8'),
      ) as { reason: string };
      expect(report.reason).toMatch(/changed after it was registered|sha256/);
      expect(await p.landing.listStored(fileId, 'processed')).toEqual([v2.manifest.sha256.slice(0, 12)]);
      expect(await incomingObjects(p.landing)).toEqual([]);
    } finally {
      await p.stop();
    }
  });
});
