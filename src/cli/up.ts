/**
 * `up`: the whole local system in one process. Starts the Temporal dev server (scripts/temporal.sh, with UI),
 * runs the worker in-process with the read API beside /metrics, ensures the stream, the midnight schedule and
 * the landing watcher, and prints where to look. Ctrl-C stops the worker, then the server if `up` started it.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import { registerReadApi } from '../ops/read-api.js';
import { ensureDailySchedule } from '../ops/schedule.js';
import { startLandingWorkflow } from '../ops/start-landing.js';
import { startKafkaSupervisor, startStreamWorkflow } from '../ops/start-stream.js';
import { startWorker, type RunningWorker } from '../workers/main.js';
import { connectClient, isLocalAddress, uiAddress } from './context.js';
import { startSimulatedClient, type SimulatedClient } from './kafka-feed.js';
import { kafkaScript, temporalScript } from './stack.js';

/** Worker with the operating activities and the read API: what `up` and `worker` run. */
export const startOperatedWorker = async (config: Config, client: Client): Promise<RunningWorker> => {
  const running = await startWorker(config, {
    ops: {
      client,
      taskQueue: config.TASK_QUEUE,
      ...(config.ALERT_WEBHOOK_URL ? { alertWebhookUrl: config.ALERT_WEBHOOK_URL } : {}),
    },
  });
  registerReadApi(running.metrics, running.deps.warehouse);
  return running;
};

/** Stream, schedule and watcher: each call converges (attaches to what runs, updates the schedule). */
export const ensureOperations = async (config: Config, client: Client, running: RunningWorker): Promise<{ streamId: string; streamStarted: boolean }> => {
  const stream =
    config.SOURCE === 'kafka'
      ? await startKafkaSupervisor(client, {
          taskQueue: config.TASK_QUEUE,
          topic: config.KAFKA_TOPIC,
          clientId: config.CLIENT_ID,
          maxRows: config.STREAM_BATCH_MAX_ROWS,
          maxWaitMs: config.STREAM_BATCH_MAX_WAIT_MS,
        })
      : await startStreamWorkflow(client, {
          taskQueue: config.TASK_QUEUE,
          sourceId: [...running.deps.sources.keys()][0] ?? `sim:${config.CLIENT_ID}:p0`,
          clientId: config.CLIENT_ID,
          maxRows: config.STREAM_BATCH_MAX_ROWS,
          maxWaitMs: config.STREAM_BATCH_MAX_WAIT_MS,
        });
  await ensureDailySchedule(client, {
    clientId: config.CLIENT_ID,
    timeZone: config.CLIENT_TIME_ZONE,
    scheduleTime: config.SCHEDULE_TIME,
    deadline: config.RECONCILIATION_DEADLINE,
    taskQueue: config.TASK_QUEUE,
  });
  await startLandingWorkflow(client, { taskQueue: config.TASK_QUEUE, clientId: config.CLIENT_ID, location: running.deps.landing.location });
  return { streamId: stream.workflowId, streamStarted: stream.started };
};

export const runUp = async (config: Config): Promise<void> => {
  let startedServer = false;
  if (isLocalAddress(config.TEMPORAL_ADDRESS)) {
    const result = await temporalScript(config, 'start');
    console.log(result.output);
    if (result.code !== 0) throw new Error('the Temporal dev server did not start (see above)');
    startedServer = !/already running/.test(result.output);
  }
  let startedBroker = false;
  let simulatedClient: SimulatedClient | null = null;
  if (config.SOURCE === 'kafka') {
    if (config.KAFKA_BROKERS.split(',').every(isLocalAddress)) {
      const result = await kafkaScript(config, 'start');
      console.log(result.output);
      if (result.code !== 0) throw new Error('the Kafka broker did not start (see above); SOURCE=sim runs without it');
      startedBroker = !/already running/.test(result.output);
    }
    simulatedClient = await startSimulatedClient(config);
  }
  const { client, close } = await connectClient(config);
  const running = await startOperatedWorker(config, client);
  const { streamId, streamStarted } = await ensureOperations(config, client, running);
  const streamLine =
    config.SOURCE === 'kafka'
      ? `${streamId} (${streamStarted ? 'started' : 'already running, attached'}): one stream per partition of topic ${config.KAFKA_TOPIC} (${simulatedClient?.partitions ?? '?'} partitions) at ${config.KAFKA_BROKERS}, group ${config.KAFKA_GROUP}; the simulated client produces ${config.FEED_RATE} events/s`
      : `${streamId} (${streamStarted ? 'started' : 'already running, attached'}): simulated feed at ${config.FEED_RATE} events/s (in process)`;
  const ui = uiAddress(config);
  const ns = encodeURIComponent(config.TEMPORAL_NAMESPACE);
  console.log(`
The pipeline is up for client ${config.CLIENT_ID} (${config.CLIENT_TIME_ZONE}).

  Temporal UI        ${ui}/namespaces/${ns}/workflows
  stream             ${streamLine}
  midnight schedule  daily/${config.CLIENT_ID}: ${config.SCHEDULE_TIME} ${config.CLIENT_TIME_ZONE}, file late after ${config.RECONCILIATION_DEADLINE} next day
  landing watcher    landing/${config.CLIENT_ID} watching ${running.deps.landing.location}
  warehouse          ${config.WAREHOUSE === 'duckdb' ? config.DUCKDB_PATH : `BigQuery ${config.BIGQUERY_PROJECT}.${config.BIGQUERY_DATASET}`}
  metrics            http://127.0.0.1:${config.METRICS_PORT}/metrics (pipeline), http://127.0.0.1:${config.SDK_METRICS_PORT}/metrics (Temporal SDK)

In another terminal:
  npm run cli -- generate --kind reconciliation      drop a demo reconciliation for yesterday into the landing dir
  npm run cli -- status <date>                       the date's badge, version and history
  npm run cli -- report <date>                       stream vs file for that date
  npm run cli -- stream progress|pause|resume        the stream
  npm run cli -- files --outcome rejected            rejected files
  npm run cli -- late                                dates whose reconciliation file is late
  npm run cli -- --help                              everything else

Ctrl-C stops the worker${startedServer ? ' and the Temporal server' : ''}${startedBroker ? ' and the Kafka broker' : ''}.`);

  // One stop, whoever asks first (a signal, or the worker ending); every caller waits for all of it.
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      console.log('\nstopping the worker…');
      // The Temporal runtime may already be draining the worker on the same signal: then wait for it to finish.
      await running.shutdown().catch(() => running.done);
      await simulatedClient?.stop();
      await close();
      if (startedServer) console.log((await temporalScript(config, 'stop')).output);
      if (startedBroker) console.log((await kafkaScript(config, 'stop')).output);
    })());
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await running.done;
  await stop();
};
