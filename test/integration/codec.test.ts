/**
 * With PAYLOAD_KEY set, Temporal stores only ciphertext: a file workflow (applied, and rejected with a failure
 * message quoting the bad value) runs with the encryption codec on the worker and the client, and the raw
 * history, read without the codec, holds no file content, digest, path or offending value in clear.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTED_ENCODING } from '../../src/codec/encryption-codec.js';
import { failureConverterPath, pipelineDataConverter } from '../../src/codec/data-converter.js';
import { generateFile } from '../../src/files/generate.js';
import { intakeInput } from '../../src/files/intake.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { startFileWorkflow } from '../../src/activities/start-file.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { workflowBundle } from '../../src/workers/bundle.js';
import { createActivities } from '../../src/workers/pipeline-worker.js';
import { temporalAddress } from '../support/pipeline.js';

interface RawPayload {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}

/** Every Payload in a history (outside search attributes, which Temporal indexes and never encodes). */
const payloadsIn = (value: unknown, out: RawPayload[] = [], key = ''): RawPayload[] => {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return out;
  if (key === 'searchAttributes' || key === 'indexedFields') return out;
  const o = value as Record<string, unknown>;
  // A patch marker (patched()) is written by the SDK's core, outside the codec; it holds only the patch id.
  if (key === 'markerRecordedEventAttributes' && o.markerName === 'core_patch') {
    expect(asText(o)).not.toMatch(/acme|reconcil|\d{4}-\d{2}-\d{2}/);
    return out;
  }
  if ('metadata' in o && o.metadata && typeof o.metadata === 'object' && 'encoding' in (o.metadata as object)) {
    out.push(o as RawPayload);
    return out;
  }
  for (const [k, v] of Object.entries(o)) payloadsIn(v, out, k);
  return out;
};

/** The history as text (bytes as latin1), to search for anything left in clear. */
const asText = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));

describe('payload encryption on the dev server', () => {
  const address = temporalAddress();
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = `codec-${randomUUID()}`;
  const clientId = `acme-${randomUUID().slice(0, 8)}`;
  const dataConverter = pipelineDataConverter({ PAYLOAD_KEY: randomBytes(32).toString('base64') });
  const landingDir = mkdtempSync(join(tmpdir(), 'codec-landing-'));
  const workDir = mkdtempSync(join(tmpdir(), 'codec-work-'));
  const landing = new LocalDirLanding(landingDir);
  let warehouse: DuckDbWarehouse;
  let worker: Worker;
  let running: Promise<void>;
  let native: NativeConnection;
  let connection: Connection;
  let client: Client;
  let raw: Client;

  beforeAll(async () => {
    if (!dataConverter) throw new Error('no data converter');
    warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
    native = await NativeConnection.connect({ address });
    worker = await Worker.create({
      connection: native,
      namespace,
      taskQueue,
      // The workflow sandbox needs the failure converter too: it is bundled with the workflows.
      workflowBundle: await workflowBundle(failureConverterPath),
      activities: createActivities({ warehouse, landing, sources: new Map(), timeZone: 'America/New_York', workDir }),
      dataConverter,
    });
    running = worker.run();
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace, dataConverter });
    raw = new Client({ connection, namespace });
  }, 120_000);
  afterAll(async () => {
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await warehouse.close();
    rmSync(landingDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  const rawHistory = async (workflowId: string): Promise<unknown[]> => {
    const events: unknown[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await raw.workflowService.getWorkflowExecutionHistory({ namespace, execution: { workflowId }, ...(nextPageToken ? { nextPageToken } : {}) });
      events.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return events;
  };

  it('keeps an applied file\'s inputs and results out of the history in clear', async () => {
    const file = await generateFile({ dir: landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 12, sequence: 41, clientId });
    const started = await startFileWorkflow(client, taskQueue, await intakeInput({ landing, fileId: file.fileId, clientId }));
    if (!started.started) throw new Error(started.reason);
    const result = await started.handle.result();
    expect(result.outcome).toBe('applied');

    const events = await rawHistory(started.workflowId);
    const payloads = payloadsIn(events);
    expect(payloads.length).toBeGreaterThan(10);
    for (const p of payloads) expect(new TextDecoder().decode(p.metadata?.encoding ?? undefined)).toBe(ENCRYPTED_ENCODING);
    const payloadText = asText(payloads);
    for (const clear of [file.fileId, file.manifest.sha256, '2026-11-20', workDir, landingDir, 'reconciliation', '"rowsAfter"']) {
      expect(payloadText, clear).not.toContain(clear);
    }
    // Outside payloads: the full digest and the paths never appear; the file id and date only in the
    // workflow id and search attributes, which are business keys by design.
    const all = asText(events);
    for (const clear of [file.manifest.sha256, workDir, landingDir]) expect(all, clear).not.toContain(clear);
    // The key holder reads it all back.
    const decoded = await dataConverter?.payloadCodecs?.[0]?.decode(payloads as never);
    expect(asText(decoded)).toContain(file.manifest.sha256);
  }, 120_000);

  it('encrypts failure messages too: the offending value of a rejected file is not in clear', async () => {
    const secretValue = 'acct SECRET-4711';
    const file = await generateFile({
      dir: landingDir,
      kind: 'reconciliation',
      covers: ['2026-11-19'],
      rows: 6,
      sequence: 42,
      clientId,
      transform: (row, at) => (at.indexInDate === 2 ? { ...row, account_id: secretValue } : row),
    });
    const started = await startFileWorkflow(client, taskQueue, await intakeInput({ landing, fileId: file.fileId, clientId }));
    if (!started.started) throw new Error(started.reason);
    const error = await started.handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    // Through the codec the operator still gets the file, line, field and value.
    expect(String((error as WorkflowFailedError).cause?.message)).toContain(secretValue);
    const all = asText(await rawHistory(started.workflowId));
    expect(all).not.toContain(secretValue);
    expect(all).not.toContain('field account_id');
  }, 120_000);
});
