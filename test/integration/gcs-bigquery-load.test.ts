/**
 * Files staged through the landing bucket for BigQuery: the validator's typed Parquet is put at
 * `<prefix>staging/<stagingId>.parquet` on a real GCS-compatible server (fake-gcs-server), and the load job names that
 * object instead of receiving the bytes from the worker. Checked three ways: the staging area itself (one upload per
 * run, a retry sends nothing, leftovers swept); the file activities against the recorded BigQuery client (the load
 * job's sourceUris, format and labels, the object whole when the job is created, the object and the table dropped);
 * and the file workflow on the dev server with the BigQuery emulator reading the object from the bucket's files (rows
 * applied; after success and after a rolled-back run, no object and no staging table left).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BigQuery } from '@google-cloud/bigquery';
import { ApplicationFailure } from '@temporalio/common';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileActivities, type FaultInjector } from '../../src/activities/file-activities.js';
import { stagingIdOf } from '../../src/domain/workflow-api.js';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import { generateFile, type GeneratedFile } from '../../src/files/generate.js';
import { GcsLanding } from '../../src/files/gcs-landing.js';
import { GcsStagingArea, STAGED_OBJECT_MAX_AGE_MS } from '../../src/files/gcs-staging.js';
import { intakeInput } from '../../src/files/intake.js';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { createPipelineWorker } from '../../src/workers/pipeline-worker.js';
import type { FileWorkflowResult } from '../../src/workflows/file-workflow.js';
import { RecordedBigQuery } from '../../testkit/recorded-bigquery.js';
import { temporalAddress } from '../support/pipeline.js';
import { useGcsServer } from '../support/gcs-fixture.js';
import { emulatorAvailable, gcsAvailable, startEmulator, type EmulatorServer } from '../support/servers.js';

type Validation = Awaited<ReturnType<ReturnType<typeof createFileActivities>['validateFile']>>;

const DATE = '2026-11-18';
const PREFIX = 'acme/';
const STAGING = `${PREFIX}staging/`;

const { gcs, tempDir } = useGcsServer();

const openLanding = async (bucket: string): Promise<GcsLanding> => {
  const landing = new GcsLanding({ bucket, prefix: PREFIX, apiEndpoint: gcs().endpoint, projectId: 'local', tmpDir: tempDir('gcs-tmp-') });
  await landing.ensureBucket();
  return landing;
};

/** Drops a generated delivery into the bucket as a client does: data first, manifest last. */
const drop = async (landing: GcsLanding, file: GeneratedFile): Promise<void> => {
  await landing.bucket.file(`${PREFIX}${file.dataPath.split('/').at(-1)!}`).save(readFileSync(file.dataPath), { resumable: false });
  await landing.bucket.file(`${PREFIX}${file.fileId}.manifest.json`).save(readFileSync(file.manifestPath), { resumable: false });
};

/** Parquet files anywhere under a work dir. */
const parquetUnder = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((name) => name.endsWith('.parquet'));

const stagedNames = async (landing: GcsLanding): Promise<string[]> => {
  const [files] = await landing.bucket.getFiles({ prefix: STAGING });
  return files.map((f) => f.name).sort();
};

