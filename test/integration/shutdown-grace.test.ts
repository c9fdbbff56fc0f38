/**
 * SHUTDOWN_GRACE_MS: the worker built from configuration (src/workers/main.ts) lets an activity that runs when it is
 * asked to stop finish, instead of cancelling it at once (the SDK's default grace is 0).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import { loadConfig } from '../../src/config.js';
import { generateFile } from '../../src/files/generate.js';
import { intakeInput } from '../../src/files/intake.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { startWorker } from '../../src/workers/main.js';
import { temporalAddress } from '../support/pipeline.js';
import { freePort } from '../support/servers.js';

describe('worker shutdown grace', () => {
  const root = mkdtempSync(join(tmpdir(), 'shutdown-grace-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('with SHUTDOWN_GRACE_MS set, a stage activity running at shutdown is not cancelled and completes', async () => {
    const clientId = `grace${randomUUID().slice(0, 6)}`;
    const config = loadConfig({
      TEMPORAL_ADDRESS: temporalAddress(),
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
      TASK_QUEUE: `grace-${randomUUID()}`,
      CLIENT_ID: clientId,
      DUCKDB_PATH: join(root, 'warehouse.duckdb'),
      LANDING_DIR: join(root, 'landing'),
      WORK_DIR: join(root, 'work'),
      METRICS_PORT: String(await freePort()),
      SDK_METRICS_PORT: '0',
      SHUTDOWN_GRACE_MS: '60000',
      LOG_LEVEL: 'WARN',
    });
    let enteredStage!: () => void;
    const inStage = new Promise<void>((resolve) => (enteredStage = resolve));
    let requestStop!: () => void;
    const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
    let cancelledAfterStop: boolean | undefined;
    const running = await startWorker(config, {
      faults: {
        before: async (step) => {
          if (step !== 'stage') return;
          enteredStage();
          await stopRequested;
          // Long enough for a cancellation at shutdown (grace 0) to reach the activity.
          await sleep(1500);
          cancelledAfterStop = Context.current().cancellationSignal.aborted;
        },
      },
    });

    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    try {
      const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
      const landing = new LocalDirLanding(config.LANDING_DIR);
      const file = await generateFile({ dir: config.LANDING_DIR, kind: 'reconciliation', covers: ['2026-11-18'], rows: 5, sequence: 1, clientId });
      const started = await startFileWorkflow(client, config.TASK_QUEUE, await intakeInput({ landing, fileId: file.fileId, clientId }));
      if (!started.started) throw new Error(started.reason);
      await inStage;
      const stopped = running.shutdown();
      requestStop();
      await stopped;
      expect(cancelledAfterStop).toBe(false);
      const history = await client.workflow.getHandle(started.workflowId).fetchHistory();
      const completed = (history.events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).length;
      const failed = (history.events ?? []).filter((e) => e.activityTaskFailedEventAttributes || e.activityTaskCanceledEventAttributes).length;
      // register, validate and stage completed; nothing failed or was cancelled.
      expect(completed).toBeGreaterThanOrEqual(3);
      expect(failed).toBe(0);
      await client.workflow.getHandle(started.workflowId).terminate('test done');
    } finally {
      await connection.close();
    }
  }, 400_000);
});
