// Every statement text the BigQuery adapter sends, analyzed by a GoogleSQL (ZetaSQL) analyzer against the real table
// schemas (core/model.ts and the stream sink's tables): what the emulator accepts, BigQuery's own dialect must accept
// too. The adapter's query jobs are captured at the client (SQL and parameter types) while it runs every warehouse
// operation on the emulator; the stream sink's statements come from their builders with representative validated
// literals.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BigQuery, type Query } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import {
  classifyScript,
  emptyWindowStatement,
  freshnessViewStatement,
  lastMergeStatement,
  pendingDatesStatement,
  sealedDatesStatement,
  STREAM_TABLES,
} from '../../src/warehouse/bigquery/stream-sql.js';
import { STAGING_FIELDS, TABLES } from '../../src/warehouse/core/model.js';
import { analyze, analyzerAvailable, catalogTable, unqualified, type AnalyzedStatement, type CatalogTable } from '../support/bq-analyzer.js';
import { emulatorAvailable, startEmulator, type EmulatorServer } from '../support/servers.js';
import { applyFile, batchOf, tx } from '../support/warehouse-contract.js';

const projectId = 'local-project';
const datasetId = `dialect_${process.pid}_${Date.now()}`;
const D1 = '2026-11-20';
const D2 = '2026-11-21';
const STAGING_IDS = ['c1', 'c2', 'stale'];

const runnable = emulatorAvailable() && analyzerAvailable();

/**
 * Findings of the analyzer in statements of src/warehouse/bigquery/ that the emulator runs, listed so the rest stays
 * checked, each removed once its statement is fixed. None today: the one it found (an untyped NULL selected through a
 * WITH clause is INT64 to GoogleSQL and cannot go into the STRING column change_id, in the stream batch's insert) was
 * fixed with CAST(NULL AS STRING).
 */
const KNOWN_FINDINGS: Array<{ statement: RegExp; error: RegExp }> = [];

const catalog: CatalogTable[] = [
  ...TABLES.map(catalogTable),
  ...STREAM_TABLES.map(catalogTable),
  ...STAGING_IDS.map((id) => catalogTable({ name: `staging_${id}`, fields: STAGING_FIELDS })),
];

/** Runs every operation of the port once or more, so the adapter sends each statement and script it can build. */
const exerciseEveryOperation = async (w: BigQueryWarehouse): Promise<void> => {
  await w.writeStreamBatch({
    ...batchOf('b-0', [tx('s1', D1, '1.10'), tx('s2', D1, '2.20'), tx('s3', D2, '3.30'), tx('s1', D1, '1.10')]),
    rejects: [{ offset: 4, reason: 'amount: not a decimal', raw: '{"transaction_id":"bad"}' }],
  });
  await w.writeStreamBatch(batchOf('b-0', [tx('s1', D1, '1.10')])); // already applied
  const record = {
    fileId: 'acme-recon-1', sha256: 'ab'.repeat(32), clientId: 'acme', kind: 'reconciliation' as const, covers: [D1],
    sequence: 1, rowCount: 2, dataPath: '/landing/acme-recon-1.csv', workflowId: 'wf', runId: 'run', replay: false,
  };
  await w.registerFile(record);
  await w.registerFile(record); // registered already
  await w.setFileOutcome({ fileId: record.fileId, sha256: record.sha256, outcome: 'rejected', reason: "it's wrong", errors: [] });
  await w.getFile(record.fileId, record.sha256);

  await applyFile(w, { changeId: 'c1', kind: 'reconciliation', covers: [D1], sequence: 1, rows: [tx('s1', D1, '1.10'), tx('f1', D1, '9.00')] });
  await w.publishChange('c1');
  // Late, duplicate and conflicting events for the sealed date.
  await w.writeStreamBatch(batchOf('b-1', [tx('s9', D1, '4.00'), tx('f1', D1, '9.00'), tx('s3', D2, '3.31')], 4));
  await applyFile(w, { changeId: 'c2', kind: 'amendment', covers: [D1, D2], sequence: 2, rows: [tx('f1', D1, '9.50'), tx('f2', D2, '1.00')] });
  await w.publishChange('c2');
  await applyFile(w, { changeId: 'stale', kind: 'amendment', covers: [D1], sequence: 1, rows: [tx('x', D1, '1')] }); // refused
  await w.restoreVersion({ eventDate: D1, version: 1, changeId: 'r1', workflowId: 'wf', runId: 'run' });
  await w.publishChange('r1');
  await w.revertChange('r1');
  await w.unpublishChange('c2');
  await w.revertChange('c2');
  await w.revertChange('never-applied');

  await w.getPartitions();
  await w.getPartitions([D1, D2]);
  await w.getChanges(D1);
  await w.getReport(D1);
  await w.dailyTotals([D1, D2]);
  await w.readRows(D1);
  await w.readVersion(D1, 0);
  await w.readConsumerView('finance_transactions', D1);
  await w.readConsumerView('operations_transactions', D1);
  await w.countSideTables();
  await w.streamCursor('test:p0');
  await w.checksums();
};

