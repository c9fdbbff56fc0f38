/**
 * One reconciliation or amendment file: validate → stage → partition-replace → status-flip, as a saga.
 * Each step registers its compensation before it runs (compensations are idempotent), and a failure or an
 * operator's cancel runs them in reverse, leaving the warehouse as it was before the file.
 */
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createFileActivities } from '../activities/file-activities.js';
import { fileProgressQuery, searchAttributes, type FileStage, type FileWorkflowInput, type FileWorkflowResult } from '../domain/workflow-api.js';

export type { FileWorkflowInput, FileWorkflowResult };



type FileActivities = ReturnType<typeof createFileActivities>;

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 12 };
const nonRetryableErrorTypes = ['InvalidFile', 'WarehouseInvariant', 'StaleSequence'];

const steps = proxyActivities<FileActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '30s',
  retry: { ...retry, nonRetryableErrorTypes },
});

/** The innermost message: an activity's failure arrives wrapped as "Activity task failed". */
const rootMessage = (error: unknown): string => {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
};

export async function fileWorkflow(input: FileWorkflowInput): Promise<FileWorkflowResult> {
  const { workflowId, runId } = workflowInfo();
  const changeId = `${input.fileId}/${runId}`;
  const stagingId = `f_${runId.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
  let stage: FileStage = 'register';
  let detail = '';
  setHandler(fileProgressQuery, () => ({ stage, detail, fileId: input.fileId, covers: input.covers }));
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
  if (registered.alreadyApplied && !input.replay) {
    enter('duplicate');
    detail = `already applied by ${registered.workflowId}`;
    return { outcome: 'duplicate', changeId: registered.changeId, dates: [] };
  }

  const compensations: Array<() => Promise<unknown>> = [];
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
      await steps.rejectFile({ ...ref, reportPath: validation.reportPath, workflowId, runId });
      enter('rejected');
      throw ApplicationFailure.nonRetryable(`file ${input.fileId} rejected: ${validation.summary}`, 'InvalidFile', {
        issueCount: validation.issueCount,
        reportPath: validation.reportPath,
      });
    }

    enter('stage');
    const normalizedPath = validation.normalizedCsvPath;
    compensations.unshift(() => steps.dropStaging({ stagingId, normalizedPath }));
    const staged = await steps.stageFile({ stagingId, csvPath: validation.normalizedCsvPath });
    detail = `${staged.rows} rows staged`;

    enter('replace');
    compensations.unshift(() => steps.revertChange({ changeId }));
    const replaced = await steps.replacePartitions({
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
    compensations.unshift(() => steps.unpublishChange({ changeId }));
    const published = await steps.publishChange({ ...ref, changeId });

    await steps.dropStaging({ stagingId, normalizedPath });
    enter('applied');
    detail = `${replaced.dates.length} date(s) replaced`;
    return {
      outcome: 'applied',
      changeId,
      dates: replaced.dates.map((d) => ({
        eventDate: d.eventDate,
        fromVersion: d.fromVersion,
        toVersion: d.toVersion,
        rowsBefore: d.rowsBefore,
        rowsAfter: d.rowsAfter,
        diffCount: published.find((p) => p.eventDate === d.eventDate)?.diffCount ?? 0,
      })),
    };
  } catch (error) {
    const reason = isCancellation(error) ? `cancelled by an operator during ${stage}` : `${stage} failed: ${rootMessage(error)}`;
    // A rejected or refused file has its outcome recorded already; anything else is recorded here.
    const decided = (['rejected', 'refused'] as FileStage[]).includes(stage);
    await CancellationScope.nonCancellable(async () => {
      if (compensations.length > 0 && !decided) enter('rolling_back');
      for (const compensate of compensations) await compensate();
      if (!decided) await steps.recordOutcome({ ...ref, outcome: compensations.length > 0 ? 'rolled_back' : 'failed', reason });
    });
    if (compensations.length > 0 && !decided) enter('rolled_back');
    detail = reason;
    throw error;
  }
}
