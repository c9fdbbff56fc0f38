/**
 * One behavioural contract for every warehouse adapter: the same scenarios must give the same rows,
 * statuses, totals, ledger and history on DuckDB and on BigQuery.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it as vitestIt } from 'vitest';
import { FILE_COLUMNS, type Transaction } from '../../src/domain/contract.js';
import { WarehouseError, type ConsumerViewRow, type ConsumerViews, type StreamBatch, type Warehouse, type WarehouseHooks } from '../../src/warehouse/port.js';

export interface ContractTarget {
  name: string;
  /** A fresh, migrated, empty warehouse for each scenario (options: the adapter's own, same names everywhere). */
  open: (options?: { maxReportDiffs?: number; hooks?: WarehouseHooks }) => Promise<Warehouse & ConsumerViews>;
  /** Where `hooks.beforeReplaceCommit` holds a replacement on this engine (said in the atomic-replace test's name). */
  replaceHoldPoint: string;
  /**
   * Scenarios this target cannot run, by exact name, with the reason (an emulator's missing capability).
   * Each one is reported as skipped with its reason; docs/warehouse.md says how production covers it.
   */
  gaps?: Record<string, string>;
  /**
   * When given, only these scenarios (by exact name) run on this target: for a second configuration of an adapter
   * whose other scenarios run the same code as a target that runs them all (its file says which and why).
   */
  only?: readonly string[];
}

const WIDE_SUMS = "sums days past NUMERIC's 29 integer digits exactly: partition states, daily totals, change totals and the report";

/** What the BigQuery emulator cannot run, for its targets' `gaps`. */
export const EMULATOR_GAPS: Record<string, string> = {
  [WIDE_SUMS]:
    'the emulator holds BIGNUMERIC(47, 9) as a 38-digit decimal, so a sum past 29 integer digits overflows there; `npm run test:bigquery` runs it on BigQuery',
};

const tmp = mkdtempSync(join(tmpdir(), 'warehouse-contract-'));
let counter = 0;

export const tx = (id: string, eventDate: string, amount: string, extra: Partial<Transaction> = {}): Transaction => ({
  transactionId: id,
  accountId: `acct-${id}`,
  eventTs: `${eventDate}T12:00:00.000000Z`,
  eventDate,
  amount,
  currency: 'USD',
  merchantId: null,
  description: null,
  ...extra,
});

export const batchOf = (batchId: string, events: Transaction[], from = 0): StreamBatch => ({
  batchId,
  sourceId: 'test:p0',
  fromCursor: from,
  toCursor: from + events.length,
  events: events.map((e, i) => ({ ...e, offset: from + i })),
  rejects: [],
  unknownFields: 0,
});

