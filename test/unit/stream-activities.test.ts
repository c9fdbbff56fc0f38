import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createStreamActivities, type ProcessBatchResult } from '../../src/activities/stream-activities.js';
import type { ReadRequest, ReadResult, TransactionSource } from '../../src/sources/source.js';
import type { StreamBatch, StreamBatchResult, Warehouse } from '../../src/warehouse/port.js';

const payload = (i: number): string =>
  JSON.stringify({
    schema_version: 1, transaction_id: `t-${i}`, account_id: 'a1', event_ts: '2026-11-20T12:00:00Z', event_date: '2026-11-20', amount: '1.5', currency: 'USD',
  });

const source: TransactionSource = {
  id: 'fixed:acme:p0',
  describe: () => 'three fixed events',
  read: ({ fromCursor, maxRows }: ReadRequest): Promise<ReadResult> => {
    const records = [0, 1, 2].slice(fromCursor, fromCursor + maxRows).map((i) => ({ offset: i, emittedAtMs: 0, payload: payload(i) }));
    return Promise.resolve({ records, nextCursor: fromCursor + records.length, headCursor: 3 });
  },
  close: () => Promise.resolve(),
};

/** A warehouse whose stream write takes `ms`, as a BigQuery script does. */
const slowWarehouse = (ms: number): Warehouse =>
  ({
    writeStreamBatch: async (batch: StreamBatch): Promise<StreamBatchResult> => {
      await new Promise((r) => setTimeout(r, ms));
      return { toCursor: batch.toCursor, inserted: batch.events.length, duplicates: 0, conflicts: 0, late: 0, rejected: 0, alreadyApplied: false };
    },
  }) as unknown as Warehouse;

const run = async (isLocal: boolean): Promise<{ beats: number; inserted: number }> => {
  const activities = createStreamActivities({
    warehouse: slowWarehouse(400), sources: new Map([[source.id, source]]), timeZone: 'UTC', heartbeatEveryMs: 25,
  });
  const env = new MockActivityEnvironment({ isLocal });
  let beats = 0;
  env.on('heartbeat', () => beats++);
  const result = (await env.run(activities.processBatch, { sourceId: source.id, fromCursor: 0, maxRows: 10, maxWaitMs: 0 })) as ProcessBatchResult;
  return { beats, inserted: result.inserted };
};

describe('stream activities: heartbeats of a batch', () => {
  it('beats every interval all through a slow write when run as a regular activity (BigQuery)', async () => {
    const regular = await run(false);
    expect(regular.inserted).toBe(3);
    // Two beats with the read and parse counts, then one every 25 ms over a 400 ms write.
    expect(regular.beats).toBeGreaterThanOrEqual(2 + 8);
  });

  it('never beats as a local activity (DuckDB), which has no heartbeats', async () => {
    const local = await run(true);
    expect(local).toEqual({ beats: 0, inserted: 3 });
  });
});
