/** The worker's Kafka wiring: one cluster connection, partition sources opened on demand, partition discovery. */
import type { Config } from '../config.js';
import { KafkaCluster } from '../sources/kafka/kafka-client.js';
import { KafkaSources } from '../sources/kafka/kafka-source.js';
import type { PipelineDeps } from './pipeline-worker.js';

export const kafkaSettings = (config: Config) => ({
  brokers: config.KAFKA_BROKERS.split(','),
  groupId: config.KAFKA_GROUP,
  clientId: `transactions-pipeline-${config.CLIENT_ID}`,
});

export const kafkaDeps = (config: Config, log: (message: string) => void = console.warn): Pick<PipelineDeps, 'sourceRegistry' | 'discoverPartitions'> => {
  const cluster = new KafkaCluster(kafkaSettings(config));
  const registry = new KafkaSources(cluster, (error) => log(`kafka: committing the group's offset failed (retried with the next batch): ${String(error)}`));
  return { sourceRegistry: registry, discoverPartitions: (topic) => cluster.partitions(topic) };
};
