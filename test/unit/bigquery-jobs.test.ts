// What the BigQuery adapter sends, recorded by a stand-in client (testkit/recorded-bigquery.ts): the emulator keeps
// no job labels or timeouts, never answers 409 for a repeated job id and does not enforce require_partition_filter
// (docs/emulators.md), so these are checked here, on every statement the adapter builds.
import { describe, expect, it } from 'vitest';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import { withJobContext } from '../../src/warehouse/job-context.js';
import { TABLES } from '../../src/warehouse/core/model.js';
import { tableMetadata } from '../../src/warehouse/bigquery/schema.js';
import {
  classifyScript,
  emptyWindowStatement,
  lastMergeStatement,
  pendingDatesStatement,
  sealedDatesStatement,
} from '../../src/warehouse/bigquery/stream-sql.js';
import { RecordedBigQuery } from '../../testkit/recorded-bigquery.js';
import { batchOf, tx } from '../support/warehouse-contract.js';

const open = (fake: RecordedBigQuery, extra: { jobTimeoutMs?: number } = {}) =>
  new BigQueryWarehouse({ projectId: 'proj-test', datasetId: 'ds', location: 'EU', labels: { client: 'Acme' }, client: fake.asClient(), maxAttempts: 1, ...extra });

const context = { workflowId: 'reconcile/acme/2026-11-21/ab12cd34', step: 'replace', attempt: 1 };

