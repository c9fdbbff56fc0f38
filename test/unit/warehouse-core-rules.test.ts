/**
 * The engine-neutral rules and mappers in src/warehouse/core/ that the engines call instead of writing them each:
 * next versions, revert and restore checks, a date's change, the staging table name, and the batch, daily-total,
 * totals and side-table mappers.
 */
import { describe, expect, it } from 'vitest';
import { WarehouseError } from '../../src/warehouse/port.js';
import { toBatchResult, toDailyTotal, toSideTableCounts, totalsByDate } from '../../src/warehouse/core/mappers.js';
import { checkRestorable, checkRevertable, dateChangeOf, nextVersions, sumRows } from '../../src/warehouse/core/rules.js';
import { CHANGE_TABLES, REPORT_TABLES, stagingTable } from '../../src/warehouse/core/sql.js';

const error = (work: () => unknown): WarehouseError => {
  try {
    work();
  } catch (e) {
    if (e instanceof WarehouseError) return e;
    throw e;
  }
  throw new Error('expected a WarehouseError');
};

describe('versioning rules', () => {
  it('nextVersions gives each covered date one above its ledger version, 1 for a date never changed', () => {
    expect(nextVersions(['2026-11-20', '2026-11-21', '2026-11-22'], [{ eventDate: '2026-11-22', version: 4 }, { eventDate: '2026-11-20', version: 1 }]))
      .toEqual([2, 1, 5]);
  });

  it('checkRevertable lets a change that is still the last of all its dates through, and names the dates that moved', () => {
    expect(() => checkRevertable('c1', [{ eventDate: '2026-11-20', changeId: 'c1' }])).not.toThrow();
    const e = error(() => checkRevertable('c1', [
      { eventDate: '2026-11-20', changeId: 'c1' }, { eventDate: '2026-11-21', changeId: 'c2' }, { eventDate: '2026-11-22', changeId: null },
    ]));
    expect(e.code).toBe('INVARIANT');
    expect(e.message).toBe('change c1 cannot be reverted exactly: 2026-11-21, 2026-11-22 changed again since');
  });

  it('checkRestorable returns the current version for an earlier one, refuses the current or a later one, and a busy date', () => {
    const current = { version: 3, changeId: 'c3', pendingChange: false };
    expect(checkRestorable({ eventDate: '2026-11-20', version: 1 }, current)).toBe(3);
    const same = error(() => checkRestorable({ eventDate: '2026-11-20', version: 3 }, current));
    expect([same.code, same.message]).toEqual(['INVARIANT', '2026-11-20 is at version 3; only an earlier version can be restored']);
    expect(error(() => checkRestorable({ eventDate: '2026-11-20', version: 0 }, undefined)).code).toBe('INVARIANT');
    const busy = error(() => checkRestorable({ eventDate: '2026-11-20', version: 1 }, { ...current, pendingChange: true }));
    expect([busy.code, busy.message]).toEqual(['CONFLICT', '2026-11-20 is being changed by c3; retry later']);
  });

  it('dateChangeOf records versions, the prior status (provisional for a new date) and rows from the totals', () => {
    const before = [{ currency: 'EUR', rows: 2, total: '3' }, { currency: 'USD', rows: 1, total: '1' }];
    const after = [{ currency: 'EUR', rows: 5, total: '9' }];
    expect(sumRows(before)).toBe(3);
    expect(dateChangeOf('2026-11-20', { eventDate: '2026-11-20', version: 2, status: 'reconciled', changeId: 'c2' }, 3, { before, after })).toEqual({
      eventDate: '2026-11-20', fromVersion: 2, toVersion: 3, fromStatus: 'reconciled', rowsBefore: 3, rowsAfter: 5, totalsBefore: before, totalsAfter: after,
    });
    expect(dateChangeOf('2026-11-21', undefined, 1, { before: [], after })).toMatchObject({ fromVersion: 0, fromStatus: 'provisional', rowsBefore: 0 });
  });
});

describe('shared names', () => {
  it('stagingTable accepts lower-case ids of letters, digits and underscores only', () => {
    expect(stagingTable('acme_recon_1')).toBe('staging_acme_recon_1');
    for (const bad of ['Acme', 'a-b', 'x; DROP TABLE transactions', '', 'a'.repeat(101)]) {
      expect(error(() => stagingTable(bad)).code).toBe('INVARIANT');
    }
  });

  it('CHANGE_TABLES (what a revert deletes a change from) is the change log and every report table; REPORT_TABLES (for an unpublish) the report tables only', () => {
    expect([...REPORT_TABLES]).toEqual(['reconciliation_reports', 'reconciliation_diffs', 'reconciliation_summaries']);
    expect([...CHANGE_TABLES]).toEqual(['partition_changes', ...REPORT_TABLES]);
  });
});

describe('mappers', () => {
  it('toBatchResult, toDailyTotal and toSideTableCounts read their columns, amounts canonical, missing counts 0', () => {
    expect(toBatchResult({ inserted: 3n, duplicates: '1', conflicts: 0, late: 2, rejected: 1, to_cursor: 40 }))
      .toEqual({ inserted: 3, duplicates: 1, conflicts: 0, late: 2, rejected: 1, toCursor: 40 });
    expect(toDailyTotal({ d: '2026-11-20', date_status: 'amended', date_version: 2, currency: 'EUR', row_count: 7, total: '12.500000000' }))
      .toEqual({ eventDate: '2026-11-20', status: 'amended', version: 2, currency: 'EUR', rows: 7, total: '12.5' });
    expect(toSideTableCounts({ late: 1, conflicts: 2, rejects: 3, batches: 4 })).toEqual({ lateArrivals: 1, conflicts: 2, rejects: 3, batches: 4 });
    expect(toSideTableCounts(undefined)).toEqual({ lateArrivals: 0, conflicts: 0, rejects: 0, batches: 0 });
  });

  it('totalsByDate groups (d, currency, n, total) rows by date in their order', () => {
    const map = totalsByDate([
      { d: '2026-11-20', currency: 'EUR', n: 2, total: '3.10' },
      { d: '2026-11-20', currency: 'USD', n: 1, total: '-1.000000000' },
      { d: '2026-11-21', currency: 'EUR', n: 4, total: '0' },
    ]);
    expect([...map.entries()]).toEqual([
      ['2026-11-20', [{ currency: 'EUR', rows: 2, total: '3.1' }, { currency: 'USD', rows: 1, total: '-1' }]],
      ['2026-11-21', [{ currency: 'EUR', rows: 4, total: '0' }]],
    ]);
  });
});
