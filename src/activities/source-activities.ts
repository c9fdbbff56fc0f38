/**
 * Activities about the sources themselves (not their records): which partitions a topic has, for the supervisor
 * that keeps one stream workflow per partition.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { PartitionStart } from '../sources/kafka/kafka-client.js';
import { SourceError } from '../sources/source.js';

export interface SourceActivityDeps {
  /** The partitions of a topic with where a new stream of each starts; raises SourceError UNKNOWN_TOPIC. */
  discoverPartitions: (topic: string) => Promise<PartitionStart[]>;
}

export const createSourceActivities = (deps: SourceActivityDeps) => ({
  async discoverPartitions(input: { topic: string }): Promise<PartitionStart[]> {
    try {
      return await deps.discoverPartitions(input.topic);
    } catch (error) {
      // A missing topic is a configuration error: retrying cannot create it, so the supervisor fails and says so.
      if (error instanceof SourceError && error.code === 'UNKNOWN_TOPIC') throw ApplicationFailure.nonRetryable(error.message, 'UnknownTopic');
      throw error;
    }
  },
});
