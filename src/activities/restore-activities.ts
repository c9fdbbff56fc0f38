/**
 * Activities of the restore workflow: bring back an archived version of a date as its next version, write the
 * report against the version it replaced, or undo it. Thin: each calls the warehouse port.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DateChange, Warehouse } from '../warehouse/port.js';
import { warehouseCall } from './warehouse-call.js';

export interface RestoreActivityDeps {
  warehouse: Warehouse;
  /** The client this worker serves; a restore started for another client is refused. */
  clientId?: string;
}

const HEARTBEAT_EVERY_MS = 1_000;

export const createRestoreActivities = ({ warehouse, clientId }: RestoreActivityDeps) => {
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const ctx = Context.current();
    ctx.cancellationSignal.throwIfAborted();
    // Beats keep a dead worker detectable and bring a cancel to the running warehouse call.
    const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
    try {
      return await warehouseCall(name, work);
    } finally {
      clearInterval(beat);
    }
  };

  return {
    /** Idempotent: a retry after the change was recorded returns it instead of restoring a second time. */
    async restoreDate(input: {
      clientId: string;
      changeId: string;
      eventDate: string;
      version: number;
      workflowId: string;
      runId: string;
    }): Promise<DateChange> {
      if (clientId !== undefined && input.clientId !== clientId) {
        throw ApplicationFailure.nonRetryable(`restore started for client "${input.clientId}", but this worker serves "${clientId}"`, 'WrongClient');
      }
      if (!Number.isInteger(input.version) || input.version < 0) {
        throw ApplicationFailure.nonRetryable(`version must be a whole number, got ${input.version}`, 'InvalidRestore');
      }
      return step('restore', async () => {
        const done = (await warehouse.getChanges(input.eventDate)).find((c) => c.changeId === input.changeId);
        if (done) return done;
        return warehouse.restoreVersion({
          changeId: input.changeId,
          eventDate: input.eventDate,
          version: input.version,
          workflowId: input.workflowId,
          runId: input.runId,
        });
      });
    },

    /** Publishes the restore and writes its report against the replaced version; returns how many ids differ. */
    async publishRestore(input: { changeId: string; eventDate: string }): Promise<{ diffCount: number }> {
      return step('publish', async () => {
        const reports = await warehouse.publishChange(input.changeId);
        return { diffCount: reports.find((r) => r.eventDate === input.eventDate)?.diffCount ?? 0 };
      });
    },

    /** Compensation: puts back the version the restore replaced. */
    async revertRestore(input: { changeId: string }): Promise<{ reverted: boolean }> {
      return step('revert', () => warehouse.revertChange(input.changeId));
    },
  };
};
