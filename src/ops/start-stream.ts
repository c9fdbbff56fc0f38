import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { searchAttributes, workflowIds, type KafkaSupervisorInput } from '../domain/workflow-api.js';
import type { streamWorkflow, StreamWorkflowInput } from '../workflows/stream-workflow.js';

export interface StartStreamInput {
  taskQueue: string;
  sourceId: string;
  clientId: string;
  maxRows: number;
  maxWaitMs: number;
  /**
   * Where a brand-new stream starts reading; ignored when the stream is already running. Unset: where the
   * warehouse's last recorded batch of this source ended (0 for a source never read).
   */
  cursor?: number;
  stopAt?: number;
  /** Continue-as-new after this many batches (tests lower it; the workflow's default suits production). */
  maxBatchesPerRun?: number;
  /** Start a new stream paused (it reads nothing until a resume signal). */
  paused?: boolean;
  /** 'regular' for BigQuery (remote, rate-limited activity), 'local' (default) for DuckDB. */
  activityKind?: 'local' | 'regular';
}

export interface StartStreamResult {
  handle: WorkflowHandle<typeof streamWorkflow>;
  workflowId: string;
  /** The run the handle points at (the existing one when the stream was already running). */
  runId: string;
  /** False when a running stream was found and attached to, so its cursor was kept. */
  started: boolean;
}

/**
 * Ensures the stream workflow of a source partition runs, under its business id `stream/<sourceId>`.
 * With `USE_EXISTING`, a restart of the local stack (or a second operator) attaches to the running stream
 * instead of failing or starting a second reader: the cursor stays in that workflow's state.
 */
export const startStreamWorkflow = async (client: Client, input: StartStreamInput): Promise<StartStreamResult> => {
  const workflowId = workflowIds.stream(input.sourceId);
  const args: StreamWorkflowInput = {
    sourceId: input.sourceId,
    clientId: input.clientId,
    ...(input.cursor !== undefined ? { cursor: input.cursor } : {}),
    maxRows: input.maxRows,
    maxWaitMs: input.maxWaitMs,
    ...(input.stopAt !== undefined ? { stopAt: input.stopAt } : {}),
    ...(input.maxBatchesPerRun !== undefined ? { maxBatchesPerRun: input.maxBatchesPerRun } : {}),
    ...(input.paused ? { paused: true } : {}),
    ...(input.activityKind ? { activityKind: input.activityKind } : {}),
  };
  const startRequest = randomUUID();
  const handle = await client.workflow.start<typeof streamWorkflow>('streamWorkflow', {
    taskQueue: input.taskQueue,
    workflowId,
    args: [args],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    staticSummary:
      `Stream of ${input.sourceId} for client ${input.clientId}: micro-batches of up to ${input.maxRows} events or ${input.maxWaitMs} ms` +
      (input.stopAt !== undefined ? `, until offset ${input.stopAt}` : ''),
    // Only a run this call created carries this call's marker: that tells "started" from "attached".
    memo: { startRequest },
    typedSearchAttributes: [
      { key: searchAttributes.StreamSource, value: input.sourceId },
      { key: searchAttributes.ClientId, value: input.clientId },
      { key: searchAttributes.Stage, value: 'running' },
    ],
  });
  const runId = handle.firstExecutionRunId;
  const { memo } = await handle.describe();
  return { handle, workflowId, runId, started: memo?.startRequest === startRequest };
};

/**
 * Ensures the supervisor of a Kafka topic runs (`streams/kafka:<topic>`); it starts or attaches to one stream per
 * partition. A second call attaches to the running supervisor.
 */
export const startKafkaSupervisor = async (client: Client, input: KafkaSupervisorInput & { taskQueue: string }): Promise<{ workflowId: string; started: boolean }> => {
  const { taskQueue, ...args } = input;
  const workflowId = workflowIds.kafkaSupervisor(input.topic);
  const startRequest = randomUUID();
  const handle = await client.workflow.start('kafkaSupervisorWorkflow', {
    taskQueue,
    workflowId,
    args: [args],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    staticSummary: `One stream per partition of Kafka topic ${input.topic} for client ${input.clientId}`,
    memo: { startRequest },
    typedSearchAttributes: [
      { key: searchAttributes.StreamSource, value: `kafka:${input.topic}` },
      { key: searchAttributes.ClientId, value: input.clientId },
    ],
  });
  const { memo } = await handle.describe();
  return { workflowId, started: memo?.startRequest === startRequest };
};
