import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { searchAttributes, workflowIds } from '../domain/workflow-api.js';
import type { landingWorkflow, LandingWorkflowInput } from '../workflows/landing-workflow.js';

/**
 * Ensures the landing watcher of a client runs (`landing/<client>`); a second call attaches to the running
 * watcher, so `up` can be run again without a second watcher starting the same files.
 */
export const startLandingWorkflow = async (
  client: Client,
  input: { taskQueue: string; clientId: string; location: string; pollIntervalMs?: number },
): Promise<WorkflowHandle<typeof landingWorkflow>> => {
  const args: LandingWorkflowInput = {
    clientId: input.clientId,
    location: input.location,
    ...(input.pollIntervalMs !== undefined ? { pollIntervalMs: input.pollIntervalMs } : {}),
  };
  return client.workflow.start<typeof landingWorkflow>('landingWorkflow', {
    taskQueue: input.taskQueue,
    workflowId: workflowIds.landing(input.clientId),
    args: [args],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    staticSummary: `Landing watcher for ${input.clientId}: ${input.location}`,
    staticDetails:
      'Starts every new file as a file workflow under its business key (duplicates are refused and moved to quarantine). ' +
      'Signal `replayFile` with `{ "fileId": "…" }` to rerun a kept file.',
    typedSearchAttributes: [
      { key: searchAttributes.ClientId, value: input.clientId },
      { key: searchAttributes.Stage, value: 'watching' },
    ],
  });
};
