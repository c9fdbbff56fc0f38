/**
 * The Kafka supervisor's decisions, apart from the calls that carry them out: which partitions get a stream, what
 * each stream is started with, and when a bounded supervisor (tests) is done. Pure and deterministic:
 * `kafka-supervisor-workflow.ts` runs them in the sandbox, unit tests run them directly.
 */
import type { KafkaSupervisorInput } from '../domain/workflow-api.js';
import type { StreamWorkflowInput } from './stream-workflow.js';

/** The stream source of one partition of a topic: `kafka:<topic>:<partition>`. */
export const partitionSourceId = (topic: string, partition: number): string => `kafka:${topic}:${partition}`;

/** The partitions discovered that have no stream yet, each once, in the order discovered. */
export const partitionsToStart = <P extends { partition: number }>(discovered: P[], running: ReadonlySet<number>): P[] => {
  const taken = new Set(running);
  const toStart: P[] = [];
  for (const p of discovered) {
    if (taken.has(p.partition)) continue;
    taken.add(p.partition);
    toStart.push(p);
  }
  return toStart;
};

/** A partition's stream input: from the offset discovery gave it, with the supervisor's batch settings and test limits. */
export const partitionStreamInput = (input: KafkaSupervisorInput, partition: number, startCursor: number): StreamWorkflowInput => ({
  sourceId: partitionSourceId(input.topic, partition),
  clientId: input.clientId,
  cursor: startCursor,
  maxRows: input.maxRows,
  maxWaitMs: input.maxWaitMs,
  ...(input.streamStopAt !== undefined ? { stopAt: input.streamStopAt } : {}),
  ...(input.streamMaxBatchesPerRun !== undefined ? { maxBatchesPerRun: input.streamMaxBatchesPerRun } : {}),
  ...(input.streamActivityKind !== undefined ? { activityKind: input.streamActivityKind } : {}),
});

/** A supervisor bounded by `stopAfterPartitions` ends once that many partitions have streams; unset runs forever. */
export const supervisorDone = (input: Pick<KafkaSupervisorInput, 'stopAfterPartitions'>, streams: number): boolean =>
  input.stopAfterPartitions !== undefined && streams >= input.stopAfterPartitions;
