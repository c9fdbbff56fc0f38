/** Versioning rules every engine applies in the same way. */
import { WarehouseError, type PartitionState, type ReplaceInput, type ReplaceResult } from '../port.js';

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