/** The stream sink's statements, built with representative validated literals. */
const sinkStatements = (): Array<{ id: string; sql: string }> => {
  const t = (name: string): string => `\`${name}\``;
  const window = { mergeId: 'merge_2026_11_21T10', from: '2026-11-21T10:00:00.000Z', to: '2026-11-21T10:05:00.000Z', dates: [D1, D2], sealedDates: [D1] };
  return [
    { id: 'sink: freshness view', sql: freshnessViewStatement(t) },
    { id: 'sink: pending dates', sql: pendingDatesStatement(t, window.from, window.to) },
    { id: 'sink: sealed dates', sql: sealedDatesStatement(t, window.dates) },
    { id: 'sink: last merge', sql: lastMergeStatement(t) },
    { id: 'sink: classify script', sql: classifyScript(t, window) },
    { id: 'sink: classify script, nothing sealed', sql: classifyScript(t, { ...window, sealedDates: [] }) },
    { id: 'sink: empty window', sql: emptyWindowStatement(t, window) },
  ];
};

if (!runnable) {
  describe('bigquery dialect: every statement the adapter sends, analyzed by ZetaSQL', () => {
    // Skipped only where setup has not installed the emulator or the analyzer (scripts/setup.sh installs both).
    it.skip('needs scripts/emulator.sh and the analyzer (scripts/install-analyzer.sh)', () => {});
  });
} else {
  describe('bigquery dialect: every statement the adapter sends, analyzed by ZetaSQL', () => {
    let emulator: EmulatorServer;
    const sent: string[] = [];
    let results: Array<AnalyzedStatement & { sql: string }> = [];

    beforeAll(async () => {
      emulator = await startEmulator();
      const jobs = new Map<string, { sql: string; params: Record<string, unknown> }>();
      const createQueryJob = BigQuery.prototype.createQueryJob;
      const spy = vi.spyOn(BigQuery.prototype, 'createQueryJob').mockImplementation(function (this: BigQuery, ...args: unknown[]) {
        const request = args[0] as Query | string;
        const sql = unqualified(typeof request === 'string' ? request : request.query ?? '');
        const params = (typeof request === 'string' ? undefined : (request.types as Record<string, unknown> | undefined)) ?? {};
        sent.push(sql);
        jobs.set(`${sql}\n${JSON.stringify(params)}`, { sql, params });
        return (createQueryJob as (...a: unknown[]) => ReturnType<typeof createQueryJob>).apply(this, args);
      });
      try {
        const w = await BigQueryWarehouse.open({ projectId, datasetId, location: 'US', apiEndpoint: emulator.endpoint });
        try {
          await exerciseEveryOperation(w);
        } finally {
          await w.close();
        }
      } finally {
        spy.mockRestore();
      }
      const statements = [...[...jobs.values()].map((job, i) => ({ id: `job ${i}`, ...job })), ...sinkStatements()];
      const analyzed = await analyze(catalog, statements);
      results = analyzed.map((r, i) => ({ ...r, sql: statements[i]?.sql ?? '' }));
    }, 600_000);

    afterAll(async () => {
      if (!emulator) return;
      const authClient = new OAuth2Client();
      authClient.setCredentials({ access_token: 'emulator' });
      await new BigQuery({ projectId, apiEndpoint: emulator.endpoint, authClient }).dataset(datasetId).delete({ force: true }).catch(() => undefined);
      await emulator.stop();
    });

    it('analyzes every job text the adapter sent and every stream-sink statement without an error (but the known findings, none today)', () => {
      const known = (r: AnalyzedStatement & { sql: string }): boolean =>
        KNOWN_FINDINGS.some((k) => k.statement.test(r.sql) && k.error.test(r.error ?? ''));
      const failures = results.filter((r) => !r.ok && !known(r)).map((r) => `${r.id}: ${r.error}\n${r.sql}`);
      expect(failures).toEqual([]);
      expect(results.length).toBeGreaterThan(40);
    });

    it('saw the adapter send transaction scripts, views, queries, and INSERT, DELETE and UPDATE among them', () => {
      const kinds = new Set(results.flatMap((r) => r.resolved));
      for (const kind of ['ResolvedBeginStmt', 'ResolvedCommitStmt', 'ResolvedCreateViewStmt', 'ResolvedInsertStmt', 'ResolvedDeleteStmt', 'ResolvedUpdateStmt', 'ResolvedQueryStmt']) {
        expect(kinds, kind).toContain(kind);
      }
      const scripts = sent.filter((s) => s.startsWith('BEGIN TRANSACTION'));
      // Stream batches, replacements, publishes, unpublish, restore and reverts each went as a script.
      expect(scripts.length).toBeGreaterThanOrEqual(8);
    });

    it('rejects a statement naming a column the schema lacks, so the schemas are really checked', async () => {
      const replace = sent.find((s) => s.startsWith('BEGIN TRANSACTION') && s.includes("'replace'"));
      expect(replace).toBeDefined();
      const broken = replace!.replace('archived_by_change', 'archived_by_chnage');
      const [result] = await analyze(catalog, [{ id: 'broken', sql: broken }]);
      expect(result).toMatchObject({ ok: false });
      expect(result?.error).toMatch(/archived_by_chnage/);
    });

    it('accepts widening the report totals from NUMERIC, as the tables API creates them, to BIGNUMERIC(47, 9), and refuses narrowing one', async () => {
      const widen = sent.filter((s) => s.startsWith('ALTER TABLE') && s.includes('SET DATA TYPE'));
      expect(widen).toEqual([
        'ALTER TABLE `reconciliation_reports` ALTER COLUMN provisional_total SET DATA TYPE BIGNUMERIC(47, 9)',
        'ALTER TABLE `reconciliation_reports` ALTER COLUMN final_total SET DATA TYPE BIGNUMERIC(47, 9)',
      ]);
      const reports = TABLES.find((t) => t.name === 'reconciliation_reports')!;
      const asCreated = { name: reports.name, fields: reports.fields.map((f) => ({ ...f, type: f.type === 'BIGNUMERIC' ? 'NUMERIC' as const : f.type })) };
      const narrow = 'ALTER TABLE `reconciliation_reports` ALTER COLUMN final_total SET DATA TYPE INT64';
      const results = await analyze([catalogTable(asCreated)], [...widen, narrow].map((sql, i) => ({ id: `alter ${i}`, sql })));
      expect(results.map((r) => r.ok)).toEqual([true, true, false]);
      expect(results[2]?.error).toMatch(/final_total|NUMERIC|INT64/);
    });
  });
}