// Skipped only where setup had no Go to build fake-gcs-server with (scripts/setup.sh says so).
describe.skipIf(!gcsAvailable())('the staging area in the landing bucket', () => {
  it('puts a file once: a retried put sends nothing and keeps the generation, other bytes under the name are replaced, remove deletes, sweep deletes only leftovers', async () => {
    const landing = await openLanding('staging-area');
    const area = new GcsStagingArea(landing.bucket, STAGING);
    expect(area.location).toBe(`gs://staging-area/${STAGING}`);
    const dir = tempDir('staging-area-');
    const path = join(dir, 'normalized.parquet');
    writeFileSync(path, Buffer.alloc(300_000, 7));

    const first = await area.put({ stagingId: 'f_run1', path });
    expect(first).toMatchObject({ uri: `gs://staging-area/${STAGING}f_run1.parquet`, bytes: 300_000, uploaded: true });
    const again = await area.put({ stagingId: 'f_run1', path });
    expect(again).toEqual({ ...first, uploaded: false });

    // Other bytes under the name (not this file): replaced by a new generation holding the file's bytes.
    await landing.bucket.file(`${STAGING}f_run2.parquet`).save(Buffer.from('not the file'), { resumable: false });
    const replaced = await area.put({ stagingId: 'f_run2', path });
    expect(replaced).toMatchObject({ bytes: 300_000, uploaded: true });
    const [bytes] = await landing.bucket.file(`${STAGING}f_run2.parquet`).download();
    expect(bytes.equals(readFileSync(path))).toBe(true);

    await area.remove('f_run2');
    await area.remove('f_run2');
    expect(await stagedNames(landing)).toEqual([`${STAGING}f_run1.parquet`]);

    // Only objects created before the cutoff go: none now, the leftover once it is older than a staging table lives.
    expect(await area.sweep({ olderThanMs: STAGED_OBJECT_MAX_AGE_MS })).toEqual({ deleted: [] });
    expect(await area.sweep({ olderThanMs: STAGED_OBJECT_MAX_AGE_MS, now: Date.now() + STAGED_OBJECT_MAX_AGE_MS + 60_000 })).toEqual({
      deleted: [`${STAGING}f_run1.parquet`],
    });
    expect(await stagedNames(landing)).toEqual([]);
    await expect(area.put({ stagingId: 'f_run3', path: join(dir, 'normalized.csv') })).rejects.toThrow(/Parquet only/);
  });

  it('validate step with BigQuery (recorded client) puts the typed Parquet in the bucket under the run\'s staging id and keeps no local copy; a stage step on a worker with another work dir loads that object (PARQUET, labels) and uploads nothing, also when retried; dropStaging deletes the object and the table', async () => {
    const landing = await openLanding('staging-recorded');
    const area = new GcsStagingArea(landing.bucket, STAGING);
    const fake = new RecordedBigQuery();
    fake.answer = (sql) => (/COUNT\(\*\)/.test(sql) ? [{ n: 40 }] : []);
    const seenAtCreate: Array<{ uri: string; exists: boolean; size: number | null }> = [];
    fake.beforeCreate = async (request) => {
      const uri = (request.configuration?.load?.sourceUris as string[] | undefined)?.[0];
      if (uri === undefined) return;
      const file = landing.bucket.file(uri.replace(/^gs:\/\/[^/]+\//, ''));
      const [exists] = await file.exists();
      seenAtCreate.push({ uri, exists, size: exists ? Number((await file.getMetadata())[0].size) : null });
    };
    const warehouse = new BigQueryWarehouse({ projectId: 'proj-test', datasetId: 'ds', location: 'EU', labels: { client: 'acme' }, client: fake.asClient(), maxAttempts: 1 });
    // Two workers on different hosts: one validates, the other stages; neither sees the other's work dir.
    const validatorDir = tempDir('staging-work-validator-');
    const stagerDir = tempDir('staging-work-stager-');
    const validator = createFileActivities({ warehouse, landing, workDir: validatorDir, stagingArea: area });
    const stager = createFileActivities({ warehouse, landing, workDir: stagerDir, stagingArea: area });
    const file = await generateFile({ dir: tempDir('staging-files-'), kind: 'reconciliation', covers: [DATE], rows: 40 });
    await drop(landing, file);
    const workflowExecution = { workflowId: 'reconcile/acme/2026-11-18/abcd1234', runId: 'run-1' };
    // The runtime's logger (test/support/test-logs.ts): activity logs shown only when the test fails.
    const env = (info: { attempt?: number } = {}) => new MockActivityEnvironment({ workflowExecution, ...info }, { logger: Runtime.instance().logger });

    const validation = (await env().run(validator.validateFile, {
      fileId: file.fileId,
      sha256: file.manifest.sha256,
      from: 'incoming' as const,
    })) as Validation;
    if (!validation.ok) throw new Error(validation.summary);
    // The id the file workflow derives from the same run id (one function for both).
    const stagingId = stagingIdOf(workflowExecution.runId);
    expect(stagingId).toBe('f_run1');
    const uri = `gs://staging-recorded/${STAGING}${stagingId}.parquet`;
    expect(validation.normalizedCsvPath).toBe(uri);
    expect(await stagedNames(landing)).toEqual([`${STAGING}${stagingId}.parquet`]);
    const [staged] = await landing.bucket.file(`${STAGING}${stagingId}.parquet`).getMetadata();
    expect(Number(staged.size)).toBeGreaterThan(0);
    // The validator's local Parquet is gone; nothing was sent to BigQuery by validation.
    expect(parquetUnder(validatorDir)).toEqual([]);
    expect(fake.jobs.filter((j) => j.request.configuration?.load !== undefined)).toEqual([]);

    const stage = (attempt: number) => env({ attempt }).run(stager.stageFile, { stagingId, csvPath: validation.normalizedCsvPath });
    expect(await stage(1)).toEqual({ rows: 40 });
    const loads = fake.jobs.filter((j) => j.request.configuration?.load !== undefined);
    expect(loads).toHaveLength(1);
    expect(loads[0]!.request.configuration).toMatchObject({
      labels: { client: 'acme', workflow_id: 'reconcile_acme_2026-11-18_abcd1234', step: 'stage', attempt: '1' },
      load: {
        sourceUris: [uri],
        sourceFormat: 'PARQUET',
        writeDisposition: 'WRITE_TRUNCATE',
        destinationTable: { projectId: 'proj-test', datasetId: 'ds_staging', tableId: `staging_${stagingId}` },
      },
    });
    expect(loads[0]!.request.jobId).toBe('reconcile_acme_2026-11-18_abcd1234-stage-1-1');
    // The object was there, whole, when the job was created.
    expect(seenAtCreate).toEqual([{ uri, exists: true, size: Number(staged.size) }]);

    // A retried stage step: a new load job of the same object, and no upload (same generation).
    expect(await stage(2)).toEqual({ rows: 40 });
    const retried = fake.jobs.filter((j) => j.request.configuration?.load !== undefined);
    expect(retried.map((j) => (j.request.configuration?.load?.sourceUris as string[])[0])).toEqual([uri, uri]);
    expect(retried[1]!.request.configuration?.labels).toMatchObject({ attempt: '2' });
    expect((await landing.bucket.file(`${STAGING}${stagingId}.parquet`).getMetadata())[0].generation).toBe(staged.generation);
    expect(parquetUnder(stagerDir)).toEqual([]);

    await env().run(stager.dropStaging, { stagingId, normalizedPath: validation.normalizedCsvPath });
    expect(fake.calls).toContain(`delete table ds_staging.staging_${stagingId}`);
    expect(await stagedNames(landing)).toEqual([]);
  });

  it('a run validated before the validate step staged (a local Parquet path in its history) is still put in the bucket by its stage step and loaded from there', async () => {
    const landing = await openLanding('staging-legacy');
    const area = new GcsStagingArea(landing.bucket, STAGING);
    const fake = new RecordedBigQuery();
    fake.answer = (sql) => (/COUNT\(\*\)/.test(sql) ? [{ n: 30 }] : []);
    const warehouse = new BigQueryWarehouse({ projectId: 'proj-test', datasetId: 'ds', location: 'EU', labels: { client: 'acme' }, client: fake.asClient(), maxAttempts: 1 });
    const workDir = tempDir('staging-work-legacy-');
    // The validation as it was recorded then: the typed Parquet left under the work dir, its path returned.
    const before = createFileActivities({ warehouse, landing, workDir });
    const activities = createFileActivities({ warehouse, landing, workDir, stagingArea: area });
    const file = await generateFile({ dir: tempDir('staging-files-'), kind: 'reconciliation', covers: [DATE], rows: 30 });
    await drop(landing, file);
    const workflowExecution = { workflowId: 'reconcile/acme/2026-11-18/ef012345', runId: 'run-2' };
    const env = () => new MockActivityEnvironment({ workflowExecution }, { logger: Runtime.instance().logger });
    const validation = (await env().run(before.validateFile, { fileId: file.fileId, sha256: file.manifest.sha256, from: 'incoming' as const })) as Validation;
    if (!validation.ok) throw new Error(validation.summary);
    expect(validation.normalizedCsvPath.startsWith(workDir)).toBe(true);
    expect(await stagedNames(landing)).toEqual([]);

    const stagingId = stagingIdOf(workflowExecution.runId);
    expect(await env().run(activities.stageFile, { stagingId, csvPath: validation.normalizedCsvPath })).toEqual({ rows: 30 });
    const loads = fake.jobs.filter((j) => j.request.configuration?.load !== undefined);
    expect(loads.map((j) => (j.request.configuration?.load?.sourceUris as string[])[0])).toEqual([`gs://staging-legacy/${STAGING}${stagingId}.parquet`]);
    await env().run(activities.dropStaging, { stagingId, normalizedPath: validation.normalizedCsvPath });
    expect(await stagedNames(landing)).toEqual([]);
    expect(parquetUnder(workDir)).toEqual([]);
  });
});

// Skipped only where setup had no Go (fake-gcs-server) or no emulator scripts; CI has both.
describe.skipIf(!gcsAvailable() || !emulatorAvailable())('files staged through the bucket, loaded by the BigQuery emulator, in the file workflow', () => {
  let emulator: EmulatorServer | undefined;
  const datasets: string[] = [];
  beforeAll(async () => {
    // The emulator reads gs://bucket/object from fake-gcs-server's files: what BigQuery does with a bucket.
    emulator = await startEmulator({ gcsRoot: gcs().objectsDir });
  });
  afterAll(async () => {
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'emulator' });
    const bq = new BigQuery({ projectId: 'local-project', apiEndpoint: emulator?.endpoint ?? '', authClient });
    for (const id of datasets) await bq.dataset(id).delete({ force: true }).catch(() => undefined);
    await emulator?.stop();
  });

  /** A worker whose landing is the bucket, whose warehouse is the emulator, with the bucket as staging area. */
  const startPipeline = async (bucket: string, options: { faults?: FaultInjector; workDir?: string } = {}) => {
    const { faults } = options;
    const address = temporalAddress();
    const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
    const taskQueue = `gcs-bq-${randomUUID()}`;
    const clientId = `acme${randomUUID().slice(0, 8)}`;
    const landing = await openLanding(bucket);
    const stagingArea = new GcsStagingArea(landing.bucket, STAGING);
    const datasetId = `gcsload_${process.pid}_${Date.now()}`;
    datasets.push(datasetId, `${datasetId}_staging`);
    const loads: Array<{ statement: string; objectExists: boolean; objectBytes: number | null }> = [];
    const warehouse = await BigQueryWarehouse.open({
      projectId: 'local-project',
      datasetId,
      location: 'US',
      apiEndpoint: emulator!.endpoint,
      labels: { client: clientId },
      hooks: {
        // Right before a load job is sent: is the object it names in the bucket, and how large?
        beforeJob: async (statement) => {
          const m = /^LOAD \S+ FROM gs:\/\/[^/]+\/(.+)$/.exec(statement);
          if (!m) return;
          const [exists] = await landing.bucket.file(m[1]!).exists();
          loads.push({ statement, objectExists: exists, objectBytes: exists ? Number((await landing.bucket.file(m[1]!).getMetadata())[0].size) : null });
        },
      },
    });
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
        stagingArea,
        sources: new Map(),
        timeZone: 'America/New_York',
        workDir: options.workDir ?? tempDir('gcs-bq-work-'),
        clientId,
        ...(faults ? { faults } : {}),
      },
    });
    const running = worker.run();
    const run = async (file: GeneratedFile): Promise<{ result: FileWorkflowResult | Error; runId: string }> => {
      await drop(landing, file);
      const started = await startFileWorkflow(client, taskQueue, await intakeInput({ landing, fileId: file.fileId, clientId }));
      if (!started.started) throw new Error(started.reason);
      const result = await started.handle.result().catch((e: unknown) => e as Error);
      return { result, runId: (await started.handle.describe()).runId };
    };
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'emulator' });
    const bq = new BigQuery({ projectId: 'local-project', apiEndpoint: emulator!.endpoint, authClient });
    const stagingTables = async (): Promise<string[]> => (await bq.dataset(`${datasetId}_staging`).getTables())[0].map((t) => t.id ?? '');
    return {
      clientId,
      landing,
      warehouse,
      loads,
      run,
      stagingTables,
      stop: async () => {
        worker.shutdown();
        await running;
        await nativeConnection.close();
        await connection.close();
        await warehouse.close();
      },
    };
  };

  /** The workflow's staging id (the table a load names) and the validate activity's (the object it loads), from a LOAD statement. */
  const idsOfLoad = (statement: string): { table: string | undefined; object: string | undefined } => {
    const m = /^LOAD staging_(\S+) FROM gs:\/\/[^/]+\/.*staging\/([^/]+)\.parquet$/.exec(statement);
    return { table: m?.[1], object: m?.[2] };
  };

  it('applies a file whose load job read the staged object from the bucket, then leaves neither the object nor the staging table', async () => {
    const p = await startPipeline('bq-load-applied');
    try {
      const file = await generateFile({ dir: tempDir('gcs-bq-files-'), kind: 'reconciliation', covers: [DATE], rows: 25, clientId: p.clientId });
      const { result, runId } = await p.run(file);
      expect(result).toMatchObject({ outcome: 'applied', dates: [expect.objectContaining({ eventDate: DATE, rowsAfter: 25, toVersion: 1 })] });
      expect(await p.warehouse.readRows(DATE)).toHaveLength(25);
      const stagingId = stagingIdOf(runId);
      // One load job, naming the staged object, which was in the bucket when the job was sent.
      expect(p.loads).toEqual([
        { statement: `LOAD staging_${stagingId} FROM gs://bq-load-applied/${STAGING}${stagingId}.parquet`, objectExists: true, objectBytes: expect.any(Number) },
      ]);
      expect(p.loads[0]!.objectBytes).toBeGreaterThan(0);
      // The staging table's id comes from the workflow, the object's from the validate activity: the same.
      expect(idsOfLoad(p.loads[0]!.statement)).toEqual({ table: stagingId, object: stagingId });
      expect(await stagedNames(p.landing)).toEqual([]);
      expect(await p.stagingTables()).toEqual([]);
    } finally {
      await p.stop();
    }
  });

  it('applies a file whose stage step runs where the validator\'s work dir does not exist (another host): the load reads the object the validate step staged', async () => {
    const workDir = tempDir('gcs-bq-work-validator-');
    const seen: Array<{ workDirExists: boolean; parquetLeft: string[] }> = [];
    const faults: FaultInjector = {
      before: async (step) => {
        if (step !== 'stage') return;
        // What the validator left on its host, then that host's disk is gone: the stage step has only the bucket.
        seen.push({ workDirExists: existsSync(workDir), parquetLeft: parquetUnder(workDir) });
        rmSync(workDir, { recursive: true, force: true });
      },
    };
    const p = await startPipeline('bq-load-other-host', { faults, workDir });
    try {
      const file = await generateFile({ dir: tempDir('gcs-bq-files-'), kind: 'reconciliation', covers: [DATE], rows: 30, clientId: p.clientId });
      const { result, runId } = await p.run(file);
      expect(result).toMatchObject({ outcome: 'applied', dates: [expect.objectContaining({ eventDate: DATE, rowsAfter: 30, toVersion: 1 })] });
      expect(await p.warehouse.readRows(DATE)).toHaveLength(30);
      // The validator kept no local Parquet, and its work dir was removed before the (only) stage attempt.
      expect(seen).toEqual([{ workDirExists: true, parquetLeft: [] }]);
      expect(existsSync(workDir)).toBe(false);
      const stagingId = stagingIdOf(runId);
      expect(p.loads).toEqual([
        { statement: `LOAD staging_${stagingId} FROM gs://bq-load-other-host/${STAGING}${stagingId}.parquet`, objectExists: true, objectBytes: expect.any(Number) },
      ]);
      expect(await stagedNames(p.landing)).toEqual([]);
      expect(await p.stagingTables()).toEqual([]);
    } finally {
      await p.stop();
    }
  });

  it('rolls back a file that fails after it was staged from the bucket: the staged object and the staging table are gone', async () => {
    const faults: FaultInjector = {
      before: async (step) => {
        if (step === 'replace') throw ApplicationFailure.nonRetryable('injected failure at replace', 'WarehouseInvariant');
      },
    };
    const p = await startPipeline('bq-load-rolled-back', { faults });
    try {
      const file = await generateFile({ dir: tempDir('gcs-bq-files-'), kind: 'reconciliation', covers: [DATE], rows: 25, clientId: p.clientId });
      const { result, runId } = await p.run(file);
      expect(result).toBeInstanceOf(Error);
      const stagingId = stagingIdOf(runId);
      expect(p.loads).toEqual([
        { statement: `LOAD staging_${stagingId} FROM gs://bq-load-rolled-back/${STAGING}${stagingId}.parquet`, objectExists: true, objectBytes: expect.any(Number) },
      ]);
      expect(await p.warehouse.getFile(file.fileId, file.manifest.sha256)).toMatchObject({ outcome: 'rolled_back' });
      expect(await p.warehouse.readRows(DATE)).toEqual([]);
      expect(await stagedNames(p.landing)).toEqual([]);
      expect(await p.stagingTables()).toEqual([]);
    } finally {
      await p.stop();
    }
  });
});