const csvCell = (v: string | null): string => (v === null ? '' : /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** Writes a normalised staging CSV, as the validator produces it. */
export const stagingCsv = (rows: Transaction[]): string => {
  const path = join(tmp, `staged-${process.pid}-${++counter}.csv`);
  const lines = [FILE_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push(
      [r.transactionId, r.accountId, r.eventTs, r.eventDate, r.amount, r.currency, r.merchantId, r.description]
        .map(csvCell)
        .join(','),
    );
  }
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
};

const run = { workflowId: 'test-wf', runId: 'test-run' };

/** Stages rows and replaces the covered dates, as the file workflow does. */
export const applyFile = async (
  w: Warehouse,
  opts: { changeId: string; kind: 'reconciliation' | 'amendment'; covers: string[]; sequence: number; rows: Transaction[]; force?: boolean },
) => {
  const stagingId = opts.changeId.replace(/[^a-z0-9_]/g, '_');
  await w.stageFile({ stagingId, csvPath: stagingCsv(opts.rows) });
  const result = await w.replacePartitions({
    changeId: opts.changeId,
    fileId: `file-${opts.changeId}`,
    stagingId,
    kind: opts.kind,
    covers: opts.covers,
    sequence: opts.sequence,
    force: opts.force ?? false,
    ...run,
  });
  await w.dropStaging(stagingId);
  return result;
};

export const describeWarehouseContract = (target: ContractTarget): void => {
  describe(`warehouse contract: ${target.name}`, () => {
    const declared = new Set<string>();
    const it = (name: string, fn: () => Promise<void>): void => {
      declared.add(name);
      if (target.only && !target.only.includes(name)) return;
      const gap = target.gaps?.[name];
      if (gap === undefined) vitestIt(name, fn);
      else vitestIt.skip(`${name} [gap: ${gap}]`, fn);
    };
    // A renamed scenario must not drop out of a target's selection unnoticed (every name is declared by now).
    afterAll(() => {
      const unknown = (target.only ?? []).filter((name) => !declared.has(name));
      if (unknown.length > 0) throw new Error(`no contract scenario named ${unknown.map((n) => JSON.stringify(n)).join(', ')}`);
    });
    let w: Warehouse & ConsumerViews;
    const opened: Warehouse[] = [];
    beforeEach(async () => {
      w = await target.open();
      opened.push(w);
    });
    // Each scenario's warehouses are closed when it ends, as a worker closes its own at shutdown: an open one holds
    // connections (the BigQuery Storage Write sink keeps one per table), and the emulator serves only a few at once.
    afterEach(async () => {
      for (const o of opened.splice(0)) await o.close();
    });

    it('writes a micro-batch as provisional rows exactly once, even when the batch is retried', async () => {
      const events = [tx('a1', '2026-11-20', '10.50'), tx('a2', '2026-11-20', '-3.25'), tx('a3', '2026-11-21', '7')];
      const first = await w.writeStreamBatch(batchOf('b-0', events));
      expect(first).toMatchObject({ inserted: 3, duplicates: 0, conflicts: 0, late: 0, alreadyApplied: false, toCursor: 3 });
      const retried = await w.writeStreamBatch(batchOf('b-0', events));
      expect(retried).toMatchObject({ inserted: 3, alreadyApplied: true, toCursor: 3 });
      const rows = await w.readRows('2026-11-20');
      expect(rows.map((r) => [r.transactionId, r.amount, r.status, r.version])).toEqual([
        ['a1', '10.5', 'provisional', 0],
        ['a2', '-3.25', 'provisional', 0],
      ]);
      const totals = await w.dailyTotals(['2026-11-20', '2026-11-21']);
      expect(totals).toEqual([
        { eventDate: '2026-11-20', status: 'provisional', version: 0, currency: 'USD', rows: 2, total: '7.25' },
        { eventDate: '2026-11-21', status: 'provisional', version: 0, currency: 'USD', rows: 1, total: '7' },
      ]);
    });

    it('counts duplicates within and across batches, and keeps a conflicting duplicate from a later batch aside', async () => {
      const first = await w.writeStreamBatch(batchOf('b-0', [tx('d1', '2026-11-20', '1'), tx('d1', '2026-11-20', '1'), tx('d2', '2026-11-20', '2')]));
      expect(first).toMatchObject({ inserted: 2, duplicates: 1, conflicts: 0 });
      const second = await w.writeStreamBatch(
        batchOf('b-1', [tx('d1', '2026-11-20', '1.00'), tx('d2', '2026-11-20', '2.01'), tx('d3', '2026-11-20', '3')], 3),
      );
      expect(second).toMatchObject({ inserted: 1, duplicates: 1, conflicts: 1 });
      const rows = await w.readRows('2026-11-20');
      expect(rows.map((r) => [r.transactionId, r.amount])).toEqual([
        ['d1', '1'],
        ['d2', '2'],
        ['d3', '3'],
      ]);
      expect(await w.countSideTables()).toMatchObject({ conflicts: 1, batches: 2, lateArrivals: 0 });
    });

    it('keeps the first version of an id re-sent with another event date: one row, the later event a conflict, either way round', async () => {
      await w.writeStreamBatch(batchOf('b-0', [tx('x1', '2026-11-20', '1'), tx('x2', '2026-11-21', '2')]));
      // x1 again a day later, x2 again a day earlier, each in a batch of its own date only.
      const later = await w.writeStreamBatch(batchOf('b-1', [tx('x1', '2026-11-21', '1')], 2));
      const earlier = await w.writeStreamBatch(batchOf('b-2', [tx('x2', '2026-11-20', '2')], 3));
      expect(later).toMatchObject({ inserted: 0, duplicates: 0, conflicts: 1, late: 0 });
      expect(earlier).toMatchObject({ inserted: 0, duplicates: 0, conflicts: 1, late: 0 });
      expect((await w.readRows('2026-11-20')).map((r) => [r.transactionId, r.amount])).toEqual([['x1', '1']]);
      expect((await w.readRows('2026-11-21')).map((r) => [r.transactionId, r.amount])).toEqual([['x2', '2']]);
      expect(await w.countSideTables()).toMatchObject({ conflicts: 2, lateArrivals: 0 });
      // A conflict is kept aside, never accepted: sending it once more is a conflict again, not a row.
      expect(await w.writeStreamBatch(batchOf('b-3', [tx('x1', '2026-11-21', '1')], 4))).toMatchObject({ inserted: 0, conflicts: 1 });
      expect((await w.readRows('2026-11-21')).map((r) => r.transactionId)).toEqual(['x2']);
    });

    it('judges a repeat within one batch against the stored version, not against an earlier conflict', async () => {
      await w.writeStreamBatch(batchOf('b-0', [tx('c1', '2026-11-20', '1')]));
      const result = await w.writeStreamBatch(batchOf('b-1', [tx('c1', '2026-11-20', '2'), tx('c1', '2026-11-20', '2'), tx('c1', '2026-11-20', '1')], 1));
      expect(result).toMatchObject({ inserted: 0, conflicts: 2, duplicates: 1 });
      expect((await w.readRows('2026-11-20')).map((r) => r.amount)).toEqual(['1']);
    });

    it('replaces every row of a reconciled date, leaves other dates alone, archives the provisional version and reports the difference', async () => {
      await w.writeStreamBatch(
        batchOf('b-0', [tx('r1', '2026-11-20', '10'), tx('r2', '2026-11-20', '20'), tx('r3', '2026-11-20', '30'), tx('o1', '2026-11-19', '5')]),
      );
      const result = await applyFile(w, {
        changeId: 'recon_1120',
        kind: 'reconciliation',
        covers: ['2026-11-20'],
        sequence: 1,
        rows: [tx('r1', '2026-11-20', '10'), tx('r2', '2026-11-20', '25'), tx('r4', '2026-11-20', '40', { currency: 'EUR' })],
      });
      expect(result.outcome).toBe('replaced');
      if (result.outcome !== 'replaced') return;
      expect(result.dates).toEqual([
        expect.objectContaining({ eventDate: '2026-11-20', fromVersion: 0, toVersion: 1, fromStatus: 'provisional', rowsBefore: 3, rowsAfter: 3 }),
      ]);
      const rows = await w.readRows('2026-11-20');
      expect(rows.map((r) => [r.transactionId, r.amount, r.status, r.version])).toEqual([
        ['r1', '10', 'reconciled', 1],
        ['r2', '25', 'reconciled', 1],
        ['r4', '40', 'reconciled', 1],
      ]);
      expect((await w.readRows('2026-11-19')).map((r) => r.status)).toEqual(['provisional']);
      expect((await w.readVersion('2026-11-20', 0)).map((r) => r.transactionId)).toEqual(['r1', 'r2', 'r3']);

      const [report] = await w.publishChange('recon_1120');
      expect(report?.comparedWith).toBe('provisional');
      expect(report?.lines).toEqual([
        { currency: 'EUR', provisionalRows: 0, provisionalTotal: '0', finalRows: 1, finalTotal: '40' },
        { currency: 'USD', provisionalRows: 3, provisionalTotal: '60', finalRows: 2, finalTotal: '35' },
      ]);
      expect(report?.diffs).toEqual([
        { transactionId: 'r2', kind: 'amount_changed', before: '20', after: '25' },
        { transactionId: 'r4', kind: 'only_in_file', before: null, after: '40' },
        { transactionId: 'r3', kind: 'only_in_stream', before: '30', after: null },
      ].sort((a, b) => a.kind.localeCompare(b.kind)));
      const [ledger] = await w.getPartitions(['2026-11-20']);
      expect(ledger).toMatchObject({ status: 'reconciled', version: 1, sequence: 1, fileId: 'file-recon_1120', rowCount: 3 });
      expect(await w.getReport('2026-11-20')).toEqual(report);
    });

    it('lists at most the capped number of differing ids per date, first by kind and id, and counts them all', async () => {
      const capped = await target.open({ maxReportDiffs: 2 });
      try {
        await capped.writeStreamBatch(
          batchOf('b-cap', [tx('c1', '2026-11-20', '1'), tx('c2', '2026-11-20', '2'), tx('c3', '2026-11-20', '3'), tx('c9', '2026-11-19', '9')]),
        );
        await applyFile(capped, {
          changeId: 'cap_1',
          kind: 'reconciliation',
          covers: ['2026-11-19', '2026-11-20'],
          sequence: 1,
          rows: [tx('c1', '2026-11-20', '1'), tx('c2', '2026-11-20', '2.5'), tx('c4', '2026-11-20', '4'), tx('c5', '2026-11-20', '5'), tx('c9', '2026-11-19', '9')],
        });
        const reports = await capped.publishChange('cap_1');
        const report = reports.find((r) => r.eventDate === '2026-11-20');
        // c2 changed, c4 and c5 only in the file, c3 only in the stream: four, and the first two by (kind, id) listed.
        expect(report?.diffCount).toBe(4);
        // Counted in the warehouse over every differing id, not over the two listed.
        expect(report?.diffKinds).toEqual({ onlyInStream: 1, onlyInFile: 2, amountChanged: 1 });
        expect(report?.diffs).toEqual([
          { transactionId: 'c2', kind: 'amount_changed', before: '2', after: '2.5' },
          { transactionId: 'c4', kind: 'only_in_file', before: null, after: '4' },
        ]);
        const same = reports.find((r) => r.eventDate === '2026-11-19');
        expect(same).toMatchObject({ diffCount: 0, diffs: [], diffKinds: { onlyInStream: 0, onlyInFile: 0, amountChanged: 0 } });
        expect(await capped.getReport('2026-11-20')).toEqual(report);
      } finally {
        await capped.close();
      }
    });

    it('seals a reconciled date: later stream events for it become late arrivals, never provisional rows', async () => {
      await applyFile(w, { changeId: 'seal_1', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: [tx('s1', '2026-11-20', '1')] });
      await w.publishChange('seal_1');
      const result = await w.writeStreamBatch(batchOf('b-late', [tx('s1', '2026-11-20', '1'), tx('s2', '2026-11-20', '2'), tx('s3', '2026-11-21', '3')]));
      expect(result).toMatchObject({ inserted: 1, late: 2 });
      expect((await w.readRows('2026-11-20')).map((r) => [r.transactionId, r.status])).toEqual([['s1', 'reconciled']]);
      expect(await w.countSideTables()).toMatchObject({ lateArrivals: 2 });
      const again = await w.writeStreamBatch(batchOf('b-late-2', [tx('s2', '2026-11-20', '2')], 3));
      expect(again).toMatchObject({ late: 0, duplicates: 1 });
    });

    it('lands an amendment on the dates it covers: a covered date with no rows ends up empty, others are untouched', async () => {
      await w.writeStreamBatch(batchOf('b-0', [tx('m1', '2026-11-17', '1'), tx('m2', '2026-11-18', '2'), tx('m3', '2026-11-22', '3')]));
      await applyFile(w, { changeId: 'rec_17', kind: 'reconciliation', covers: ['2026-11-17'], sequence: 5, rows: [tx('m1', '2026-11-17', '1')] });
      await w.publishChange('rec_17');
      const result = await applyFile(w, {
        changeId: 'amend_1',
        kind: 'amendment',
        covers: ['2026-11-17', '2026-11-18'],
        sequence: 6,
        rows: [tx('m1', '2026-11-17', '1.5')],
      });
      expect(result.outcome).toBe('replaced');
      const reports = await w.publishChange('amend_1');
      expect((await w.readRows('2026-11-17')).map((r) => [r.transactionId, r.amount, r.status, r.version])).toEqual([['m1', '1.5', 'amended', 2]]);
      expect(await w.readRows('2026-11-18')).toEqual([]);
      expect((await w.readRows('2026-11-22')).map((r) => r.status)).toEqual(['provisional']);
      const ledger = await w.getPartitions(['2026-11-17', '2026-11-18']);
      expect(ledger.map((l) => [l.eventDate, l.status, l.version, l.rowCount])).toEqual([
        ['2026-11-17', 'amended', 2, 1],
        ['2026-11-18', 'amended', 1, 0],
      ]);
      expect(reports.find((r) => r.eventDate === '2026-11-17')?.diffs).toEqual([
        { transactionId: 'm1', kind: 'amount_changed', before: '1', after: '1.5' },
      ]);
      expect(reports.find((r) => r.eventDate === '2026-11-17')?.comparedWith).toBe('reconciled');
    });

    it('refuses an older sequence unless replayed explicitly', async () => {
      await applyFile(w, { changeId: 'new_seq', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 10, rows: [tx('v1', '2026-11-20', '1')] });
      await w.publishChange('new_seq');
      const stale = await applyFile(w, { changeId: 'old_seq', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 9, rows: [tx('v1', '2026-11-20', '9')] });
      expect(stale).toMatchObject({ outcome: 'refused_stale', newerSequences: [{ eventDate: '2026-11-20', sequence: 10 }] });
      expect((await w.readRows('2026-11-20')).map((r) => r.amount)).toEqual(['1']);
      const forced = await applyFile(w, {
        changeId: 'old_seq_replay',
        kind: 'reconciliation',
        covers: ['2026-11-20'],
        sequence: 9,
        rows: [tx('v1', '2026-11-20', '9')],
        force: true,
      });
      expect(forced.outcome).toBe('replaced');
      expect((await w.readRows('2026-11-20')).map((r) => r.amount)).toEqual(['9']);
    });

    it('is idempotent per change id and reverts a change exactly', async () => {
      await w.writeStreamBatch(batchOf('b-0', [tx('x1', '2026-11-20', '1'), tx('x2', '2026-11-21', '2')]));
      const before = await w.checksums();
      const first = await applyFile(w, { changeId: 'rev_1', kind: 'amendment', covers: ['2026-11-20', '2026-11-21'], sequence: 3, rows: [tx('x9', '2026-11-20', '9')] });
      const again = await w.replacePartitions({
        changeId: 'rev_1', fileId: 'file-rev_1', stagingId: 'rev_1', kind: 'amendment', covers: ['2026-11-20', '2026-11-21'],
        sequence: 3, force: false, workflowId: 'test-wf', runId: 'test-run',
      });
      expect(first.outcome).toBe('replaced');
      expect(again.outcome).toBe('already_applied');
      await w.publishChange('rev_1');
      await w.unpublishChange('rev_1');
      expect(await w.revertChange('rev_1')).toEqual({ reverted: true });
      expect(await w.revertChange('rev_1')).toEqual({ reverted: false });
      const after = await w.checksums();
      expect(after).toEqual(before);
      expect((await w.readRows('2026-11-20')).map((r) => [r.transactionId, r.status])).toEqual([['x1', 'provisional']]);
    });

    it('re-admits the late arrivals of a reverted change: its dates end as a run without the file, earlier-sealed dates keep theirs', async () => {
      const day = '2026-11-20';
      const sealedBefore = '2026-11-19';
      const streamed = [
        batchOf('b-0', [tx('p1', day, '1'), tx('q1', sealedBefore, '5')]),
        // While the file holds the dates: a new id (p2), a re-sent p1, a changed p1, and a new id on the earlier-sealed date.
        batchOf('b-1', [tx('p2', day, '2'), tx('p1', day, '1')], 2),
        batchOf('b-2', [tx('p1', day, '1.5'), tx('q2', sealedBefore, '6')], 4),
      ];
      const [first, ...later] = streamed;
      await w.writeStreamBatch(first!);
      await applyFile(w, { changeId: 'sealed_19', kind: 'reconciliation', covers: [sealedBefore], sequence: 1, rows: [tx('q1', sealedBefore, '5')] });
      await w.publishChange('sealed_19');
      await applyFile(w, {
        changeId: 'failing', kind: 'amendment', covers: [sealedBefore, day], sequence: 2,
        rows: [tx('q1', sealedBefore, '5'), tx('f1', day, '9')],
      });
      const during = [];
      for (const b of later) during.push(await w.writeStreamBatch(b));
      expect(during).toEqual([expect.objectContaining({ late: 2 }), expect.objectContaining({ late: 1, conflicts: 1 })]);
      expect(await w.revertChange('failing')).toEqual({ reverted: true });

      // The same stream against a warehouse that never saw the failing file (only the earlier reconciliation).
      const reference = await target.open();
      try {
        await reference.writeStreamBatch(first!);
        await applyFile(reference, { changeId: 'sealed_19', kind: 'reconciliation', covers: [sealedBefore], sequence: 1, rows: [tx('q1', sealedBefore, '5')] });
        await reference.publishChange('sealed_19');
        for (const b of later) await reference.writeStreamBatch(b);
        const shape = (rows: Awaited<ReturnType<Warehouse['readRows']>>) => rows.map((r) => [r.transactionId, r.amount, r.status, r.version]);
        expect(shape(await w.readRows(day))).toEqual([
          ['p1', '1', 'provisional', 0],
          ['p2', '2', 'provisional', 0],
        ]);
        expect(shape(await w.readRows(day))).toEqual(shape(await reference.readRows(day)));
        expect(shape(await w.readRows(sealedBefore))).toEqual(shape(await reference.readRows(sealedBefore)));
        // p1 at 1.5 is a conflict with the kept p1; q2 stays late on the date sealed before the file.
        expect(await w.countSideTables()).toMatchObject({ lateArrivals: 1, conflicts: 1 });
        expect(await reference.countSideTables()).toMatchObject({ lateArrivals: 1, conflicts: 1 });
        expect((await w.getPartitions([day])).map((p) => [p.status, p.version, p.rowCount])).toEqual([['provisional', 0, 2]]);
        // A second revert finds nothing to do and re-admits nothing twice.
        expect(await w.revertChange('failing')).toEqual({ reverted: false });
        expect((await w.readRows(day)).length).toBe(2);
      } finally {
        await reference.close();
      }
    });

    it(`shows finance and operations the old version of a date whole while a replacement is held (${target.replaceHoldPoint}), the new one whole after`, async () => {
      const day = '2026-11-20';
      const seen = new Map<string, { finance: ConsumerViewRow[]; operations: ConsumerViewRow[] }>();
      const read = async (x: ConsumerViews) => ({
        finance: await x.readConsumerView('finance_transactions', day),
        operations: await x.readConsumerView('operations_transactions', day),
      });
      const box: { held?: Warehouse & ConsumerViews } = {};
      const h = await target.open({
        hooks: {
          beforeReplaceCommit: async (changeId) => {
            if (box.held) seen.set(changeId, await read(box.held));
          },
        },
      });
      box.held = h;
      try {
        const row = (id: string, amount: string, status: string, version: number) => ({ transactionId: id, amount, status, version });
        await h.writeStreamBatch(batchOf('b-0', [tx('a1', day, '1'), tx('a2', day, '2'), tx('a3', day, '3')]));
        const streamed = [row('a1', '1', 'provisional', 0), row('a2', '2', 'provisional', 0), row('a3', '3', 'provisional', 0)];
        await applyFile(h, { changeId: 'atomic_rec', kind: 'reconciliation', covers: [day], sequence: 1, rows: [tx('a1', day, '1'), tx('r9', day, '9')] });
        const reconciled = [row('a1', '1', 'reconciled', 1), row('r9', '9', 'reconciled', 1)];
        expect(seen.get('atomic_rec')).toEqual({ finance: [], operations: streamed });
        expect(await read(h)).toEqual({ finance: reconciled, operations: reconciled });
        await h.publishChange('atomic_rec');
        await applyFile(h, { changeId: 'atomic_amd', kind: 'amendment', covers: [day], sequence: 2, rows: [tx('m1', day, '7')] });
        const amended = [row('m1', '7', 'amended', 2)];
        expect(seen.get('atomic_amd')).toEqual({ finance: reconciled, operations: reconciled });
        expect(await read(h)).toEqual({ finance: amended, operations: amended });
      } finally {
        await h.close();
      }
    });

    it('leaves every data table as it was when a replacement fails midway', async () => {
      await w.writeStreamBatch(batchOf('b-0', [tx('f1', '2026-11-20', '1'), tx('f2', '2026-11-21', '2')]));
      await applyFile(w, { changeId: 'f_rec', kind: 'reconciliation', covers: ['2026-11-21'], sequence: 1, rows: [tx('f2', '2026-11-21', '2.5')] });
      await w.publishChange('f_rec');
      const before = await w.checksums();
      // The staging table was never loaded: the write fails after the covered dates were archived and cleared.
      await expect(
        w.replacePartitions({
          changeId: 'f_broken', fileId: 'file-f_broken', stagingId: 'never_staged', kind: 'amendment',
          covers: ['2026-11-20', '2026-11-21'], sequence: 2, force: false, workflowId: 'test-wf', runId: 'test-run',
        }),
      ).rejects.toThrow();
      expect(await w.checksums()).toEqual(before);
      expect((await w.readRows('2026-11-21')).map((r) => [r.transactionId, r.amount, r.status])).toEqual([['f2', '2.5', 'reconciled']]);
      expect(await w.getChanges('2026-11-20')).toEqual([]);
    });

    it('restores an earlier version of a date as a new version', async () => {
      await w.writeStreamBatch(batchOf('b-0', [tx('h1', '2026-11-20', '1')]));
      await applyFile(w, { changeId: 'h_rec', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: [tx('h1', '2026-11-20', '2')] });
      await w.publishChange('h_rec');
      await applyFile(w, { changeId: 'h_amd', kind: 'amendment', covers: ['2026-11-20'], sequence: 2, rows: [tx('h1', '2026-11-20', '3')] });
      await w.publishChange('h_amd');
      const restored = await w.restoreVersion({ changeId: 'h_restore', eventDate: '2026-11-20', version: 1, workflowId: 'ops', runId: 'r' });
      expect(restored).toMatchObject({ fromVersion: 2, toVersion: 3 });
      expect((await w.readRows('2026-11-20')).map((r) => [r.amount, r.status, r.version])).toEqual([['2', 'reconciled', 3]]);
      const changes = await w.getChanges('2026-11-20');
      expect(changes.map((c) => [c.kind, c.fromVersion, c.toVersion, c.fileId])).toEqual([
        ['replace', 0, 1, 'file-h_rec'],
        ['replace', 1, 2, 'file-h_amd'],
        ['restore', 2, 3, null],
      ]);
      expect((await w.getPartitions(['2026-11-20']))[0]).toMatchObject({ status: 'reconciled', version: 3 });
    });

    it('registers a file once and stores its outcome, free-text reason and errors verbatim', async () => {
      const record = {
        fileId: 'acme-recon-2026-11-21', sha256: 'ab'.repeat(32), clientId: 'acme', kind: 'reconciliation' as const,
        covers: ['2026-11-21'], sequence: 7, rowCount: 3, dataPath: "landing/it's here (1).csv", workflowId: 'reconcile/acme/x', runId: 'r1', replay: false,
      };
      const first = await w.registerFile(record);
      const again = await w.registerFile({ ...record, runId: 'r2' });
      expect(first).toMatchObject({ outcome: 'received', runId: 'r1', dataPath: record.dataPath });
      expect(again.runId).toBe('r1');
      const reason = `line 3: "amount" is not a decimal: '1,5'\n\\ DROP TABLE x; --`;
      const errors = [{ source: 'acme-recon-2026-11-21.csv', line: 3, field: 'amount', reason }];
      await w.setFileOutcome({ fileId: record.fileId, sha256: record.sha256, outcome: 'rejected', reason, errors });
      expect(await w.getFile(record.fileId, record.sha256)).toMatchObject({ outcome: 'rejected', reason, errors });
    });

    it('counts late arrivals in the next report of a sealed date, and records each change with file, run, rows, totals and time', async () => {
      const started = Date.now();
      await w.writeStreamBatch(batchOf('b-0', [tx('p1', '2026-11-20', '1.50'), tx('p2', '2026-11-20', '2.25', { currency: 'EUR' })]));
      await applyFile(w, { changeId: 'rec_l', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: [tx('p1', '2026-11-20', '1.50')] });
      await w.publishChange('rec_l');
      const late = await w.writeStreamBatch(batchOf('b-late', [tx('l1', '2026-11-20', '3'), tx('l2', '2026-11-20', '4')], 2));
      expect(late).toMatchObject({ inserted: 0, late: 2 });
      // The late rows are kept aside, never in the sealed date.
      expect((await w.readRows('2026-11-20')).map((r) => r.transactionId)).toEqual(['p1']);
      await applyFile(w, {
        changeId: 'amd_l', kind: 'amendment', covers: ['2026-11-20'], sequence: 2, rows: [tx('p1', '2026-11-20', '1.50'), tx('l1', '2026-11-20', '3')],
      });
      const [report] = await w.publishChange('amd_l');
      expect(report).toMatchObject({ eventDate: '2026-11-20', comparedWith: 'reconciled', lateArrivals: 2, diffCount: 1 });
      expect(report?.diffs).toEqual([{ transactionId: 'l1', kind: 'only_in_file', before: null, after: '3' }]);

      // Invariant 8: which file, which workflow run, rows and control totals before and after, when.
      const changes = await w.getChanges('2026-11-20');
      expect(changes).toEqual([
        expect.objectContaining({
          changeId: 'rec_l', kind: 'replace', fileId: 'file-rec_l', sequence: 1, workflowId: 'test-wf', runId: 'test-run', published: true,
          fromVersion: 0, toVersion: 1, fromStatus: 'provisional', rowsBefore: 2, rowsAfter: 1,
          totalsBefore: [{ currency: 'EUR', rows: 1, total: '2.25' }, { currency: 'USD', rows: 1, total: '1.5' }],
          totalsAfter: [{ currency: 'USD', rows: 1, total: '1.5' }],
        }),
        expect.objectContaining({
          changeId: 'amd_l', kind: 'replace', fileId: 'file-amd_l', sequence: 2, workflowId: 'test-wf', runId: 'test-run', published: true,
          fromVersion: 1, toVersion: 2, fromStatus: 'reconciled', rowsBefore: 1, rowsAfter: 2,
          totalsBefore: [{ currency: 'USD', rows: 1, total: '1.5' }],
          totalsAfter: [{ currency: 'USD', rows: 2, total: '4.5' }],
        }),
      ]);
      for (const c of changes) {
        const at = Date.parse(c.changedAt);
        expect(at, `${c.changeId} changedAt ${c.changedAt}`).toBeGreaterThanOrEqual(started - 1_000);
        expect(at).toBeLessThanOrEqual(Date.now() + 1_000);
      }
    });

    it('refuses to replace a date that another change holds unpublished, with CONFLICT, and replaces it once that change is published', async () => {
      await applyFile(w, { changeId: 'busy_a', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: [tx('a1', '2026-11-20', '1')] });
      const busy = { changeId: 'busy_b', kind: 'amendment' as const, covers: ['2026-11-20', '2026-11-21'], sequence: 2, rows: [tx('b1', '2026-11-20', '2')] };
      const refused = await applyFile(w, busy).then(() => null, (e: unknown) => e);
      expect(refused).toBeInstanceOf(WarehouseError);
      expect(refused).toMatchObject({ code: 'CONFLICT', message: 'dates 2026-11-20 are being changed by busy_a; retry later' });
      // The refusal changed nothing: the busy change still holds the date, the other covered date is untouched.
      expect(await w.getPartitions(['2026-11-20', '2026-11-21'])).toEqual([expect.objectContaining({ eventDate: '2026-11-20', version: 1, fileId: 'file-busy_a' })]);
      await w.publishChange('busy_a');
      expect(await applyFile(w, { ...busy, changeId: 'busy_c' })).toMatchObject({ outcome: 'replaced' });
      expect((await w.getPartitions(['2026-11-20']))[0]).toMatchObject({ version: 2, fileId: 'file-busy_c', status: 'amended' });
    });

    it('lands the same events split into other micro-batches as the same rows and side tables; only the batch count differs', async () => {
      const events = Array.from({ length: 40 }, (_, i) => tx(`split-${i % 30}`, i < 20 ? '2026-11-20' : '2026-11-21', i >= 30 ? '9' : String(i)));
      const other = await target.open();
      opened.push(other);
      for (let from = 0; from < 40; from += 20) await w.writeStreamBatch(batchOf(`s@${from}`, events.slice(from, from + 20), from));
      for (let from = 0; from < 40; from += 4) await other.writeStreamBatch(batchOf(`s@${from}`, events.slice(from, from + 4), from));
      const { batches: a, ...sideA } = await w.countSideTables();
      const { batches: b, ...sideB } = await other.countSideTables();
      expect([a, b]).toEqual([2, 10]);
      expect(sideB).toEqual(sideA);
      expect(sideA.conflicts).toBeGreaterThan(0);
      for (const date of ['2026-11-20', '2026-11-21']) expect(await other.readRows(date)).toEqual(await w.readRows(date));
    });

    it(WIDE_SUMS, async () => {
      const big = '99999999999999999999999999999.999999999';
      const [d1, d2] = ['2026-11-20', '2026-11-21'];
      await w.writeStreamBatch(
        batchOf('b-0', [tx('w1', d1, big), tx('w2', d1, big), tx('w3', d1, '-0.5'), tx('w4', d1, '1.25', { currency: 'EUR' }),
          tx('n1', d2, `-${big}`), tx('n2', d2, `-${big}`), tx('n3', d2, '0.25')]),
      );
      const provisional = '199999999999999999999999999999.499999998';
      const negative = '-199999999999999999999999999999.749999998';
      const totalsOf = async () => (await w.getPartitions([d1, d2])).map((p) => [p.eventDate, p.totals]);
      expect(await totalsOf()).toEqual([
        [d1, [{ currency: 'EUR', rows: 1, total: '1.25' }, { currency: 'USD', rows: 3, total: provisional }]],
        [d2, [{ currency: 'USD', rows: 3, total: negative }]],
      ]);
      const daily = async () => (await w.dailyTotals([d1, d2])).map((t) => [t.eventDate, t.currency, t.rows, t.total]);
      expect(await daily()).toEqual([[d1, 'EUR', 1, '1.25'], [d1, 'USD', 3, provisional], [d2, 'USD', 3, negative]]);

      await applyFile(w, { changeId: 'wide', kind: 'reconciliation', covers: [d1], sequence: 1, rows: [tx('w1', d1, big), tx('w2', d1, big), tx('w5', d1, big)] });
      const final = '299999999999999999999999999999.999999997';
      const [report] = await w.publishChange('wide');
      expect(report?.lines).toEqual([
        { currency: 'EUR', provisionalRows: 1, provisionalTotal: '1.25', finalRows: 0, finalTotal: '0' },
        { currency: 'USD', provisionalRows: 3, provisionalTotal: provisional, finalRows: 3, finalTotal: final },
      ]);
      expect(await w.getReport(d1)).toEqual(report);
      expect(await w.getChanges(d1)).toEqual([
        expect.objectContaining({
          changeId: 'wide',
          totalsBefore: [{ currency: 'EUR', rows: 1, total: '1.25' }, { currency: 'USD', rows: 3, total: provisional }],
          totalsAfter: [{ currency: 'USD', rows: 3, total: final }],
        }),
      ]);
      expect(await totalsOf()).toEqual([[d1, [{ currency: 'USD', rows: 3, total: final }]], [d2, [{ currency: 'USD', rows: 3, total: negative }]]]);
      expect(await daily()).toEqual([[d1, 'USD', 3, final], [d2, 'USD', 3, negative]]);
    });

    it('keeps money exact and stores hostile text verbatim', async () => {
      const big = '12345678901234567890123456789.123456789';
      const hostile = `=HYPERLINK("x");'); DROP TABLE transactions; --`;
      await w.writeStreamBatch(
        batchOf('b-0', [tx('e1', '2026-11-20', big), tx('e2', '2026-11-20', '0.000000001', { description: hostile, merchantId: 'm,"1"' })]),
      );
      const rows = await w.readRows('2026-11-20');
      expect(rows.map((r) => r.amount)).toEqual([big, '0.000000001']);
      expect(rows[1]?.description).toBe(hostile);
      expect(rows[1]?.merchantId).toBe('m,"1"');
      const [total] = await w.dailyTotals(['2026-11-20']);
      expect(total?.total).toBe('12345678901234567890123456789.12345679');
      await applyFile(w, { changeId: 'exact', kind: 'reconciliation', covers: ['2026-11-20'], sequence: 1, rows: [tx('e2', '2026-11-20', '0.1', { description: hostile })] });
      expect((await w.readRows('2026-11-20'))[0]?.description).toBe(hostile);
      // The report's totals keep every digit too (BIGNUMERIC on BigQuery, widened from NUMERIC at migration).
      const [report] = await w.publishChange('exact');
      expect(report?.lines).toEqual([
        { currency: 'USD', provisionalRows: 2, provisionalTotal: '12345678901234567890123456789.12345679', finalRows: 1, finalTotal: '0.1' },
      ]);
    });
  });
};
