/**
 * The simulated client publishing to Kafka, as `npm start` runs it: creates the topic if the client has not yet,
 * then produces each partition's simulated feed at FEED_RATE in all (split evenly between partitions).
 */
import type { Config } from '../config.js';
import { KafkaCluster } from '../sources/kafka/kafka-client.js';
import { ensureTopic, FeedProducer } from '../sources/kafka/feed-producer.js';
import { kafkaSettings } from '../workers/kafka-sources.js';
import { simulatedSource } from '../workers/main.js';

export interface SimulatedClient {
  partitions: number;
  producer: FeedProducer;
  stop: () => Promise<void>;
}

export const startSimulatedClient = async (config: Config): Promise<SimulatedClient> => {
  const cluster = new KafkaCluster({ ...kafkaSettings(config), clientId: `simulated-client-${config.CLIENT_ID}` });
  const partitions = await ensureTopic(cluster, config.KAFKA_TOPIC, config.KAFKA_PARTITIONS);
  const feeds = await Promise.all(
    Array.from({ length: partitions }, (_, partition) => simulatedSource(config, Date.now(), { partition, rate: config.FEED_RATE / partitions })),
  );
  const producer = new FeedProducer({
    cluster,
    topic: config.KAFKA_TOPIC,
    feedOf: (p) => {
      const feed = feeds[p];
      if (!feed) throw new Error(`no simulated feed for partition ${p}`);
      return feed;
    },
    onError: (error) => console.warn(`simulated client: producing failed, retrying: ${String(error)}`),
  });
  producer.start(feeds.map((_, p) => p));
  return {
    partitions,
    producer,
    stop: async () => {
      await producer.stop();
      await cluster.close();
    },
  };
};
