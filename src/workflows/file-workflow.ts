/**
 * One reconciliation or amendment file: validate → stage → partition-replace → status-flip, as a saga.
 * Each step registers its compensation before it runs (compensations are idempotent), and a failure or an
 * operator's cancel runs them in reverse, leaving the warehouse as it was before the file.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createFileActivities } from '../activities/file-activities.js';
import {
  fileProgressQuery,
  retryRollbackSignal,
  searchAttributes,
  siblingQueue,
  stagingIdOf,
  type FileStage,
  type FileWorkflowInput,
  type FileWorkflowResult,
} from '../domain/workflow-api.js';
import {
  appliedDates,
  changeIdFor,
  compensate,
  compensationsToRetry,
  failedStepNames,
  failureReason,
  outcomeAfterFailure,
  outcomeDecided,
  registerCompensation,
  rollbackIncomplete,
  showsRollback,
  skipsAsDuplicate,
  type Compensation,
} from './file-decisions.js';
import { rootMessage } from './failures.js';

export type { FileWorkflowInput, FileWorkflowResult };

type FileActivities = ReturnType<typeof createFileActivities>;

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 12 };
const nonRetryableErrorTypes = ['InvalidFile', 'WarehouseInvariant', 'StaleSequence'];

/**
 * Versioned change (patched): a cancelled step is waited for (WAIT_CANCELLATION_COMPLETED) before the
 * compensations start, so a rollback never races the step it undoes. Runs recorded before it replay TRY_CANCEL.
 */
export const WAIT_FOR_CANCELLED_STEP_PATCH = 'saga-waits-for-cancelled-step';

/** Each step its own budget: validation and the warehouse steps scale with the file, the bookkeeping does not. */
const STEP_TIMEOUTS = {
  bookkeeping: '2m',
  validate: '30m',
  warehouse: '20m',
} as const;

const proxies = (cancellationType: ActivityCancellationType) => {
  // The files queue: its slots bound how many files validate at once, apart from the stream's.
  const taskQueue = siblingQueue(workflowInfo().taskQueue, 'files');
  const options = (startToCloseTimeout: string): ActivityOptions => ({
    taskQueue,
    startToCloseTimeout,
    heartbeatTimeout: '30s',
    cancellationType,
    retry: { ...retry, nonRetryableErrorTypes },
  });
  const bookkeeping = proxyActivities<FileActivities>(options(STEP_TIMEOUTS.bookkeeping));
  const validation = proxyActivities<FileActivities>(options(STEP_TIMEOUTS.validate));
  const warehouse = proxyActivities<FileActivities>(options(STEP_TIMEOUTS.warehouse));
  return {
    registerFile: bookkeeping.registerFile,
    rejectFile: bookkeeping.rejectFile,
    recordOutcome: bookkeeping.recordOutcome,
    dropStaging: bookkeeping.dropStaging,
    raiseFileAlert: bookkeeping.raiseFileAlert,
    validateFile: validation.validateFile,
    stageFile: warehouse.stageFile,
    replacePartitions: warehouse.replacePartitions,
    revertChange: warehouse.revertChange,
    publishChange: warehouse.publishChange,
    unpublishChange: warehouse.unpublishChange,
  };
};

const logCompensationFailure = ({ step, reason }: { step: string; reason: string }): void => {
  log.error('compensation failed', { step, error: reason });
};

export async function fileWorkflow(input: FileWorkflowInput): Promise<FileWorkflowResult> {
  return fileSaga(
    input,
    patched(WAIT_FOR_CANCELLED_STEP_PATCH) ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED : ActivityCancellationType.TRY_CANCEL,
  );
}

