/**
 * The daily run changed how it times its deadline (`patched(DEADLINE_FROM_WORKFLOW_CLOCK)`): a history recorded by the
 * code before that change (a run that went late, then got its file) replays through the current code, and a run
 * started now records the patch marker.
 *
 * The committed history was recorded with the code of commit 771d410; re-record only with that code in place:
 * `RECORD_HISTORIES=1 npx vitest run test/replay/daily-replay.test.ts`.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../../src/workers/bundle.js';
import { DEADLINE_FROM_WORKFLOW_CLOCK, dailyStateQuery, type dailyWorkflow } from '../../src/workflows/daily-workflow.js';
import { historyFromJson, saveHistory } from '../support/history-json.js';
import { temporalAddress } from '../support/pipeline.js';

const history = join(dirname(fileURLToPath(import.meta.url)), 'histories', 'daily-workflow-late-before-patch.json');
const recording = process.env.RECORD_HISTORIES === '1';
const workflowId = 'daily/replay/2026-11-20';

/** Runs a daily run that goes late and then finds its date reconciled; returns its workflow id. */
const lateThenReconciled = async (id: string): Promise<{ client: Client; close: () => Promise<void>; result: unknown; workflowId: string }> => {
  const taskQueue = `daily-replay-${randomUUID()}`;
  let final = false;
  const activities = {
    fileRunState: async () => ({ status: 'not_found', stage: null, reason: null, receivedAt: null }),
    checkReconciliation: async () =>
      final
        ? { final: true, status: 'reconciled', fileId: 'f1', version: 1, updatedAt: new Date().toISOString() }
        : { final: false, status: 'provisional', fileId: null, version: 0, updatedAt: null },
    recordLateFile: async () => undefined,
    postAlert: async () => ({ posted: false }),
  };
  const connection = await Connection.connect({ address: temporalAddress() });
  const native = await NativeConnection.connect({ address: temporalAddress() });
  const client = new Client({ connection });
  const worker = await Worker.create({ connection: native, taskQueue, workflowBundle: await workflowBundle(), activities });
  const result = await worker.runUntil(async () => {
    const handle = await client.workflow.start<typeof dailyWorkflow>('dailyWorkflow', {
      taskQueue,
      workflowId: id,
      args: [{ clientId: 'replay', timeZone: 'America/New_York', deadline: '06:00', date: '2026-11-20', deadlineAt: new Date(Date.now() + 1500).toISOString(), checkIntervalMs: 500 }],
    });
    for (let i = 0; !(await handle.query(dailyStateQuery)).late; i++) {
      if (i > 240) throw new Error('never late');
      await new Promise((r) => setTimeout(r, 250));
    }
    final = true;
    return handle.result();
  });
  await native.close();
  return { client, close: () => connection.close(), result, workflowId: id };
};

describe.runIf(recording)('recording the daily history', () => {
  it('records a daily run that goes late, then is reconciled', async () => {
    const run = await lateThenReconciled(workflowId);
    expect(run.result).toMatchObject({ outcome: 'reconciled', late: true });
    await run.close();
    saveHistory(history, workflowId, temporalAddress());
  });
});

describe.skipIf(recording)('the daily run across its deadline-timer patch', () => {
  it('replays a history recorded before the patch without nondeterminism', async () => {
    expect(existsSync(history)).toBe(true);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, historyFromJson(JSON.parse(readFileSync(history, 'utf8'))), workflowId);
  });

  it('records the patch marker in a new run', async () => {
    const run = await lateThenReconciled(`daily/replay-${randomUUID().slice(0, 8)}/2026-11-20`);
    try {
      expect(run.result).toMatchObject({ outcome: 'reconciled', late: true });
      const events = (await run.client.workflow.getHandle(run.workflowId).fetchHistory()).events ?? [];
      const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
      expect(markers.length).toBe(1);
      const details = Object.values(markers[0]?.markerRecordedEventAttributes?.details ?? {}).flatMap((p) => p.payloads ?? []);
      expect(details.map((p) => new TextDecoder().decode(p.data ?? new Uint8Array())).join(' ')).toContain(DEADLINE_FROM_WORKFLOW_CLOCK);
    } finally {
      await run.close();
    }
  });
});
