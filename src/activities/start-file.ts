import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { workflowIds, type FileWorkflowFn, type FileWorkflowInput } from '../domain/workflow-api.js';

export type StartFileResult =
  | { started: true; handle: WorkflowHandle<FileWorkflowFn>; workflowId: string }
  | { started: false; workflowId: string; reason: string };

/**
 * Starts the file workflow under its business key. A second delivery of a file that was applied (or is
 * running) is refused by Temporal itself; a delivery whose earlier run failed may run again.
 */
export const startFileWorkflow = async (
  client: Client,
  taskQueue: string,
  input: FileWorkflowInput,
  requestId?: string,
): Promise<StartFileResult> => {
  const workflowId = input.replay
    ? workflowIds.replay(input.clientId, input.fileId, input.sha256, requestId ?? 'manual')
    : workflowIds.file(input.clientId, input.kind, input.covers, input.fileId, input.sha256);
  try {
    const handle = await client.workflow.start<FileWorkflowFn>('fileWorkflow', {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      staticSummary: `${input.replay ? 'Replay of ' : ''}${input.kind} file ${input.fileId} covering ${input.covers.join(', ') || '(unreadable manifest)'}, sequence ${input.sequence}`,
    });
    return { started: true, handle, workflowId };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      return { started: false, workflowId, reason: `${workflowId} already ran or is running: duplicate delivery` };
    }
    throw error;
  }
};
