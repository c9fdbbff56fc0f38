/**
 * Workflow code for the cancellation guard: the file saga with its steps cancelled TRY_CANCEL, as before
 * WAIT_CANCELLATION_COMPLETED, so compensations may start while the cancelled step still runs.
 */
import { ActivityCancellationType } from '@temporalio/workflow';
import type { FileWorkflowInput, FileWorkflowResult } from '../../src/domain/workflow-api.js';
import { fileSaga } from '../../src/workflows/file-workflow.js';

export async function fileWorkflow(input: FileWorkflowInput): Promise<FileWorkflowResult> {
  return fileSaga(input, ActivityCancellationType.TRY_CANCEL);
}
