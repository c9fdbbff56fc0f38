/**
 * The file path end to end on the real dev server: reconciliation and amendment workflows as sagas,
 * against DuckDB and (when the emulator is there) the BigQuery adapter.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { FaultInjector } from '../../src/activities/file-activities.js';
import type { Transaction } from '../../src/domain/contract.js';
import { generateDateRows, generateFile, type GeneratedRow } from '../../src/files/generate.js';
import { intakeInput } from '../../src/files/intake.js';
import type { fileWorkflow } from '../../src/workflows/file-workflow.js';
import { BigQueryWarehouse } from '../../src/warehouse/bigquery/bigquery-warehouse.js';
import type { Warehouse } from '../../src/warehouse/port.js';
import { fileProgressQuery } from '../../src/domain/workflow-api.js';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { WarehouseError } from '../../src/warehouse/port.js';
import { trackStaging, withHookAfter, withoutCompensation, type CompensationMethod } from '../../testkit/faulty-warehouse.js';
import { expectCheckNeeds } from '../support/compensation-guard.js';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.js';
import { batchOf } from '../support/warehouse-contract.js';

const toTransaction = (r: GeneratedRow): Transaction => ({
  transactionId: r.transaction_id ?? '',
  accountId: r.account_id ?? '',
  eventTs: r.event_ts ?? '',
  eventDate: r.event_date ?? '',
  amount: r.amount ?? '',
  currency: r.currency ?? '',
  merchantId: r.merchant_id,
  description: r.description,
});

/** The stream's view of a date: the same rows the file will carry (seed 1), as provisional events. */
const streamRows = (date: string, count: number): Transaction[] =>
  [...generateDateRows({ date, count, seed: 1, utcOffset: '-05:00', idPrefix: 'tx-' })].map(toTransaction);

