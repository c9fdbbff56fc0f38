import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileActivities } from '../../src/activities/file-activities.js';
import { generateFile, type GeneratedFile } from '../../src/files/generate.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { TimedLanding } from '../support/timed-landing.js';

type Validation = ReturnType<ReturnType<typeof createFileActivities>['validateFile']>;

describe('file activities: validation', () => {
  let dir: string;
  let warehouse: DuckDbWarehouse;
  const files: GeneratedFile[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-activities-'));
    warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
    for (const [i, date] of ['2026-11-18', '2026-11-19', '2026-11-20'].entries()) {
      files.push(await generateFile({ dir: join(dir, 'landing'), kind: 'reconciliation', covers: [date], rows: 20_000, seed: i + 1 }));
    }
  });
  afterAll(async () => {
    await warehouse.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('validates several files at once in one worker (no queue inside the activity: the files queue\'s slots bound it) and all pass', async () => {
    const landing = new TimedLanding(join(dir, 'landing'));
    const activities = createFileActivities({ warehouse, landing, workDir: join(dir, 'work') });
    const results = await Promise.all(
      files.map((f) =>
        new MockActivityEnvironment().run(activities.validateFile, { fileId: f.fileId, sha256: f.manifest.sha256, from: 'incoming' as const }) as Validation,
      ),
    );
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    const spans = [...landing.spans].sort((a, b) => a.from - b.from);
    expect(spans).toHaveLength(3);
    // The second opened its file before the first released it: nothing in the activity serialised them.
    expect(spans[1]!.from).toBeLessThan(spans[0]!.to);
  }, 60_000);

  it('does not open the file of a validation whose activity was cancelled before it started', async () => {
    const landing = new TimedLanding(join(dir, 'landing'));
    const activities = createFileActivities({ warehouse, landing, workDir: join(dir, 'work') });
    const [first] = files;
    const env = new MockActivityEnvironment();
    env.cancel('CANCELLED');
    await expect(env.run(activities.validateFile, { fileId: first!.fileId, sha256: first!.manifest.sha256, from: 'incoming' as const })).rejects.toThrow();
    expect(landing.spans).toEqual([]);
  }, 60_000);
});

describe('file activities: a rejection handled by another worker', () => {
  it('quarantines and records a rejected file on a worker that never saw the validation\'s work directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'file-reject-'));
    const warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
    try {
      const landingDir = join(dir, 'landing');
      const bad = await generateFile({
        dir: landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 50, seed: 7,
        transform: (row, at) => (at.indexInDate === 4 ? { ...row, event_ts: '2026-11-20 12:00' } : row),
      });
      const ref = { fileId: bad.fileId, sha256: bad.manifest.sha256 };
      await warehouse.registerFile({
        ...ref, clientId: 'acme', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rowCount: 50,
        dataPath: join(landingDir, `${bad.fileId}.csv`), workflowId: 'wf', runId: 'run', replay: false,
      });
      // Host A validates into its own work directory, which is gone before the reject step runs.
      const hostA = createFileActivities({ warehouse, landing: new TimedLanding(landingDir), workDir: join(dir, 'host-a') });
      const validation = (await new MockActivityEnvironment().run(hostA.validateFile, { ...ref, from: 'incoming' as const })) as Awaited<Validation>;
      expect(validation.ok).toBe(false);
      if (validation.ok) return;
      await rm(join(dir, 'host-a'), { recursive: true, force: true });

      const hostB = createFileActivities({ warehouse, landing: new TimedLanding(landingDir), workDir: join(dir, 'host-b') });
      await new MockActivityEnvironment().run(hostB.rejectFile, {
        ...ref, reportPath: validation.reportPath, report: validation.report, workflowId: 'wf', runId: 'run',
      });
      const stored = await warehouse.getFile(ref.fileId, ref.sha256);
      expect(stored).toMatchObject({ outcome: 'rejected', errors: validation.report.issues });
      expect(validation.report.issues).toEqual([expect.objectContaining({ line: 6, field: 'event_ts' })]);
      const quarantined = JSON.parse(
        await readFile(join(landingDir, 'quarantine', ref.fileId, ref.sha256.slice(0, 12), `${ref.fileId}.errors.json`), 'utf8'),
      ) as { issues: unknown[]; issueCount: number };
      expect(quarantined).toMatchObject({ issueCount: 1, issues: validation.report.issues });
    } finally {
      await warehouse.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