describe('bigquery jobs: labels, timeout, ids, cancellation', () => {
  it('labels every job with client, workflow id, step and attempt, sets its timeout, and ids it <workflow>-<step>-<attempt>-<n>', async () => {
    const fake = new RecordedBigQuery();
    const w = open(fake, { jobTimeoutMs: 90_000 });
    await withJobContext(context, async () => {
      await w.readRows('2026-11-21');
      await w.dailyTotals(['2026-11-21']);
    });
    expect(fake.jobs.map((j) => j.request.jobId)).toEqual([
      'reconcile_acme_2026-11-21_ab12cd34-replace-1-1',
      'reconcile_acme_2026-11-21_ab12cd34-replace-1-2',
    ]);
    for (const job of fake.jobs) {
      expect(job.request.labels).toEqual({ client: 'acme', workflow_id: 'reconcile_acme_2026-11-21_ab12cd34', step: 'replace', attempt: '1' });
      expect(job.request.jobTimeoutMs).toBe(90_000);
    }
  });

  it('outside a job context, still labels the client and sets the timeout (BigQuery picks the id)', async () => {
    const fake = new RecordedBigQuery();
    await open(fake).readRows('2026-11-21');
    expect(fake.jobs[0]?.request).toMatchObject({ labels: { client: 'acme' }, jobTimeoutMs: 600_000 });
    expect(fake.jobs[0]?.request.jobId).toBeUndefined();
  });

  it('on a 409 for its job id, attaches to the existing job and returns its rows instead of sending the statement again', async () => {
    const fake = new RecordedBigQuery();
    fake.existing.add('reconcile_acme_2026-11-21_ab12cd34-replace-1-1');
    fake.existingRows = [{ c: 42 }];
    const cursor = await withJobContext(context, () => open(fake).streamCursor('feed'));
    expect(cursor).toBe(42);
    expect(fake.calls).toEqual(['create reconcile_acme_2026-11-21_ab12cd34-replace-1-1 409', 'attach reconcile_acme_2026-11-21_ab12cd34-replace-1-1']);
  });

  it('on a retried attempt, waits until the previous attempt\'s same job is done before sending its own', async () => {
    const fake = new RecordedBigQuery();
    fake.runningPolls.set('reconcile_acme_2026-11-21_ab12cd34-replace-1-1', 2);
    await withJobContext({ ...context, attempt: 2 }, () => open(fake).readRows('2026-11-21'));
    expect(fake.calls).toEqual([
      'poll reconcile_acme_2026-11-21_ab12cd34-replace-1-1 RUNNING',
      'poll reconcile_acme_2026-11-21_ab12cd34-replace-1-1 RUNNING',
      'poll reconcile_acme_2026-11-21_ab12cd34-replace-1-1 DONE',
      'create reconcile_acme_2026-11-21_ab12cd34-replace-2-1',
    ]);
  });

  it('cancels the running job when the context\'s signal aborts, and the call fails', async () => {
    const fake = new RecordedBigQuery();
    fake.hold = true;
    const controller = new AbortController();
    const reading = withJobContext({ ...context, signal: controller.signal }, () => open(fake).readRows('2026-11-21'));
    while (fake.jobs.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await expect(reading).rejects.toThrow(/cancelled/);
    expect(fake.jobs[0]?.cancelled).toBe(true);
    expect(fake.calls).toContain('cancel reconcile_acme_2026-11-21_ab12cd34-replace-1-1');
  });

  it('stages an object already in a bucket by a load job naming its gs:// URI, labelled, with a timeout and the attempt\'s job id', async () => {
    const fake = new RecordedBigQuery();
    fake.answer = (sql) => (sql.includes('COUNT(*)') ? [{ n: 5 }] : []);
    const staged = await withJobContext({ ...context, step: 'stage' }, () =>
      open(fake, { jobTimeoutMs: 1_800_000 }).stageFile({ stagingId: 'abc', csvPath: 'gs://acme-landing/acme/.staging/abc.parquet' }),
    );
    expect(staged).toEqual({ rows: 5 });
    const load = fake.jobs[0]?.request;
    expect(load).toMatchObject({
      jobId: 'reconcile_acme_2026-11-21_ab12cd34-stage-1-1',
      location: 'EU',
      configuration: {
        labels: { client: 'acme', role: 'stage', workflow_id: 'reconcile_acme_2026-11-21_ab12cd34', step: 'stage', attempt: '1' },
        jobTimeoutMs: '1800000',
        load: {
          sourceUris: ['gs://acme-landing/acme/.staging/abc.parquet'],
          sourceFormat: 'PARQUET',
          writeDisposition: 'WRITE_TRUNCATE',
          destinationTable: { projectId: 'proj-test', datasetId: 'ds_staging', tableId: 'staging_abc' },
        },
      },
    });
    expect(fake.calls).toContain('create table ds_staging.staging_abc');
  });

  it('sends no job once the context\'s signal has aborted', async () => {
    const fake = new RecordedBigQuery();
    const controller = new AbortController();
    controller.abort();
    await expect(withJobContext({ ...context, signal: controller.signal }, () => open(fake).readRows('2026-11-21'))).rejects.toThrow();
    expect(fake.jobs).toHaveLength(0);
  });
});

/** A row with every column the adapter's reads map, so each operation runs to its write. */
const ANY_ROW: Record<string, unknown> = {
  d: '2026-11-20', event_date: '2026-11-20', change_id: 'c1', version: 1, status: 'reconciled', from_version: 0, to_version: 1,
  from_status: 'provisional', to_status: 'reconciled', rows_before: 0, rows_after: 0, totals_before: '[]', totals_after: '[]',
  totals: '[]', row_count: 0, sealed: true, pending: false, published: true, updated: '2026-11-21T00:00:00.000000Z',
  changed: '2026-11-21T00:00:00.000000Z', kind: 'replace', file_id: 'f', sequence: 1, workflow_id: 'wf', run_id: 'r', diff_count: 0,
  late_arrivals: 0, total: '0', amount: '0', provisional_total: '0', final_total: '0', currency: 'USD', transaction_id: 't1',
};

/** Tables that must be read by partition (transactions requires it) and the views that read transactions. */
const PARTITION_FILTERED = new Set(['transactions', 'stream_events', 'operations_transactions', 'finance_transactions', 'daily_totals', 'operations_fresh']);
const CONSTANT_DATE_FILTER = String.raw`event_date\s*(?:IN\s+UNNEST\(\s*(?:@\w+|\[|CAST\(\[)|=\s*@\w+|>=\s*(?:DATE|@))`;

/** Reads of a partition-filtered table with no event_date filter on constants or parameters, as `table: statement`. */
const unfilteredReads = (sql: string): string[] => {
  if (/^\s*CREATE OR REPLACE VIEW/i.test(sql)) return []; // a view's reads are checked where the view is read
  const out: string[] = [];
  for (const statement of sql.split(/;\n/)) {
    for (const m of statement.matchAll(/\b(?:FROM|JOIN)\s+`[^`]*\.([a-z_]+)`(?:\s+(?!WHERE|ON|LEFT|JOIN|GROUP|ORDER|WINDOW|QUALIFY|UNION)(\w+))?/gi)) {
      const table = m[1] ?? '';
      if (!PARTITION_FILTERED.has(table)) continue;
      const column = table === 'stream_events' ? 'received_at' : 'event_date';
      const filter = table === 'stream_events' ? String.raw`received_at\s*>=` : CONSTANT_DATE_FILTER;
      const alias = m[2];
      const rest = alias ? statement : statement.slice((m.index ?? 0) + m[0].length).split(/\b(?:FROM|JOIN)\s+`/)[0] ?? '';
      const pattern = new RegExp(alias ? `\\b${alias}\\.${filter}` : `(?<![.\\w])${filter}`, 'i');
      if (!pattern.test(rest)) out.push(`${table} (${column}): ${statement.trim().slice(0, 300)}`);
    }
  }
  return out;
};

