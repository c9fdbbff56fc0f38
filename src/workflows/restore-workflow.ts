/**
 * An operator's restore of a date to an earlier version, with the guards of a file: the date must not be in the
 * middle of another change (the warehouse answers "busy" and the step is retried until it is free), the change is
 * recorded in the date's version history with this run's ids, and the report compares the restored rows with
 * the version they replace. A failure after the restore puts the replaced version back.
 */
import {
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createRestoreActivities } from '../activities/restore-activities.js';
import {
  restoreProgressQuery,
  searchAttributes,
  type RestoreStage,
  type RestoreWorkflowInput,
  type RestoreWorkflowResult,
} from '../domain/workflow-api.js';

const steps = proxyActivities<ReturnType<typeof createRestoreActivities>>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '30s',
  // A busy date is a retryable conflict: about 45 minutes of backoff before the restore gives up.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 50, nonRetryableErrorTypes: ['WarehouseInvariant', 'WrongClient', 'InvalidRestore'] },
});

export async function restoreWorkflow(input: RestoreWorkflowInput): Promise<RestoreWorkflowResult> {
  const { workflowId, runId } = workflowInfo();
  const changeId = `restore/${input.eventDate}/v${input.toVersion}/${runId}`;
  let stage: RestoreStage = 'restore';
  let detail = `restoring ${input.eventDate} to version ${input.toVersion}${input.requestedBy ? ` for ${input.requestedBy}` : ''}`;
  setHandler(restoreProgressQuery, () => ({ stage, detail }));
  const enter = (next: RestoreStage): void => {
    stage = next;
    upsertSearchAttributes([{ key: searchAttributes.Stage, value: next }]);
    log.info('restore stage', { eventDate: input.eventDate, toVersion: input.toVersion, stage: next });
  };
  upsertSearchAttributes([
    { key: searchAttributes.ClientId, value: input.clientId },
    { key: searchAttributes.EventDates, value: [input.eventDate] },
  ]);
  enter('restore');

  let restored = false;
  try {
    const change = await steps.restoreDate({ clientId: input.clientId, changeId, eventDate: input.eventDate, version: input.toVersion, workflowId, runId });
    restored = true;
    enter('publish');
    const { diffCount } = await steps.publishRestore({ changeId, eventDate: input.eventDate });
    detail = `${input.eventDate}: version ${change.fromVersion} replaced by version ${change.toVersion} (the rows of version ${input.toVersion}); ${diffCount} transaction(s) differ`;
    enter('restored');
    return {
      changeId,
      eventDate: input.eventDate,
      fromVersion: change.fromVersion,
      toVersion: change.toVersion,
      restoredVersion: input.toVersion,
      rowsBefore: change.rowsBefore,
      rowsAfter: change.rowsAfter,
      diffCount,
    };
  } catch (error) {
    detail = isCancellation(error) ? `cancelled by an operator during ${stage}` : `${stage} failed`;
    if (restored) {
      await CancellationScope.nonCancellable(async () => {
        enter('rolling_back');
        await steps.revertRestore({ changeId });
        enter('rolled_back');
      });
    }
    throw error;
  }
}
