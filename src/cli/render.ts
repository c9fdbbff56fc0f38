/** Plain-text views for operators: badges, per-date totals, version history, reconciliation reports. */
import type { DailyTotal, PartitionChange, PartitionState, ReconciliationReport, RowStatus } from '../warehouse/port.js';

const color = process.stdout.isTTY && process.env.NO_COLOR === undefined;
const paint = (code: number, text: string): string => (color ? `\x1b[${code}m${text}\x1b[0m` : text);

export const badge = (status: RowStatus): string => {
  const text = `[${status.toUpperCase()}]`;
  return status === 'provisional' ? paint(33, text) : status === 'reconciled' ? paint(32, text) : paint(36, text);
};

/** A table with columns padded to their widest cell. */
export const table = (header: string[], rows: Array<Array<string | number>>): string => {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
};

/** The dashboard query: per date and currency, rows and totals, with the date's badge. */
export const renderTotals = (totals: DailyTotal[]): string => {
  if (totals.length === 0) return '(no rows)';
  return table(
    ['date', 'status', 'version', 'currency', 'rows', 'total'],
    totals.map((t) => [t.eventDate, badge(t.status), t.version, t.currency, t.rows, t.total]),
  );
};

export const renderPartition = (p: PartitionState | undefined, date: string): string =>
  p === undefined
    ? `${date}  ${badge('provisional')}  no rows and no file yet`
    : `${date}  ${badge(p.status)}  version ${p.version}, ${p.rowCount} rows` +
      (p.fileId ? `, from ${p.fileId} (sequence ${p.sequence ?? '?'})` : ', from the stream') +
      (p.updatedAt ? `, updated ${p.updatedAt}` : '');

export const renderHistory = (changes: PartitionChange[]): string =>
  changes.length === 0
    ? '(no file has changed this date yet)'
    : table(
        ['version', 'from', 'kind', 'file', 'rows', 'published', 'when', 'workflow'],
        changes.map((c) => [
          `${c.fromVersion}→${c.toVersion}`,
          c.fromStatus,
          c.kind,
          c.fileId ?? '-',
          `${c.rowsBefore}→${c.rowsAfter}`,
          c.published ? 'yes' : 'no',
          c.changedAt,
          c.workflowId,
        ]),
      );

export const renderReport = (report: ReconciliationReport | null, date: string): string => {
  if (report === null) return `No reconciliation report for ${date}: no file has been applied to it.`;
  const lines = [
    `Reconciliation report for ${report.eventDate} (change ${report.changeId}, compared with the ${report.comparedWith} version)`,
    table(
      ['currency', `${report.comparedWith} rows`, `${report.comparedWith} total`, 'final rows', 'final total'],
      report.lines.map((l) => [l.currency, l.provisionalRows, l.provisionalTotal, l.finalRows, l.finalTotal]),
    ),
    `Differences: ${report.diffCount} (only in stream ${report.diffKinds.onlyInStream}, only in file ${report.diffKinds.onlyInFile}, ` +
      `amount changed ${report.diffKinds.amountChanged}${report.diffs.length < report.diffCount ? `; the first ${report.diffs.length} stored, the rest counted` : ''}); ` +
      `late stream arrivals kept aside: ${report.lateArrivals}`,
  ];
  const shown = report.diffs.slice(0, 20);
  if (shown.length > 0) {
    lines.push(table(['transaction', 'difference', 'before', 'after'], shown.map((d) => [d.transactionId, d.kind, d.before ?? '-', d.after ?? '-'])));
  }
  if (report.diffCount > shown.length) {
    lines.push(`… ${report.diffCount - shown.length} more differences not shown (the report stores the first ${report.diffs.length})`);
  }
  return lines.join('\n');
};