const failureOf = async (promise: Promise<unknown>): Promise<ApplicationFailure> => {
  const error = await promise.then(
    () => {
      throw new Error('expected the workflow to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  // The workflow's own failure, or an activity's failure it let through (ActivityFailure → ApplicationFailure).
  let cause: unknown = (error as WorkflowFailedError).cause;
  while (cause instanceof Error && !(cause instanceof ApplicationFailure)) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
};

type SagaStep = 'stage' | 'replace' | 'publish';
/** The warehouse call whose work each step makes durable. */
const STEP_WORK = { stage: 'stageFile', replace: 'replacePartitions', publish: 'publishChange' } as const;
/**
 * The compensations without which a step's rollback cannot be exact. At publish, `unpublishChange` alone is
 * not needed for the end state: `revertChange` deletes the change's reports and change rows anyway.
 */
const NEEDED: Record<SagaStep, CompensationMethod[]> = {
  stage: ['dropStaging'],
  replace: ['revertChange'],
  publish: ['unpublishChange', 'revertChange'],
};

const bqEndpoint = process.env.BQ_EMULATOR_ENDPOINT;
let datasets = 0;
/** Both engines are always declared; the BigQuery one is skipped, with its reason, when the emulator is gated off. */
const targets: Array<{ name: string; open?: () => Promise<Warehouse>; skip?: string }> = [
  { name: 'duckdb' },
  bqEndpoint
    ? {
        name: 'bigquery (emulator)',
        open: () =>
          BigQueryWarehouse.open({
            projectId: process.env.BQ_EMULATOR_PROJECT ?? 'local-project',
            datasetId: `files_${process.pid}_${Date.now()}_${datasets++}`,
            location: 'US',
            apiEndpoint: bqEndpoint,
          }),
      }
    : { name: 'bigquery (emulator)', skip: 'no BigQuery emulator: SKIP_BQ_EMULATOR=1 or not installed (scripts/setup.sh installs it)' },
];

const normalizedFiles = (dir: string): string[] =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.includes('.normalized.'));

for (const { name, open, skip } of targets) {
// Skipped only when its engine is absent; the reason is in the suite's name.
(skip ? describe.skip : describe)(`file workflows on ${name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let pipeline: TestPipeline | undefined;
  const opened: Warehouse[] = [];
  const start = async (faults?: FaultInjector, clientId?: string): Promise<TestPipeline> => {
    const warehouse = open ? await open() : undefined;
    if (warehouse) opened.push(warehouse);
    pipeline = await startTestPipeline({ ...(warehouse ? { warehouse } : {}), ...(faults ? { faults } : {}), ...(clientId ? { clientId } : {}) });
    return pipeline;
  };
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
  });
  afterAll(async () => {
    for (const w of opened) await w.close();
  });

  it('shows a date as provisional before its reconciliation and as reconciled after, with the report', async () => {
    const p = await start();
    const date = '2026-11-20';
    const stream = streamRows(date, 40);
    // The stream saw 39 of the file's 40 rows, one with another amount, and one the file does not have.
    const seen = stream.slice(0, 39).map((r, i) => (i === 3 ? { ...r, amount: '999.99' } : r));
    await p.warehouse.writeStreamBatch(batchOf('b-0', [...seen, { ...stream[0]!, transactionId: 'only-in-stream', amount: '1.00' }]));
    const before = await p.warehouse.dailyTotals([date]);
    expect(new Set(before.map((t) => t.status))).toEqual(new Set(['provisional']));
    expect(before.reduce((n, t) => n + t.rows, 0)).toBe(40);

    const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [date], rows: 40, sequence: 1 });
    const result = await p.runFile(file.fileId);
    expect(result).toMatchObject({ outcome: 'applied', dates: [{ eventDate: date, fromVersion: 0, toVersion: 1, rowsBefore: 40, rowsAfter: 40, diffCount: 3 }] });

    const rows = await p.warehouse.readRows(date);
    expect(rows).toHaveLength(40);
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['reconciled']));
    const after = await p.warehouse.dailyTotals([date]);
    expect(after.every((t) => t.status === 'reconciled' && t.version === 1)).toBe(true);
    const totals = Object.fromEntries(after.map((t) => [t.currency, t.total]));
    expect(totals).toEqual(
      Object.fromEntries(Object.entries(file.manifest.control_totals).map(([c, v]) => [c, v.replace(/\.?0+$/, '')])),
    );

    const report = await p.warehouse.getReport(date);
    expect(report?.comparedWith).toBe('provisional');
    expect(report?.diffs.map((d) => [d.kind, d.transactionId])).toEqual([
      ['amount_changed', stream[3]!.transactionId],
      ['only_in_file', stream[39]!.transactionId],
      ['only_in_stream', 'only-in-stream'],
    ]);
    const registry = await p.warehouse.getFile(file.fileId, file.manifest.sha256);
    expect(registry).toMatchObject({ outcome: 'applied', kind: 'reconciliation', covers: [date] });
    expect(existsSync(join(p.landingDir, 'processed', file.fileId))).toBe(true);
    // The validator's normalised file went with the staging area.
    expect(normalizedFiles(p.workDir)).toEqual([]);
  });

  it('lands an amendment for an earlier date on that date only, as amended, and reports the one changed row', async () => {
    const p = await start();
    const tuesday = '2026-11-17';
    const today = '2026-11-22';
    await p.warehouse.writeStreamBatch(batchOf('b-today', streamRows(today, 5)));
    await p.runFile((await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [tuesday], rows: 30, sequence: 10 })).fileId);
    const todayBefore = await p.warehouse.checksums();

    const amendment = await generateFile({
      dir: p.landingDir,
      kind: 'amendment',
      covers: [tuesday],
      rows: 30,
      sequence: 11,
      createdAt: `${today}T09:00:00Z`,
      transform: (row, at) => (at.indexInDate === 7 ? { ...row, amount: '123.45', currency: 'USD' } : row),
    });
    const result = await p.runFile(amendment.fileId);
    expect(result.dates).toEqual([expect.objectContaining({ eventDate: tuesday, fromVersion: 1, toVersion: 2, diffCount: 1 })]);
    const rows = await p.warehouse.readRows(tuesday);
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['amended']));
    expect(rows.find((r) => r.transactionId === 'tx-20261117-00000007')?.amount).toBe('123.45');
    expect((await p.warehouse.readRows(today)).map((r) => r.status)).toEqual(Array(5).fill('provisional'));
    const report = await p.warehouse.getReport(tuesday);
    expect(report?.comparedWith).toBe('reconciled');
    expect(report?.diffs).toEqual([expect.objectContaining({ transactionId: 'tx-20261117-00000007', kind: 'amount_changed', after: '123.45' })]);
    expect((await p.warehouse.checksums()).stream_batches).toBe(todayBefore.stream_batches);
  });

  it('applies a multi-date amendment, emptying a covered date that has no rows and leaving others untouched', async () => {
    const p = await start();
    await p.warehouse.writeStreamBatch(batchOf('b-0', [...streamRows('2026-11-10', 3), ...streamRows('2026-11-11', 3), ...streamRows('2026-11-12', 3)]));
    const amendment = await generateFile({
      dir: p.landingDir,
      kind: 'amendment',
      covers: ['2026-11-10', '2026-11-11'],
      rows: 8,
      sequence: 3,
      transform: (row) => (row.event_date === '2026-11-11' ? null : row),
    });
    const result = await p.runFile(amendment.fileId);
    expect(result.dates.map((d) => [d.eventDate, d.rowsBefore, d.rowsAfter])).toEqual([
      ['2026-11-10', 3, 4],
      ['2026-11-11', 3, 0],
    ]);
    expect(await p.warehouse.readRows('2026-11-11')).toEqual([]);
    expect((await p.warehouse.readRows('2026-11-12')).map((r) => r.status)).toEqual(['provisional', 'provisional', 'provisional']);
    const ledger = await p.warehouse.getPartitions(['2026-11-10', '2026-11-11', '2026-11-12']);
    expect(ledger.map((l) => [l.eventDate, l.status, l.version, l.rowCount])).toEqual([
      ['2026-11-10', 'amended', 1, 4],
      ['2026-11-11', 'amended', 1, 0],
      ['2026-11-12', 'provisional', 0, 3],
    ]);
  });

  it('runs a file delivered twice only once, also when the second run has another workflow id', async () => {
    const clientId = `acme-${randomUUID().slice(0, 8)}`;
    const p = await start(undefined, clientId);
    const file = await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 10, sequence: 1 });
    const first = await p.submit(file.fileId);
    const second = await p.submit(file.fileId);
    expect(first.started).toBe(true);
    expect(second).toMatchObject({ started: false, reason: expect.stringContaining('duplicate delivery') });
    if (first.started) await first.handle.result();
    const checksums = await p.warehouse.checksums();
    // The same bytes land again after the first run completed: Temporal refuses the id, nothing changes.
    await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: ['2026-11-20'], rows: 10, sequence: 1 });
    expect((await p.submit(file.fileId)).started).toBe(false);
    expect(await p.warehouse.checksums()).toEqual(checksums);
    expect((await p.warehouse.getChanges('2026-11-20')).length).toBe(1);

    // A run under another workflow id (a re-delivery that got a new id) finds the registry's applied entry and
    // stops as a duplicate, naming the run that applied it.
    if (!first.started) throw new Error(first.reason);
    const input = await intakeInput({ landing: p.landing, fileId: file.fileId, clientId, from: { area: 'processed', sha256: file.manifest.sha256 }, replay: false });
    const other = await p.client.workflow.start<typeof fileWorkflow>('fileWorkflow', { taskQueue: p.taskQueue, workflowId: `${first.workflowId}/again`, args: [input] });
    const applied = await first.handle.result();
    expect(await other.result()).toEqual({ outcome: 'duplicate', changeId: applied.changeId, dates: [] });
    expect(await other.query(fileProgressQuery)).toMatchObject({ stage: 'duplicate', detail: `already applied by ${first.workflowId}` });
    expect(await p.warehouse.checksums()).toEqual(checksums);
  }, 300_000);

  it('refuses an older sequence with a clear reason, then applies it when an operator replays it', async () => {
    const p = await start();
    const date = '2026-11-20';
    await p.runFile((await generateFile({ dir: p.landingDir, kind: 'reconciliation', covers: [date], rows: 10, sequence: 20 })).fileId);
    const older = await generateFile({ dir: p.landingDir, kind: 'amendment', covers: [date], rows: 4, sequence: 19 });
    const before = await p.warehouse.checksums();
    const failure = await failureOf(p.runFile(older.fileId));
    expect(failure.type).toBe('StaleSequence');
    expect(failure.message).toContain('sequence 19, older than 2026-11-20 at sequence 20');
    const { file_registry: _r1, ...dataBefore } = before;
    const { file_registry: _r2, ...dataAfter } = await p.warehouse.checksums();
    expect(dataAfter).toEqual(dataBefore);
    expect(await p.warehouse.getFile(older.fileId, older.manifest.sha256)).toMatchObject({ outcome: 'refused_stale' });

    // The refused file is kept in refused/, where a replay reads it.
    const kept = { area: 'refused', sha256: older.manifest.sha256 } as const;
    expect(await p.landing.readManifest(older.fileId)).toBeNull();
    expect(JSON.parse((await p.landing.readManifest(older.fileId, kept)) ?? '{}')).toEqual(older.manifest);
    const replayed = await p.runFile(older.fileId, { replay: true, ...kept });
    expect(replayed.outcome).toBe('applied');
    expect(await p.warehouse.readRows(date)).toHaveLength(4);
    expect((await p.warehouse.getPartitions([date]))[0]).toMatchObject({ status: 'amended', version: 2, sequence: 19 });
  });

  it('rejects a bad file without touching any partition, and keeps it in quarantine with its error report', async () => {
    const p = await start();
    await p.warehouse.writeStreamBatch(batchOf('b-0', streamRows('2026-11-20', 5)));
    const file = await generateFile({
      dir: p.landingDir,
      kind: 'reconciliation',
      covers: ['2026-11-20'],
      rows: 10,
      sequence: 1,
      transform: (row, at) => (at.indexInDate % 2 === 0 ? { ...row, transaction_id: null } : row),
    });
    const before = await p.warehouse.checksums();
    const failure = await failureOf(p.runFile(file.fileId));
    expect(failure.type).toBe('InvalidFile');
    expect(failure.message).toMatch(/\.csv:2 field transaction_id: is required/);
    const { file_registry: _a, ...dataBefore } = before;
    const { file_registry: _b, ...dataAfter } = await p.warehouse.checksums();
    expect(dataAfter).toEqual(dataBefore);
    const entry = await p.warehouse.getFile(file.fileId, file.manifest.sha256);
    expect(entry?.outcome).toBe('rejected');
    expect(entry?.errors.length).toBeGreaterThanOrEqual(5);
    expect(entry?.errors[0]).toMatchObject({ line: 2, field: 'transaction_id' });
    const quarantine = join(p.landingDir, 'quarantine', file.fileId, file.manifest.sha256.slice(0, 12));
    expect(readdirSync(quarantine).sort()).toEqual([`${file.fileId}.csv`, `${file.fileId}.errors.json`, `${file.fileId}.manifest.json`]);
    expect(JSON.parse(readFileSync(join(quarantine, `${file.fileId}.errors.json`), 'utf8'))).toMatchObject({ issueCount: 5 });
  });

  /**
   * An amendment whose `step` fails, or is cancelled by an operator, after the step's warehouse work is
   * durable, over stream rows on both covered dates; asserts that the saga leaves the warehouse exactly as
   * before the file. `disable` turns compensations into no-ops, to show the check depends on them.
   */
  const rollbackCheck = async (step: SagaStep, mode: 'fail' | 'cancel', disable: readonly CompensationMethod[] = []): Promise<void> => {
    const inner = open ? await open() : await DuckDbWarehouse.open({ path: ':memory:' });
    opened.push(inner);
    let reach = (): void => undefined;
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const tracked = trackStaging(inner);
    let warehouse = withHookAfter(tracked.warehouse, STEP_WORK[step], async () => {
      if (mode === 'fail') throw new WarehouseError(`injected failure after ${STEP_WORK[step]}`, 'INVARIANT');
      // The step's work is done and durable; the activity is still running when the operator cancels.
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 100);
      reach();
      try {
        await ctx.cancelled;
      } finally {
        clearInterval(beat);
      }
    });
    for (const method of disable) warehouse = withoutCompensation(warehouse, method);
    pipeline = await startTestPipeline({ warehouse });
    const p = pipeline;
    await p.warehouse.writeStreamBatch(batchOf('b-0', [...streamRows('2026-11-19', 4), ...streamRows('2026-11-20', 6)]));
    const before = await p.warehouse.checksums();
    const file = await generateFile({ dir: p.landingDir, kind: 'amendment', covers: ['2026-11-19', '2026-11-20'], rows: 12, sequence: 2 });
    const started = await p.submit(file.fileId);
    if (!started.started) throw new Error(started.reason);
    if (mode === 'cancel') {
      await reached;
      await started.handle.cancel();
      const error = await started.handle.result().then(
        () => new Error('expected the workflow to be cancelled'),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    } else {
      const failure = await failureOf(started.handle.result());
      expect(failure.message).toContain(`injected failure after ${STEP_WORK[step]}`);
    }
    const { file_registry: _a, ...dataBefore } = before;
    const { file_registry: _b, ...dataAfter } = await p.warehouse.checksums();
    expect(dataAfter).toEqual(dataBefore);
    expect([...tracked.open], 'staging areas left behind').toEqual([]);
    expect(await p.warehouse.getFile(file.fileId, file.manifest.sha256)).toMatchObject({
      outcome: 'rolled_back',
      reason: mode === 'cancel' ? `cancelled by an operator during ${step}` : expect.stringContaining(`injected failure after ${STEP_WORK[step]}`),
    });
    expect(await started.handle.query(fileProgressQuery)).toMatchObject({ stage: 'rolled_back' });
    expect(normalizedFiles(p.workDir)).toEqual([]);
  };

  /**
   * A failure and an operator's cancel end in the same catch of the saga (src/workflows/file-workflow.ts), which waits
   * for a cancelled step to end and then runs the same compensations, so the warehouse sees the same calls in both
   * modes. Both modes run on DuckDB (the workflow's side of a cancel); on BigQuery the failure runs show that the
   * adapter's compensations restore the warehouse exactly, and a cancel run would repeat those calls.
   */
  const modes: ReadonlyArray<'fail' | 'cancel'> = open ? ['fail'] : ['fail', 'cancel'];
  for (const step of ['stage', 'replace', 'publish'] as const) {
    it(`rolls back exactly when the ${step} step fails after its work is durable`, async () => {
      await rollbackCheck(step, 'fail');
    });

    if (modes.includes('cancel')) {
      it(`rolls back exactly when an operator cancels the file while the ${step} step runs, its work done`, async () => {
        await rollbackCheck(step, 'cancel');
      });
    }

    for (const mode of modes) {
      it(`the ${mode} rollback check at ${step} fails when ${NEEDED[step].join(' and ')} ${NEEDED[step].length > 1 ? 'do' : 'does'} nothing (it is not vacuous)`, async () => {
        await expectCheckNeeds(NEEDED[step], (disabled) => rollbackCheck(step, mode, disabled));
      });
    }
  }
});
}
