/** Versioning rules every engine applies in the same way. */
import {
  WarehouseError,
  type CurrencyTotal,
  type DateChange,
  type PartitionState,
  type ReplaceInput,
  type ReplaceResult,
  type RestoreInput,
} from '../port.js';

/**
 * The versioning rules of a partition replacement, the same in every engine: a date another file is still
 * publishing is busy (retry later); a date holding a newer sequence refuses an older file unless it is replayed.
 */
export const checkVersions = (
  input: Pick<ReplaceInput, 'fileId' | 'sequence' | 'force'>,
  ledger: Array<Pick<PartitionState, 'eventDate' | 'sequence' | 'changeId'> & { pendingChange: boolean }>,
): Extract<ReplaceResult, { outcome: 'refused_stale' }> | null => {
  const pending = ledger.filter((l) => l.changeId !== null && l.pendingChange);
  if (pending.length > 0) {
    throw new WarehouseError(
      `dates ${pending.map((x) => x.eventDate).join(', ')} are being changed by ${pending[0]?.changeId}; retry later`,
      'CONFLICT',
    );
  }
  const newer = ledger.filter((l) => l.sequence !== null && l.sequence > input.sequence);
  if (newer.length === 0 || input.force) return null;
  return {
    outcome: 'refused_stale',
    reason:
      `file ${input.fileId} has sequence ${input.sequence}, older than ` +
      newer.map((n) => `${n.eventDate} at sequence ${n.sequence}`).join(', ') +
      '; replay it explicitly to apply it anyway',
    newerSequences: newer.map((n) => ({ eventDate: n.eventDate, sequence: n.sequence as number })),
  };
};

type LedgerEntry = Pick<PartitionState, 'eventDate' | 'version' | 'status' | 'changeId'>;

/** The version each covered date takes: one above its current version (0 for a date never changed). */
export const nextVersions = (covers: string[], ledger: Array<Pick<PartitionState, 'eventDate' | 'version'>>): number[] =>
  covers.map((d) => (ledger.find((l) => l.eventDate === d)?.version ?? 0) + 1);

/** A change is reverted exactly only while it is still the last change of every date it made. */
export const checkRevertable = (changeId: string, ledger: Array<Pick<PartitionState, 'eventDate' | 'changeId'>>): void => {
  const moved = ledger.filter((l) => l.changeId !== changeId);
  if (moved.length > 0) {
    throw new WarehouseError(
      `change ${changeId} cannot be reverted exactly: ${moved.map((m) => m.eventDate).join(', ')} changed again since`,
      'INVARIANT',
    );
  }
};

/**
 * A restore makes an earlier version current again, as a new version: refused while another change of the date is
 * unpublished (retry later) and for a version that is not earlier than the current one. Returns the current version.
 */
export const checkRestorable = (
  input: Pick<RestoreInput, 'eventDate' | 'version'>,
  current: (Pick<PartitionState, 'version' | 'changeId'> & { pendingChange: boolean }) | undefined,
): number => {
  const currentVersion = current?.version ?? 0;
  if (current?.pendingChange) {
    throw new WarehouseError(`${input.eventDate} is being changed by ${current.changeId}; retry later`, 'CONFLICT');
  }
  if (input.version >= currentVersion) {
    throw new WarehouseError(`${input.eventDate} is at version ${currentVersion}; only an earlier version can be restored`, 'INVARIANT');
  }
  return currentVersion;
};

export const sumRows = (totals: CurrencyTotal[]): number => totals.reduce((n, t) => n + t.rows, 0);

/** What a change did to one date, from its ledger entry before (none: never changed) and its totals around it. */
export const dateChangeOf = (
  eventDate: string,
  prior: LedgerEntry | undefined,
  toVersion: number,
  totals: { before: CurrencyTotal[]; after: CurrencyTotal[] },
): DateChange => ({
  eventDate,
  fromVersion: prior?.version ?? 0,
  toVersion,
  fromStatus: prior?.status ?? 'provisional',
  rowsBefore: sumRows(totals.before),
  rowsAfter: sumRows(totals.after),
  totalsBefore: totals.before,
  totalsAfter: totals.after,
});
