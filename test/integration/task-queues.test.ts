/**
 * Isolated workloads on the real dev server: a worker that serves the stream queue alone runs streams and never
 * picks up file work (the file workflow waits, unstarted, on the files queue), and once a files worker starts, it
 * runs the files with no more validations at once than the queue's activity slots.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import { workloadQueue, type QueueName } from '../../src/domain/workflow-api.js';
import { generateFile } from '../../src/files/generate.js';
import { intakeInput } from '../../src/files/intake.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import { SimulatedFeed } from '../../src/sources/simulated-feed.js';
import { TimedLanding } from '../support/timed-landing.js';
import { createPipelineWorker, type PipelineDeps, type QueueSlots } from '../../src/workers/pipeline-worker.js';
import { openWorkerHost, type WorkerHost } from '../support/worker-host.js';

describe('isolated task queues', () => {
  const base = `tq-${randomUUID()}`;
  const clientId = `tq${randomUUID().slice(0, 8)}`;
  const landingDir = mkdtempSync(join(tmpdir(), 'landing-'));
  const workDir = mkdtempSync(join(tmpdir(), 'work-'));
  const landing = new TimedLanding(landingDir);
  let host: WorkerHost;

  const feed = new SimulatedFeed({ clientId, seed: 5, rate: 'unbounded', totalEvents: 3_000, businessDate: '2026-11-20' });
  const startQueueWorker = async (queue: QueueName, slots?: QueueSlots): Promise<void> => {
    const deps: PipelineDeps = { warehouse: host.warehouse, landing, sources: new Map([[feed.id, feed]]), timeZone: 'America/New_York', workDir };
    const taskQueue = queue === 'shared' ? base : workloadQueue(base, queue);
    host.run(await createPipelineWorker({ connection: host.native, namespace: host.namespace, taskQueue, queue, deps, ...(slots ? { slots } : {}) }));
  };

  beforeAll(async () => {
    host = await openWorkerHost();
  });

  afterAll(async () => {
    await host.stop();
    for (const dir of [landingDir, workDir]) rmSync(dir, { recursive: true, force: true });
  });

  it('a stream-only worker runs a stream but leaves a file workflow unstarted until a files worker (1 activity slot) runs the files one validation at a time', async () => {
    await startQueueWorker('stream');
    const files = [];
    for (const [i, date] of ['2026-11-18', '2026-11-19'].entries()) {
      const file = await generateFile({ dir: landingDir, kind: 'reconciliation', covers: [date], rows: 20_000, sequence: i + 1, clientId, seed: i + 1 });
      const started = await startFileWorkflow(host.client, workloadQueue(base, 'files'), await intakeInput({ landing, fileId: file.fileId, clientId }));
      if (!started.started) throw new Error(started.reason);
      files.push(started.handle);
    }

    // The stream-only worker is alive and busy: a stream on its queue runs to its end.
    const stream = await startStreamWorkflow(host.client, {
      taskQueue: workloadQueue(base, 'stream'), sourceId: feed.id, clientId, maxRows: 500, maxWaitMs: 100, stopAt: 3_000,
    });
    const streamed = await stream.handle.result();
    expect(streamed.cursor).toBe(3_000);

    // Meanwhile no worker took a file workflow's first task: nothing beyond its start, not a step.
    for (const handle of files) {
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes')))).toEqual([
        'workflowExecutionStartedEventAttributes',
        'workflowTaskScheduledEventAttributes',
      ]);
      expect((await handle.describe()).status.name).toBe('RUNNING');
    }
    expect(landing.spans).toEqual([]);

    // A files worker with one activity slot: both files apply, and their validations never overlap.
    await startQueueWorker('files', { activities: 1 });
    const results = await Promise.all(files.map((h) => h.result()));
    expect(results.map((r) => r.outcome)).toEqual(['applied', 'applied']);
    const spans = [...landing.spans].sort((a, b) => a.from - b.from);
    expect(spans).toHaveLength(2);
    expect(spans[1]!.from).toBeGreaterThanOrEqual(spans[0]!.to);
  }, 180_000);
});
