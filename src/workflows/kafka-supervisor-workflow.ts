/**
 * Keeps one stream workflow per partition of a Kafka topic: looks at the topic's partitions now and then, and
 * starts (or attaches to) `stream/kafka:<topic>:<partition>` for each one it has not seen, so a partition added
 * later gets its stream without a restart. The streams are abandoned children: they outlive this workflow's
 * runs (continue-as-new) and keep their own cursors. A topic that does not exist fails this workflow with
 * an `UnknownTopic` failure naming it.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ParentClosePolicy,
  continueAsNew,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { createSourceActivities } from '../activities/source-activities.js';
import {
  searchAttributes,
  siblingQueue,
  supervisorProgressQuery,
  workflowIds,
  type KafkaSupervisorInput,
  type SupervisorProgress,
} from '../domain/workflow-api.js';
import { partitionStreamInput, partitionsToStart, supervisorDone } from './kafka-supervisor-decisions.js';
import { streamWorkflow } from './stream-workflow.js';

const { discoverPartitions } = proxyActivities<ReturnType<typeof createSourceActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: ['UnknownTopic'] },
});

/** Discoveries per run before continuing as new. */
const DISCOVERIES_PER_RUN = 500;

export async function kafkaSupervisorWorkflow(input: KafkaSupervisorInput): Promise<SupervisorProgress> {
  const running = new Set(input.partitions ?? []);
  let lastDiscoveryAt: string | null = null;
  const progress = (): SupervisorProgress => ({
    topic: input.topic,
    partitions: [...running].sort((a, b) => a - b),
    lastDiscoveryAt,
  });
  setHandler(supervisorProgressQuery, progress);

  for (let round = 0; round < DISCOVERIES_PER_RUN; round++) {
    const partitions = await discoverPartitions({ topic: input.topic });
    lastDiscoveryAt = new Date().toISOString();
    for (const { partition, startCursor } of partitionsToStart(partitions, running)) {
      const streamInput = partitionStreamInput(input, partition, startCursor);
      const sourceId = streamInput.sourceId;
      try {
        await startChild(streamWorkflow, {
          workflowId: workflowIds.stream(sourceId),
          taskQueue: siblingQueue(workflowInfo().taskQueue, 'stream'),
          parentClosePolicy: ParentClosePolicy.ABANDON,
          args: [streamInput],
          staticSummary: `Stream of Kafka topic ${input.topic} partition ${partition} for client ${input.clientId}, from offset ${startCursor}`,
          typedSearchAttributes: [
            { key: searchAttributes.StreamSource, value: sourceId },
            { key: searchAttributes.ClientId, value: input.clientId },
            { key: searchAttributes.Stage, value: 'running' },
          ],
        });
      } catch (error) {
        // The partition's stream already runs (an earlier supervisor started it): attach, keep its cursor.
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
      running.add(partition);
    }
    if (supervisorDone(input, running.size)) return progress();
    if (workflowInfo().continueAsNewSuggested) break;
    await sleep(input.discoverEveryMs ?? 10_000);
  }
  return continueAsNew<typeof kafkaSupervisorWorkflow>({ ...input, partitions: [...running] });
}
