/**
 * The simulated client of `npm run bench:stream -- --source kafka`, in a process of its own, as a client's producer
 * is in production: it produces the simulated feed into partition 0 of a topic, at the feed's rate from the moment
 * the parent says `begin` (a backlog: everything, at once). The parent (scripts/bench-stream.ts) forks it.
 *
 *   message in:  { begin: true }                      → start producing (the feed's clock starts now)
 *   message out: { ready: true } once connected; { produced: n } when a backlog is all in; { error: text }
 */
import { SimulatedFeed, type SimulatedFeedConfig } from '../../src/sources/simulated-feed.js';
import { FeedProducer } from '../../src/sources/kafka/feed-producer.js';
import { KafkaCluster } from '../../src/sources/kafka/kafka-client.js';

interface Setup {
  broker: string;
  topic: string;
  config: SimulatedFeedConfig;
}

const setup = JSON.parse(process.argv[2] ?? '{}') as Setup;
const send = (message: object): void => void process.send?.(message);
const cluster = new KafkaCluster({ brokers: [setup.broker], groupId: 'bench-simulated-client', clientId: 'bench-simulated-client' });
let feed: SimulatedFeed | null = null;
const producer = new FeedProducer({
  cluster,
  topic: setup.topic,
  feedOf: () => {
    if (feed === null) throw new Error('the feed begins with the parent\'s begin message');
    return feed;
  },
  maxBatch: 2_000,
  onError: (error) => send({ error: String(error) }),
});

const stop = async (): Promise<void> => {
  await producer.stop().catch(() => undefined);
  await cluster.close().catch(() => undefined);
  process.exit(0);
};
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());

process.on('message', (message: { begin?: boolean }) => {
  if (message.begin !== true || feed !== null) return;
  feed = new SimulatedFeed({ ...setup.config, startMs: Date.now() });
  producer.start([0]);
  const total = setup.config.totalEvents ?? 0;
  if (setup.config.rate === 'unbounded') {
    const poll = setInterval(() => {
      if (producer.stats.produced >= total) {
        clearInterval(poll);
        send({ produced: producer.stats.produced });
      }
    }, 50);
  }
});
send({ ready: true });
