/**
 * Determinism guard: recorded histories replayed through the current workflow code. A change that would make
 * a running stream (or file) workflow take a different path on replay fails here, before it reaches a worker.
 *
 * Re-record after an intended, versioned change: `RECORD_HISTORIES=1 npx vitest run test/replay/stream-replay.test.ts`.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { generateFile } from '../../src/files/generate.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import { SimulatedFeed } from '../../src/sources/simulated-feed.js';
import { workflowBundle } from '../../src/workers/bundle.js';
import { flushSignal, pauseSignal, resumeSignal, streamProgressQuery } from '../../src/domain/workflow-api.js';
import { startTestPipeline, temporalAddress } from '../support/pipeline.js';
import { repoRoot } from '../support/servers.js';

const historiesDir = join(dirname(fileURLToPath(import.meta.url)), 'histories');
const streamHistory = join(historiesDir, 'stream-workflow.json');
const fileHistory = join(historiesDir, 'file-workflow-reconciliation.json');
const recording = process.env.RECORD_HISTORIES === '1';

/**
 * Proto JSON → History, decoded with the protobufjs copy that @temporalio/proto's types belong to. The SDK's own
 * `historyFromJSON` uses @temporalio/common's copy, and with two copies installed side by side (the root needs
 * protobufjs 7 for the Google clients, the SDK 8) its `instanceof Type` check fails: "type must be a Type".
 */
const historyFromJson = (json: unknown): unknown => {
  const requireFromProto = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
  const { fromJson } = requireFromProto('protobufjs/ext/protojson') as {
    fromJson: (type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }) => unknown;
  };
  const proto = requireFromProto('@temporalio/proto') as object;
  const { patchProtobufRoot } = requireFromProto('@temporalio/proto/lib/patch-protobuf-root') as {
    patchProtobufRoot: (root: object) => { lookupType: (name: string) => unknown };
  };
  return fromJson(patchProtobufRoot(proto).lookupType('temporal.api.history.v1.History'), json, { ignoreUnknownFields: true });
};

/** The history as the Temporal CLI exports it (`temporal workflow show --output json`): the format replay reads. */
const save = (path: string, workflowId: string): void => {
  const cli = existsSync(join(repoRoot, '.tools/bin/temporal')) ? join(repoRoot, '.tools/bin/temporal') : 'temporal';
  const json = execFileSync(cli, ['workflow', 'show', '--workflow-id', workflowId, '--address', temporalAddress(), '--output', 'json'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(JSON.parse(json), null, 1)}\n`);
};

describe.runIf(recording)('recording histories', () => {
  it('records a stream run with pause, flush and resume signals', async () => {
    const feed = new SimulatedFeed({ clientId: 'replay', seed: 5, rate: 'unbounded', totalEvents: 3_000, businessDate: '2026-11-21' });
    const p = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId: 'replay' });
    try {
      const started = await startStreamWorkflow(p.client, {
        taskQueue: p.taskQueue, sourceId: feed.id, clientId: 'replay', maxRows: 400, maxWaitMs: 50, stopAt: 3_000, paused: true,
      });
      await started.handle.query(streamProgressQuery);
      await started.handle.signal(flushSignal);
      await started.handle.signal(resumeSignal);
      await started.handle.signal(pauseSignal);
      await new Promise((r) => setTimeout(r, 500));
      await started.handle.signal(resumeSignal);
      const result = await started.handle.result();
      expect(result.cursor).toBe(3_000);
      save(streamHistory, started.workflowId);
    } finally {
      await p.stop();
    }
  });

  it('records a reconciliation file run', async () => {
    const p = await startTestPipeline({ clientId: 'acme' });
    try {
      const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 20, sequence: 1 });
      const started = await p.submit(file.fileId, { requestId: randomUUID().slice(0, 8) });
      if (!started.started) throw new Error(started.reason);
      await started.handle.result();
      save(fileHistory, started.workflowId);
    } finally {
      await p.stop();
    }
  });
});

describe('replaying recorded histories with the current workflow code', () => {
  const cases = [
    { name: 'stream workflow', path: streamHistory, workflowId: 'stream/sim:replay:p0' },
    { name: 'reconciliation file workflow', path: fileHistory, workflowId: 'replayed-file' },
  ].filter((c) => existsSync(c.path));

  it('has the stream history committed', () => {
    expect(existsSync(streamHistory)).toBe(true);
  });

  it.each(cases)('replays the $name history without nondeterminism', async ({ path, workflowId }) => {
    const history = historyFromJson(JSON.parse(readFileSync(path, 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
  });
});
