/**
 * Worker Versioning on the dev server: one real change of the file workflow shipped as a new build. Build v1 runs the
 * saga as it was before `saga-waits-for-cancelled-step` (TRY_CANCEL steps); build v2 runs the current code. A file run
 * started on v1 is PINNED: after v2 becomes the deployment's current version it still finishes with every workflow
 * task on v1, while a file started after the switch runs on v2.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultInjector } from '../../src/activities/file-activities.js';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import { generateFile } from '../../src/files/generate.js';
import { intakeInput } from '../../src/files/intake.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { createPipelineWorker, type PipelineDeps } from '../../src/workers/pipeline-worker.js';
import { TRY_CANCEL_WORKFLOWS } from '../support/cancellation-guard.js';
import { openWorkerHost, type WorkerHost } from '../support/worker-host.js';

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Holds the first file's stage step until released. */
class HoldFirstStage implements FaultInjector {
  private held = false;
  reached!: () => void;
  readonly reachedP = new Promise<void>((r) => (this.reached = r));
  release!: () => void;
  private readonly released = new Promise<void>((r) => (this.release = r));
  async before(step: string): Promise<void> {
    if (step !== 'stage' || this.held) return;
    this.held = true;
    this.reached();
    await this.released;
  }
}

/** The build id of every completed workflow task of a run, in order. */
const taskBuilds = async (handle: WorkflowHandle): Promise<string[]> =>
  ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
    e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.deploymentVersion?.buildId ?? '(unversioned)'] : [],
  );

describe('worker versioning', () => {
  const taskQueue = `versioning-${randomUUID()}`;
  const deploymentName = `pipeline-${randomUUID().slice(0, 8)}`;
  const clientId = `wv${randomUUID().slice(0, 8)}`;
  const landingDir = mkdtempSync(join(tmpdir(), 'landing-'));
  const workDir = mkdtempSync(join(tmpdir(), 'work-'));
  const landing = new LocalDirLanding(landingDir);
  const hold = new HoldFirstStage();
  let host: WorkerHost;

  const startBuild = async (buildId: string, workflowsPath?: string): Promise<void> => {
    const deps: PipelineDeps = { warehouse: host.warehouse, landing, sources: new Map(), timeZone: 'America/New_York', workDir, faults: hold };
    host.run(await createPipelineWorker({
      connection: host.native, namespace: host.namespace, taskQueue, deps, deployment: { deploymentName, buildId }, ...(workflowsPath ? { workflowsPath } : {}),
    }));
  };

  /** Makes `buildId` the deployment's current version, once its worker has polled and the server knows it. */
  const setCurrent = async (buildId: string): Promise<void> => {
    for (let i = 0; ; i++) {
      try {
        await host.client.workflowService.setWorkerDeploymentCurrentVersion({ namespace: host.namespace, deploymentName, buildId, identity: 'worker-versioning test' });
        return;
      } catch (error) {
        if (i > 120) throw error;
        await sleepMs(500);
      }
    }
  };

  const submit = async (date: string, sequence: number) => {
    const file = await generateFile({ dir: landingDir, kind: 'reconciliation', covers: [date], rows: 30, sequence, clientId, seed: sequence });
    const started = await startFileWorkflow(host.client, taskQueue, await intakeInput({ landing, fileId: file.fileId, clientId }));
    if (!started.started) throw new Error(started.reason);
    return started.handle;
  };

  beforeAll(async () => {
    host = await openWorkerHost();
  });

  afterAll(async () => {
    hold.release();
    await host.stop();
    for (const dir of [landingDir, workDir]) rmSync(dir, { recursive: true, force: true });
  });

  it('finishes a pinned file run on the old build after the new build becomes current, and runs a new file on the new build', async () => {
    await startBuild('v1', TRY_CANCEL_WORKFLOWS);
    await setCurrent('v1');
    const old = await submit('2026-11-18', 1);
    await hold.reachedP;

    await startBuild('v2');
    await setCurrent('v2');
    const beforeSwitch = (await taskBuilds(old)).length;
    hold.release();
    const fresh = await submit('2026-11-19', 2);

    expect((await old.result()).outcome).toBe('applied');
    expect((await fresh.result()).outcome).toBe('applied');
    const oldBuilds = await taskBuilds(old);
    // The pinned run kept taking workflow tasks after v2 became current, all of them on v1.
    expect(oldBuilds.length).toBeGreaterThan(beforeSwitch);
    expect(new Set(oldBuilds)).toEqual(new Set(['v1']));
    expect(new Set(await taskBuilds(fresh))).toEqual(new Set(['v2']));
    const described = await old.describe();
    expect(described.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId).toBe('v1');
    const freshInfo = (await fresh.describe()).raw.workflowExecutionInfo?.versioningInfo;
    expect(freshInfo?.deploymentVersion?.buildId).toBe('v2');
    // Declared by the file workflow itself (src/workflows/index.ts), as the server recorded it.
    expect(freshInfo?.behavior).toBe(temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED);
    expect((await host.warehouse.getPartitions(['2026-11-18', '2026-11-19'])).map((p) => p.status)).toEqual(['reconciled', 'reconciled']);
  }, 240_000);
});