describe('bigquery statements: every read of transactions and the stream tables filters its partitions', () => {
  const sink = (n: string): string => `\`proj.ds.${n}\``;
  const window = { mergeId: 'm1', from: '2026-11-21T10:00:00.000000Z', to: '2026-11-21T10:01:00.000000Z', dates: ['2026-11-20', '2026-11-21'], sealedDates: ['2026-11-20'] };

  /** Runs every adapter operation against the recording client and returns each statement and script it sent. */
  const everyStatement = async (): Promise<string[]> => {
    const fake = new RecordedBigQuery();
    const w = open(fake);
    const run = async (answer: (sql: string) => Array<Record<string, unknown>>, work: () => Promise<unknown>): Promise<void> => {
      fake.answer = answer;
      // Canned rows cannot satisfy every follow-up read; only the statements sent matter here.
      await work().catch(() => undefined);
    };
    const all = () => [ANY_ROW];
    const none = () => [];
    await run(none, () => w.writeStreamBatch(batchOf('b-1', [tx('t1', '2026-11-20', '1'), tx('t2', '2026-11-21', '2')])));
    await run(none, () =>
      w.replacePartitions({ changeId: 'c1', stagingId: 's1', fileId: 'f', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, workflowId: 'wf', runId: 'r', force: false }),
    );
    await run(all, () => w.revertChange('c1'));
    await run(all, () => w.publishChange('c1'));
    await run(all, () => w.unpublishChange('c1'));
    await run(all, () => w.restoreVersion({ changeId: 'c2', eventDate: '2026-11-20', version: 0, workflowId: 'wf', runId: 'r' }));
    await run(all, () => w.getPartitions());
    await run(all, () => w.getPartitions(['2026-11-20']));
    await run(all, () => w.getChanges('2026-11-20'));
    await run(all, () => w.getReport('2026-11-20'));
    await run(all, () => w.dailyTotals(['2026-11-20']));
    await run(all, () => w.readRows('2026-11-20'));
    await run(all, () => w.readVersion('2026-11-20', 1));
    await run(all, () => w.readConsumerView('finance_transactions', '2026-11-20'));
    await run(all, () => w.readConsumerView('operations_transactions', '2026-11-20'));
    await run(all, () => w.countSideTables());
    await run(all, () => w.streamCursor('feed'));
    await run(all, () => w.checksums());
    return [
      ...fake.jobs.map((j) => j.request.query ?? ''),
      pendingDatesStatement(sink, window.from, window.to),
      lastMergeStatement(sink),
      sealedDatesStatement(sink, window.dates),
      classifyScript(sink, window),
      classifyScript(sink, { ...window, sealedDates: [] }),
      emptyWindowStatement(sink, window),
      `SELECT * FROM ${sink('operations_fresh')} WHERE event_date = @date`,
    ];
  };

  it('reads transactions (directly or through a view) only with an event_date filter, and stream_events only by arrival time', async () => {
    const statements = await everyStatement();
    expect(statements.filter((s) => /`[^`]*\.transactions`/.test(s)).length).toBeGreaterThanOrEqual(11);
    expect(statements.flatMap(unfilteredReads)).toEqual([]);
  });

  it('the check itself finds a read of transactions without a partition filter', () => {
    expect(unfilteredReads('SELECT * FROM `p.d.transactions` WHERE transaction_id = @id')).toHaveLength(1);
    expect(unfilteredReads('SELECT 1 FROM `p.d.late_arrivals` la JOIN `p.d.transactions` x ON x.transaction_id = la.transaction_id')).toHaveLength(1);
    expect(unfilteredReads('SELECT * FROM `p.d.transactions` WHERE event_date IN UNNEST(@dates)')).toEqual([]);
  });

  it('creates transactions with require_partition_filter, so BigQuery refuses any read that would scan every date', () => {
    const spec = TABLES.find((t) => t.name === 'transactions');
    expect(spec && tableMetadata(spec)).toMatchObject({ requirePartitionFilter: true, timePartitioning: { type: 'DAY', field: 'event_date' } });
  });
});
