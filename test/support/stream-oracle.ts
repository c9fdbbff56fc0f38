/**
 * The oracle stream tests check a warehouse against: what `expectedCounts` says a stretch of the simulated feed
 * must leave in the rows, the daily totals and the side tables.
 */
import { expect } from 'vitest';
import type { ExpectedCounts } from '../../testkit/feed-expectations.js';
import type { Warehouse } from '../../src/warehouse/port.js';

/** Asserts the warehouse holds exactly what the feed's offsets [0, to) must produce. */
export const expectWarehouseMatches = async (w: Warehouse, expected: ExpectedCounts): Promise<void> => {
  const side = await w.countSideTables();
  expect({ late: side.lateArrivals, conflicts: side.conflicts, rejects: side.rejects }).toEqual({
    late: expected.late,
    conflicts: expected.conflicts,
    rejects: expected.invalid,
  });
  const dates = Object.keys(expected.provisional);
  const totals = await w.dailyTotals(dates);
  const actual: Record<string, { rows: number; totals: Record<string, string> }> = {};
  for (const t of totals) {
    const day = (actual[t.eventDate] ??= { rows: 0, totals: {} });
    day.rows += t.rows;
    day.totals[t.currency] = t.total;
    expect(t.status).toBe('provisional');
  }
  expect(actual).toEqual(expected.provisional);
  let rows = 0;
  for (const date of dates) {
    const stored = await w.readRows(date);
    expect(stored.every((r) => r.status === 'provisional')).toBe(true);
    expect(new Set(stored.map((r) => r.transactionId)).size).toBe(stored.length);
    rows += stored.length;
  }
  expect(rows).toBe(expected.inserted);
};
