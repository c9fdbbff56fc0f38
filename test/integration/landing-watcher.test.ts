/**
 * The landing watcher on the real dev server: files dropped into the landing directory each run once, a
 * duplicate delivery is refused and kept aside, and an operator's replay signal reruns an old-sequence file.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFile, type GeneratedFile } from '../../src/files/generate.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { startLandingWorkflow } from '../../src/ops/start-landing.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { createPipelineWorker } from '../../src/workers/pipeline-worker.js';
import { replayFileSignal } from '../../src/domain/workflow-api.js';
import { landingStateQuery, type LandingState } from '../../src/workflows/landing-workflow.js';

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

/** Delivers a generated file the way a client does: data first, manifest last. */
const deliver = (file: GeneratedFile, landingDir: string): void => {
  const dataName = file.dataPath.split('/').at(-1) ?? '';
  copyFileSync(file.dataPath, join(landingDir, dataName));
  copyFileSync(file.manifestPath, join(landingDir, `${file.fileId}.manifest.json`));
};

describe('landing watcher', () => {
  const address = process.env.TEMPORAL_ADDRESS ?? '';
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = `landing-${randomUUID()}`;
  const clientId = `lw${randomUUID().slice(0, 8)}`;
  const landingDir = mkdtempSync(join(tmpdir(), 'landing-'));
  const outbox = mkdtempSync(join(tmpdir(), 'outbox-'));
  const workDir = mkdtempSync(join(tmpdir(), 'work-'));
  let warehouse: DuckDbWarehouse;
  let connection: Connection;
  let native: NativeConnection;
  let client: Client;
  let worker: Worker;
  let running: Promise<void>;

  const state = async (): Promise<LandingState> =>
    client.workflow.getHandle(`landing/${clientId}`).query(landingStateQuery);
  const partition = async (date: string) => (await warehouse.getPartitions([date]))[0];

  beforeAll(async () => {
    warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
    connection = await Connection.connect({ address });
    native = await NativeConnection.connect({ address });
    client = new Client({ connection, namespace });
    worker = await createPipelineWorker({
      connection: native,
      namespace,
      taskQueue,
      deps: {
        warehouse,
        landing: new LocalDirLanding(landingDir),
        sources: new Map(),
        timeZone: 'America/New_York',
        workDir,
        ops: { client, taskQueue },
      },
    });
    running = worker.run();
    await startLandingWorkflow(client, { taskQueue, clientId, location: `dir:${landingDir}`, pollIntervalMs: 300 });
  });

  afterAll(async () => {
    await client.workflow.getHandle(`landing/${clientId}`).terminate('test done').catch(() => undefined);
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await warehouse.close();
    for (const dir of [landingDir, outbox, workDir]) rmSync(dir, { recursive: true, force: true });
  });

  it('starts each dropped file once, refuses a duplicate delivery, and replays an old sequence on request', async () => {
    const recon = await generateFile({ dir: join(outbox, 'a'), kind: 'reconciliation', covers: ['2026-11-10'], rows: 40, sequence: 1, clientId, seed: 1 });
    const amend = await generateFile({ dir: join(outbox, 'b'), kind: 'amendment', covers: ['2026-11-05', '2026-11-06'], rows: 30, sequence: 2, clientId, seed: 2 });
    deliver(recon, landingDir);
    deliver(amend, landingDir);

    await waitFor('both files applied', async () => (await partition('2026-11-10'))?.status === 'reconciled' && (await partition('2026-11-06'))?.status === 'amended');
    const afterFirst = await waitFor('the watcher to see both moved', async () => {
      const s = await state();
      return s.started === 2 && s.seen.length === 0 ? s : undefined;
    });
    expect(afterFirst.duplicates).toBe(0);
    expect((await partition('2026-11-10'))?.version).toBe(1);
    expect((await partition('2026-11-05'))?.status).toBe('amended');
    expect(existsSync(join(landingDir, `${recon.fileId}.manifest.json`))).toBe(false);

    // The same bytes delivered again: refused by the workflow id, recorded in quarantine, nothing rerun.
    deliver(recon, landingDir);
    const afterDuplicate = await waitFor('the duplicate to be refused', async () => {
      const s = await state();
      return s.duplicates === 1 ? s : undefined;
    });
    expect(afterDuplicate.started).toBe(2);
    const report = JSON.parse(
      readFileSync(join(landingDir, 'quarantine', recon.fileId, recon.manifest.sha256.slice(0, 12), `${recon.fileId}.errors.json`), 'utf8'),
    ) as { reason: string };
    expect(report.reason).toMatch(/duplicate delivery/);
    expect((await partition('2026-11-10'))?.version).toBe(1);
    expect(existsSync(join(landingDir, `${recon.fileId}.manifest.json`))).toBe(false);

    // A newer reconciliation supersedes sequence 1 …
    const newer = await generateFile({ dir: join(outbox, 'c'), kind: 'reconciliation', covers: ['2026-11-10'], rows: 41, sequence: 5, clientId, seed: 3 });
    deliver(newer, landingDir);
    await waitFor('sequence 5 applied', async () => (await partition('2026-11-10'))?.sequence === 5);
    expect((await partition('2026-11-10'))?.rowCount).toBe(41);

    // … and an operator replays sequence 1 on purpose: it runs again, over the newer one, recorded as version 3.
    await client.workflow.getHandle(`landing/${clientId}`).signal(replayFileSignal, { fileId: recon.fileId, requestedBy: 'test' });
    await waitFor('the replay applied', async () => (await partition('2026-11-10'))?.version === 3);
    const replayed = await partition('2026-11-10');
    expect(replayed).toMatchObject({ sequence: 1, fileId: recon.fileId, rowCount: 40, status: 'reconciled' });
    const changes = await warehouse.getChanges('2026-11-10');
    expect(changes.map((c) => c.fileId)).toEqual([recon.fileId, newer.fileId, recon.fileId]);
    expect(changes.at(-1)?.workflowId).toMatch(new RegExp(`^replay/${clientId}/${recon.fileId}/`));
    const final = await state();
    expect(final).toMatchObject({ started: 3, duplicates: 1, replays: 1 });

    // A replay of a file that was never delivered is refused with a reason, not an error.
    await client.workflow.getHandle(`landing/${clientId}`).signal(replayFileSignal, { fileId: 'no-such-file' });
    await waitFor('the refusal recorded', async () => (await state()).recent.some((e) => e.fileId === 'no-such-file' && /refused/.test(e.what)));
  });
});
