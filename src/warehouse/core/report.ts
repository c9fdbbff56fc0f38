/**
 * Assembly of what both engines read back the same way: a date's reconciliation report from its stored parts, the
 * change history rows, and the partition states (stored ledger rows plus dates only the stream has written).
 */
import { canonicalAmount } from '../../domain/decimal.js';
import type { DateChange, PartitionChange, PartitionState, ReconciliationReport, RowStatus } from '../port.js';
import { num, str, toDiffKinds, type Row } from './mappers.js';

export const assembleReport = (
  eventDate: string,
  changeId: string,
  parts: { summary: Row; lines: Row[]; diffs: Row[]; fromStatus: unknown },
): ReconciliationReport => ({
  eventDate,
  changeId,
  comparedWith: (parts.fromStatus as RowStatus | undefined) ?? 'provisional',
  lines: parts.lines.map((l) => ({
    currency: String(l.currency),
    provisionalRows: num(l.provisional_rows),
    provisionalTotal: canonicalAmount(String(l.provisional_total)),
    finalRows: num(l.final_rows),
    finalTotal: canonicalAmount(String(l.final_total)),
  })),
  diffs: parts.diffs.map((d) => ({
    transactionId: String(d.transaction_id),
    kind: d.kind as ReconciliationReport['diffs'][number]['kind'],
    before: d.before_amount === null ? null : canonicalAmount(String(d.before_amount)),
    after: d.after_amount === null ? null : canonicalAmount(String(d.after_amount)),
  })),
  diffCount: num(parts.summary.diff_count),
  diffKinds: toDiffKinds(parts.summary),
  lateArrivals: num(parts.summary.late_arrivals),
});

/** The fields of a `partition_changes` row (with `changed` as ISO text) beyond its date change. */
export const changeFields = (r: Row): Omit<PartitionChange, keyof DateChange> => ({
  changeId: String(r.change_id),
  kind: r.kind as PartitionChange['kind'],
  fileId: str(r.file_id),
  sequence: r.sequence === null || r.sequence === undefined ? null : num(r.sequence),
  workflowId: String(r.workflow_id),
  runId: String(r.run_id),
  published: Boolean(r.published),
  changedAt: String(r.changed),
});

/**
 * Stored ledger states plus the dates only the stream has written (no ledger row yet: provisional at version 0),
 * from rows of (d, currency, n, total), in date order.
 */
export const withStreamOnlyDates = (stored: PartitionState[], streamOnly: Row[]): PartitionState[] => {
  const provisional = new Map<string, PartitionState>();
  for (const r of streamOnly) {
    const d = String(r.d);
    const state = provisional.get(d) ?? {
      eventDate: d, status: 'provisional' as const, version: 0, sequence: null, fileId: null, changeId: null,
      rowCount: 0, totals: [], updatedAt: null,
    };
    state.totals.push({ currency: String(r.currency), rows: num(r.n), total: canonicalAmount(String(r.total)) });
    state.rowCount += num(r.n);
    provisional.set(d, state);
  }
  return [...stored.map(({ eventDate, status, version, sequence, fileId, changeId, rowCount, totals, updatedAt }) => ({
    eventDate, status, version, sequence, fileId, changeId, rowCount, totals, updatedAt,
  })), ...provisional.values()].sort((a, b) => a.eventDate.localeCompare(b.eventDate));
};
