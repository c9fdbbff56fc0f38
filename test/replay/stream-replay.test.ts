/**
 * Determinism guard: recorded histories replayed through the current workflow code. A change that would make
 * a running stream (or file) workflow take a different path on replay fails here, before it reaches a worker.
 *
 * Record fresh histories from a running stack: `RECORD_HISTORIES=1 npx vitest run test/replay/stream-replay.test.ts`.
 * A history already in histories/ (recorded by an older release) is never overwritten: a new recording of the
 * same scenario is saved beside it with the date, and every file in histories/ is replayed.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { generateFile } from '../../src/files/generate.js';
import { startStreamWorkflow } from '../../src/ops/start-stream.js';
import { SimulatedFeed } from '../../src/sources/simulated-feed.js';
import { workflowBundle } from '../../src/workers/bundle.js';
import { fileLandedSignal, flushSignal, pauseSignal, replayFileSignal, resumeSignal, streamProgressQuery, workflowIds } from '../../src/domain/workflow-api.js';
import { startLandingWorkflow } from '../../src/ops/start-landing.js';
import { dailyStateQuery, type dailyWorkflow } from '../../src/workflows/daily-workflow.js';
import { landingStateQuery } from '../../src/workflows/landing-workflow.js';
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
const save = (wanted: string, workflowId: string, runId?: string): void => {
  const path = existsSync(wanted) ? wanted.replace(/\.json$/, `.${new Date().toISOString().slice(0, 16).replace(/[-:]/g, '')}.json`) : wanted;
  const cli = existsSync(join(repoRoot, '.tools/bin/temporal')) ? join(repoRoot, '.tools/bin/temporal') : 'temporal';
  const json = execFileSync(cli, ['workflow', 'show', '--workflow-id', workflowId, ...(runId ? ['--run-id', runId] : []), '--address', temporalAddress(), '--output', 'json'], {
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

  it('records a stream with a time trigger above 500 ms (the timer branch) cut by flush and pause signals', async () => {
    const feed = new SimulatedFeed({ clientId: 'replay2', seed: 7, rate: 'unbounded', totalEvents: 300, businessDate: '2026-11-21' });
    const p = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId: 'replay2' });
    try {
      const started = await startStreamWorkflow(p.client, {
        taskQueue: p.taskQueue, sourceId: feed.id, clientId: 'replay2', maxRows: 5_000, maxWaitMs: 1_500, maxBatchesPerRun: 6,
      });
      // The current run, whichever it is after a continue-as-new.
      const latest = p.client.workflow.getHandle(started.workflowId);
      for (let i = 0; i < 6; i++) {
        await latest.signal(i % 2 === 0 ? flushSignal : pauseSignal);
        await new Promise((r) => setTimeout(r, 300));
        await latest.signal(resumeSignal);
        await new Promise((r) => setTimeout(r, 700));
      }
      // The source ran dry after 300 events: every later batch waited on the timer.
      expect((await latest.query(streamProgressQuery)).cursor).toBe(300);
      await latest.terminate('recorded');
      // The first run: its timers and the signals that cut them.
      save(join(historiesDir, 'stream-workflow-timer-signals.json'), started.workflowId, started.runId);
    } finally {
      await p.stop();
    }
  });

  it('records pause and resume signals delivered right before and right after a stream\'s continue-as-new', async () => {
    const feed = new SimulatedFeed({ clientId: 'replay3', seed: 9, rate: 'unbounded', totalEvents: 200, businessDate: '2026-11-21' });
    const p = await startTestPipeline({ sources: new Map([[feed.id, feed]]), clientId: 'replay3' });
    try {
      // Three timer-cut batches per run (~0.6 s each): a run ends every ~2 s while signals arrive every 50 ms.
      const started = await startStreamWorkflow(p.client, {
        taskQueue: p.taskQueue, sourceId: feed.id, clientId: 'replay3', maxRows: 5_000, maxWaitMs: 600, maxBatchesPerRun: 3,
      });
      const latest = p.client.workflow.getHandle(started.workflowId);
      const runs = async (): Promise<string[]> => {
        const ids: string[] = [];
        for await (const w of p.client.workflow.list({ query: `WorkflowId = '${started.workflowId}'` })) ids.push(w.runId);
        return ids;
      };
      for (let i = 0; (await runs()).length < 3; i++) {
        if (i > 800) throw new Error('the stream did not continue as new twice');
        await latest.signal(i % 2 === 0 ? pauseSignal : resumeSignal).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
      await latest.signal(resumeSignal);
      await latest.terminate('recorded');
      const events = async (runId: string) => (await p.client.workflow.getHandle(started.workflowId, runId).fetchHistory()).events ?? [];
      const kinds = (list: Awaited<ReturnType<typeof events>>): string[] => list.map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes')) ?? '');
      const firstEvents = await events(started.runId);
      const secondRunId = firstEvents.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? '';
      const first = kinds(firstEvents);
      const second = kinds(await events(secondRunId));
      // Signals in the last workflow task before the continue-as-new, and in the first ones of the next run.
      const signalled = 'workflowExecutionSignaledEventAttributes';
      expect(first.at(-1)).toBe('workflowExecutionContinuedAsNewEventAttributes');
      expect(first.slice(-8)).toContain(signalled);
      const secondTask = second.map((k, i) => (k === 'workflowTaskCompletedEventAttributes' ? i : -1)).filter((i) => i >= 0)[1] ?? second.length;
      expect(second.slice(0, secondTask), second.slice(0, 16).join(' ')).toContain(signalled);
      save(join(historiesDir, 'stream-workflow-signals-before-continue-as-new.json'), started.workflowId, started.runId);
      save(join(historiesDir, 'stream-workflow-signals-after-continue-as-new.json'), started.workflowId, secondRunId);
    } finally {
      await p.stop();
    }
  });

  for (const [name, fault] of [['rejected', null], ['rollback', 'publish'], ['cancel', 'hold']] as const) {
    it(`records a file run: ${name}`, async () => {
      let reach = (): void => undefined;
      const reached = new Promise<void>((r) => (reach = r));
      const faults = {
        before: async (step: string): Promise<void> => {
          if (fault === 'publish' && step === 'publish') throw ApplicationFailure.nonRetryable('injected failure at publish', 'InjectedFault');
          if (fault === 'hold' && step === 'replace') {
            const ctx = Context.current();
            const beat = setInterval(() => ctx.heartbeat(), 100);
            reach();
            await ctx.cancelled.finally(() => clearInterval(beat));
          }
        },
      };
      const p = await startTestPipeline({ clientId: 'acme', faults });
      try {
        const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 20, sequence: 1 });
        // A rejected file: a row the manifest does not count (row count and digest no longer match).
        if (name === 'rejected') appendFileSync(file.dataPath, 'not,a,valid,row\n');
        const started = await p.submit(file.fileId, { requestId: randomUUID().slice(0, 8) });
        if (!started.started) throw new Error(started.reason);
        if (fault === 'hold') {
          await reached;
          await started.handle.cancel();
        }
        // Each of the three runs ends failed: rejected, rolled back, or cancelled.
        expect(await started.handle.result().then(() => 'completed', () => 'failed')).toBe('failed');
        save(join(historiesDir, `file-workflow-${name}.json`), started.workflowId);
      } finally {
        await p.stop();
      }
    });
  }

  it('records a daily run: the late-file alert and its clearing', async () => {
    const p = await startTestPipeline({ clientId: 'replayd', withOps: true });
    try {
      const date = '2026-11-20';
      const handle = await p.client.workflow.start<typeof dailyWorkflow>('dailyWorkflow', {
        taskQueue: p.taskQueue,
        workflowId: workflowIds.daily('replayd', date),
        args: [{ clientId: 'replayd', timeZone: 'America/New_York', deadline: '06:00', date, deadlineAt: new Date(Date.now() + 1_500).toISOString(), checkIntervalMs: 1_000 }],
      });
      for (let i = 0; i < 300 && !(await handle.query(dailyStateQuery)).late; i++) await new Promise((r) => setTimeout(r, 100));
      const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [date], rows: 10, sequence: 1, clientId: 'replayd' });
      const started = await p.submit(file.fileId);
      if (!started.started) throw new Error(started.reason);
      await handle.signal(fileLandedSignal, { fileId: file.fileId, sha256: file.manifest.sha256, kind: 'reconciliation', covers: [date], workflowId: started.workflowId });
      const result = await handle.result();
      expect(result).toMatchObject({ outcome: 'reconciled', late: true });
      save(join(historiesDir, 'daily-workflow-late-cleared.json'), handle.workflowId);
    } finally {
      await p.stop();
    }
  });

  it('records a landing watcher: a file started, a replay refused', async () => {
    const p = await startTestPipeline({ clientId: 'replayl', withOps: true });
    try {
      const handle = await startLandingWorkflow(p.client, { taskQueue: p.taskQueue, clientId: 'replayl', location: 'test', pollIntervalMs: 500 });
      await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 10, sequence: 1, clientId: 'replayl' });
      for (let i = 0; i < 300 && (await handle.query(landingStateQuery)).started < 1; i++) await new Promise((r) => setTimeout(r, 100));
      await handle.signal(replayFileSignal, { fileId: 'no-such-file', requestedBy: 'recording' });
      for (let i = 0; i < 300 && (await handle.query(landingStateQuery)).replays + (await handle.query(landingStateQuery)).recent.filter((e) => e.what.startsWith('replay refused')).length < 1; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const state = await handle.query(landingStateQuery);
      expect(state.started).toBeGreaterThanOrEqual(1);
      expect(state.recent.some((e) => e.fileId === 'no-such-file' && e.what.startsWith('replay refused'))).toBe(true);
      await handle.terminate('recorded');
      save(join(historiesDir, 'landing-workflow.json'), handle.workflowId);
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
  const cases = readdirSync(historiesDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f, path: join(historiesDir, f) }));

  it('has the stream history committed', () => {
    expect(existsSync(streamHistory)).toBe(true);
  });

  it.each(cases)('replays $name without nondeterminism', async ({ path }) => {
    const history = historyFromJson(JSON.parse(readFileSync(path, 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });
});