/** The saga with its steps' cancellation type: how a cancelled step's end relates to the compensations' start. */
export async function fileSaga(input: FileWorkflowInput, cancellationType: ActivityCancellationType): Promise<FileWorkflowResult> {
  const { workflowId, runId } = workflowInfo();
  const steps = proxies(cancellationType);
  const changeId = changeIdFor(input.fileId, runId);
  const stagingId = stagingIdOf(runId);
  let stage: FileStage = 'register';
  let detail = '';
  let rollbackRetries = 0;
  setHandler(fileProgressQuery, () => ({ stage, detail, fileId: input.fileId, covers: input.covers }));
  setHandler(retryRollbackSignal, () => {
    rollbackRetries += 1;
  });
  const enter = (next: FileStage): void => {
    stage = next;
    upsertSearchAttributes([{ key: searchAttributes.Stage, value: next }]);
    log.info('file stage', { fileId: input.fileId, stage: next });
  };

  upsertSearchAttributes([
    { key: searchAttributes.ClientId, value: input.clientId },
    { key: searchAttributes.FileId, value: input.fileId },
    { key: searchAttributes.FileKind, value: input.kind },
    { key: searchAttributes.EventDates, value: input.covers },
    { key: searchAttributes.Sequence, value: input.sequence },
  ]);
  const ref = { fileId: input.fileId, sha256: input.sha256 };
  const registered = await steps.registerFile({ ...input, workflowId, runId });
  if (skipsAsDuplicate(registered, input.replay)) {
    enter('duplicate');
    detail = `already applied by ${registered.workflowId}`;
    return { outcome: 'duplicate', changeId: registered.changeId, dates: [] };
  }

  let compensations: Compensation[] = [];
  let normalizedPath: string | undefined;
  let replaced;
  let published;
  try {
    enter('validate');
    const validation = await steps.validateFile({
      ...ref,
      from: input.from,
      clientId: input.clientId,
      ...(input.today ? { today: input.today } : {}),
    });
    if (!validation.ok) {
      detail = validation.summary;
      await steps.rejectFile({ ...ref, reportPath: validation.reportPath, report: validation.report, workflowId, runId });
      enter('rejected');
      throw ApplicationFailure.nonRetryable(`file ${input.fileId} rejected: ${validation.summary}`, 'InvalidFile', {
        issueCount: validation.issueCount,
        reportPath: validation.reportPath,
      });
    }

    enter('stage');
    normalizedPath = validation.normalizedCsvPath;
    const staging = { stagingId, normalizedPath };
    registerCompensation(compensations, { step: 'dropStaging', run: () => steps.dropStaging(staging) });
    const staged = await steps.stageFile({ stagingId, csvPath: validation.normalizedCsvPath });
    detail = `${staged.rows} rows staged`;

    enter('replace');
    registerCompensation(compensations, { step: 'revertChange', run: () => steps.revertChange({ changeId }) });
    replaced = await steps.replacePartitions({
      changeId,
      fileId: input.fileId,
      stagingId,
      kind: validation.kind,
      covers: validation.covers,
      sequence: validation.sequence,
      workflowId,
      runId,
      force: input.replay,
    });
    if (replaced.outcome === 'refused_stale') {
      detail = replaced.reason;
      await steps.recordOutcome({ ...ref, outcome: 'refused_stale', reason: replaced.reason });
      enter('refused');
      throw ApplicationFailure.nonRetryable(replaced.reason, 'StaleSequence', replaced.newerSequences);
    }

    enter('publish');
    registerCompensation(compensations, { step: 'unpublishChange', run: () => steps.unpublishChange({ changeId }) });
    published = await steps.publishChange({ ...ref, changeId });
    // Applied: from here on nothing rolls the file back.
    compensations = [];
  } catch (error) {
    const reason = failureReason(stage, isCancellation(error), error);
    // A rejected or refused file has its outcome recorded already; anything else is recorded here.
    const decided = outcomeDecided(stage);
    await CancellationScope.nonCancellable(async () => {
      if (showsRollback(compensations, decided)) enter('rolling_back');
      let failed = await compensate(compensations, logCompensationFailure);
      while (failed.length > 0) {
        // A compensation failed: the file is neither applied nor rolled back. Say which step, alert, and wait
        // for an operator to retry (`cli rollback retry <workflowId>`), then run the failed ones again.
        const names = failedStepNames(failed);
        detail = rollbackIncomplete(failed, reason);
        enter('needs_operator');
        await steps.recordOutcome({ ...ref, outcome: 'needs_operator', reason: detail });
        await steps.raiseFileAlert({ ...ref, workflowId, failedSteps: names, message: detail });
        const seen = rollbackRetries;
        await condition(() => rollbackRetries > seen);
        enter('rolling_back');
        failed = await compensate(compensationsToRetry(compensations, failed), logCompensationFailure);
      }
      if (!decided) await steps.recordOutcome({ ...ref, outcome: outcomeAfterFailure(compensations), reason });
    });
    if (showsRollback(compensations, decided)) enter('rolled_back');
    detail = reason;
    throw error;
  }

  // Clean-up after the file is applied: a failure is retried by the policy, then logged, never compensated.
  try {
    await steps.dropStaging({ stagingId, normalizedPath });
  } catch (error) {
    log.warn('staging clean-up failed after the file was applied; left for the operator', { stagingId, error: rootMessage(error) });
  }
  enter('applied');
  detail = `${replaced.dates.length} date(s) replaced`;
  return {
    outcome: 'applied',
    changeId,
    dates: appliedDates(replaced.dates, published),
  };
}
