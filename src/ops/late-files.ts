/**
 * Which dates are late, from Temporal visibility: the running daily runs with `LateFile = true`. The durable answer
 * every worker and the CLI share (a worker's memory holds only the alerts it raised itself).
 */
import type { Client } from '@temporalio/client';

/** The visibility query of a client's late dates (`npm run cli -- late`, the UI's search box, the gauge). */
export const lateFilesQuery = (clientId: string): string =>
  `WorkflowType = 'dailyWorkflow' AND ClientId = '${clientId}' AND LateFile = true AND ExecutionStatus = 'Running'`;

/** How many dates of the client are late right now (a visibility count; seconds behind at most). */
export const countLateFiles = async (client: Client, clientId: string, timeoutMs = 5_000): Promise<number> => {
  const counted = await Promise.race([
    client.workflow.count(lateFilesQuery(clientId)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`visibility count took over ${timeoutMs} ms`)), timeoutMs).unref()),
  ]);
  return counted.count;
};
