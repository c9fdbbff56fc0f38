import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { streamBatchOf } from '../../src/activities/stream-activities.js';
import { parseStreamRecords } from '../../src/domain/stream-event.js';
import { reconciliationFromFeed } from '../../src/files/feed-reconciliation.js';
import { validateFile } from '../../src/files/validate.js';
import { FeedModel, SimulatedFeed, simulatedFeedConfigSchema } from '../../src/sources/simulated-feed.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';

const root = await mkdtemp(join(tmpdir(), 'feed-recon-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const DATE = '2026-11-21';
const THROUGH = 3000;
const config = { clientId: 'acme', seed: 42, rate: 'unbounded', businessDate: DATE, startMs: 0 } as const;

test("a feed-based reconciliation differs from what the stream wrote by exactly the stated differences, by kind", async () => {
  const recon = await reconciliationFromFeed({
    dir: join(root, 'landing'),
    model: new FeedModel(simulatedFeedConfigSchema.parse(config)),
    date: DATE,
    through: THROUGH,
    sequence: 7,
    clientId: 'acme',
    differences: { missed: 3, corrected: 2, streamOnly: 1 },
  });
  expect(recon.truthRows).toBeGreaterThan(2500);
  expect(recon.file.manifest.row_count).toBe(recon.truthRows - 1 + 3);

  // The stream reads the same feed offsets into a warehouse; the file then replaces the date.
  const w = await DuckDbWarehouse.open({ path: ':memory:' });
  const feed = new SimulatedFeed(config);
  try {
    for (let cursor = 0; cursor < THROUGH; ) {
      const read = await feed.read({ fromCursor: cursor, maxRows: Math.min(1000, THROUGH - cursor), maxWaitMs: 0 });
      const parsed = parseStreamRecords({ sourceId: feed.id, records: read.records, timeZone: feed.settings.timeZone });
      await w.writeStreamBatch(streamBatchOf({ sourceId: feed.id, fromCursor: cursor, toCursor: read.nextCursor, parsed }));
      cursor = read.nextCursor;
    }
    expect((await w.readRows(DATE)).length).toBe(recon.truthRows);

    const validated = await validateFile({
      dataPath: recon.file.dataPath,
      manifestText: await readFile(recon.file.manifestPath, 'utf8'),
      manifestName: `${recon.file.fileId}.manifest.json`,
      workDir: join(root, 'work'),
      clientId: 'acme',
      normalizedFormat: 'parquet',
    });
    expect(validated.ok).toBe(true);
    if (!validated.ok) return;
    await w.stageFile({ stagingId: 'feed_recon', csvPath: validated.normalizedPath });
    const replaced = await w.replacePartitions({
      changeId: 'feed_recon', fileId: recon.file.fileId, stagingId: 'feed_recon', kind: 'reconciliation',
      covers: [DATE], sequence: 7, workflowId: 'test', runId: 'test', force: false,
    });
    expect(replaced.outcome).toBe('replaced');
    const [report] = await w.publishChange('feed_recon');
    const byKind = (kind: string) => report?.diffs.filter((d) => d.kind === kind).map((d) => d.transactionId).sort();
    expect(report?.diffCount).toBe(6);
    expect(byKind('only_in_file')).toEqual([...recon.missed].sort());
    expect(byKind('amount_changed')).toEqual(recon.corrected.map((c) => c.transactionId).sort());
    expect(byKind('only_in_stream')).toEqual(recon.streamOnly);
    for (const c of recon.corrected) {
      expect(report?.diffs.find((d) => d.transactionId === c.transactionId)).toMatchObject({ before: c.from, after: c.to });
    }
  } finally {
    await w.close();
    await feed.close();
  }
});
