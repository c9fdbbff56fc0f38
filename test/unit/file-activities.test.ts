import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileActivities } from '../../src/activities/file-activities.js';
import { generateFile, type GeneratedFile } from '../../src/files/generate.js';
import { LocalDirLanding } from '../../src/files/landing.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';

type Validation = ReturnType<ReturnType<typeof createFileActivities>['validateFile']>;

/** Landing that records when each validation holds its data file open. */
class TimedLanding extends LocalDirLanding {
  readonly spans: Array<{ fileId: string; from: number; to: number }> = [];
  override async openData(...args: Parameters<LocalDirLanding['openData']>) {
    const opened = await super.openData(...args);
    if (!opened) return opened;
    const span = { fileId: args[0], from: performance.now(), to: Number.POSITIVE_INFINITY };
    this.spans.push(span);
    return { ...opened, release: async () => { span.to = performance.now(); await opened.release(); } };
  }
}

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

  it('runs one validation at a time per worker; the others wait their turn and all pass', async () => {
    const landing = new TimedLanding(join(dir, 'landing'));
    const activities = createFileActivities({ warehouse, landing, workDir: join(dir, 'work') });
    const results = await Promise.all(
      files.map((f) =>
        new MockActivityEnvironment().run(activities.validateFile, { fileId: f.fileId, sha256: f.manifest.sha256, from: 'incoming' as const }) as Validation,
      ),
    );
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    expect(landing.spans).toHaveLength(3);
    const spans = [...landing.spans].sort((a, b) => a.from - b.from);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.from).toBeGreaterThanOrEqual(spans[i - 1]!.to);
  }, 60_000);

  it('does not start a queued validation whose activity was cancelled while it waited', async () => {
    const landing = new TimedLanding(join(dir, 'landing'));
    const activities = createFileActivities({ warehouse, landing, workDir: join(dir, 'work') });
    const [first, second] = files;
    const running = new MockActivityEnvironment().run(activities.validateFile, { fileId: first!.fileId, sha256: first!.manifest.sha256, from: 'incoming' as const }) as Validation;
    const queuedEnv = new MockActivityEnvironment();
    const queued = queuedEnv.run(activities.validateFile, { fileId: second!.fileId, sha256: second!.manifest.sha256, from: 'incoming' as const });
    queuedEnv.cancel('CANCELLED');
    await expect(queued).rejects.toThrow();
    expect((await running).ok).toBe(true);
    expect(landing.spans.map((s) => s.fileId)).toEqual([first!.fileId]);
  }, 60_000);
});
