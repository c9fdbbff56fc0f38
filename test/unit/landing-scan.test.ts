import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpsActivities, type ScanResult } from '../../src/activities/ops-activities.js';
import { generateFile, type GeneratedFile } from '../../src/files/generate.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';

/** A client whose file workflow already started, and whose describe() fails as an unreachable frontend does. */
const clientWithFailingDescribe = (): Client =>
  ({
    workflow: {
      start: (_type: string, options: { workflowId: string }) =>
        Promise.reject(new WorkflowExecutionAlreadyStartedError('already started', options.workflowId, 'fileWorkflow')),
      getHandle: () => ({ describe: () => Promise.reject(new Error('14 UNAVAILABLE: connection reset')) }),
    },
  }) as unknown as Client;

describe('landing scan: an error from describe()', () => {
  let dir: string;
  let warehouse: DuckDbWarehouse;
  let file: GeneratedFile;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'landing-scan-'));
    warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
    file = await generateFile({ dir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 5, sequence: 1 });
  });
  afterAll(async () => {
    await warehouse.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is unknown, not "not running": the file is neither quarantined nor marked seen, and stays in the landing area', async () => {
    const landing = new LocalDirLanding(dir);
    const activities = createOpsActivities({ client: clientWithFailingDescribe(), warehouse, landing, taskQueue: 'q', timeZone: 'America/New_York' });
    const result: ScanResult = await new MockActivityEnvironment().run(activities.scanLanding, { clientId: 'acme', seen: [] });
    expect(result.duplicates).toEqual([]);
    expect(result.ready).toEqual([]);
    expect((await landing.listReady()).map((f) => f.fileId)).toEqual([file.fileId]);
  });
});
