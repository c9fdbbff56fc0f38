/**
 * `up`: the whole local system in one process. Starts the Temporal dev server (scripts/temporal.sh, with UI),
 * runs the worker in-process with the read API beside /metrics, ensures the stream, the midnight schedule and
 * the landing watcher, and prints where to look. Ctrl-C stops the worker, then the server if `up` started it.
 */
import type { Client } from '@temporalio/client';
import { localUrl, type Config } from '../config.js';
import { ensureDailySchedule } from '../ops/schedule.js';
import { startLandingWorkflow } from '../ops/start-landing.js';
import { startKafkaSupervisor, startStreamWorkflow } from '../ops/start-stream.js';
import { startOperatedWorker, startQueue, type RunningWorker } from '../workers/main.js';
import { connectClient, isLocalAddress, uiAddress } from './context.js';
import { startSimulatedClient, type SimulatedClient } from './kafka-feed.js';
import { startConfiguredCodecServer } from './ops-commands.js';
import { kafkaScript, temporalScript } from './stack.js';

/** Stream, schedule and watcher: each call converges (attaches to what runs, updates the schedule). */
export const ensureOperations = async (config: Config, client: Client, running: RunningWorker): Promise<{ streamId: string; streamStarted: boolean }> => {
  const stream =
    config.SOURCE === 'kafka'
      ? await startKafkaSupervisor(client, {
          taskQueue: startQueue(config, 'stream'),
          topic: config.KAFKA_TOPIC,
          clientId: config.CLIENT_ID,
          maxRows: config.STREAM_BATCH_MAX_ROWS,
          maxWaitMs: config.STREAM_BATCH_MAX_WAIT_MS,
          streamActivityKind: config.WAREHOUSE === 'bigquery' ? 'regular' : 'local',
        })
      : await startStreamWorkflow(client, {
          taskQueue: startQueue(config, 'stream'),
          sourceId: [...running.deps.sources.keys()][0] ?? `sim:${config.CLIENT_ID}:p0`,
          clientId: config.CLIENT_ID,
          maxRows: config.STREAM_BATCH_MAX_ROWS,
          maxWaitMs: config.STREAM_BATCH_MAX_WAIT_MS,
          activityKind: config.WAREHOUSE === 'bigquery' ? 'regular' : 'local',
        });
  await ensureDailySchedule(client, {
    clientId: config.CLIENT_ID,
    timeZone: config.CLIENT_TIME_ZONE,
    scheduleTime: config.SCHEDULE_TIME,
    deadline: config.RECONCILIATION_DEADLINE,
    taskQueue: startQueue(config, 'ops'),
  });
  await startLandingWorkflow(client, { taskQueue: startQueue(config, 'ops'), clientId: config.CLIENT_ID, location: running.deps.landing.location });
  return { streamId: stream.workflowId, streamStarted: stream.started };
};

/** How long Ctrl-C waits for the worker to finish its workflow task (a run of full batches) before leaving. */
const DRAIN_MS = 5_000;

export const runUp = async (config: Config): Promise<void> => {
  let startedServer = false;
  // With encrypted payloads, a codec server lets the UI show them; the dev server's UI is pointed at it.
  const codecServer = config.PAYLOAD_KEY || config.PAYLOAD_KEYS ? await startConfiguredCodecServer(config) : undefined;
  if (isLocalAddress(config.TEMPORAL_ADDRESS)) {
    // The server stops with this process even if it dies without stopping it (a second Ctrl-C, a kill).
    const result = await temporalScript(config, 'start', {
      TEMPORAL_WATCH_PID: String(process.pid),
      ...(codecServer ? { TEMPORAL_UI_CODEC_ENDPOINT: codecServer.url } : {}),
    });
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
  metrics            ${localUrl(config.METRICS_ADDRESS, config.METRICS_PORT)}/metrics (pipeline), ${localUrl(config.METRICS_ADDRESS, config.SDK_METRICS_PORT ?? 0)}/metrics (Temporal SDK)
  codec server       ${codecServer ? `${codecServer.url} (the UI decodes payloads through it${startedServer ? '' : '; a dev server started earlier without it shows ciphertext until restarted'}${config.CODEC_SERVER_TOKEN ? '; CODEC_SERVER_TOKEN is set, which the local UI cannot send: unset it for the local UI' : ''})` : 'off (payloads are not encrypted: PAYLOAD_KEY unset)'}

In another terminal:
  npm run cli -- generate --kind reconciliation      drop a demo reconciliation for yesterday into the landing dir
  npm run cli -- status <date>                       the date's badge, version and history
  npm run cli -- report <date>                       stream vs file for that date
  npm run cli -- stream progress|pause|resume        the stream
  npm run cli -- files --outcome rejected            rejected files
  npm run cli -- late                                dates whose reconciliation file is late
  npm run cli -- --help                              everything else

Ctrl-C stops the worker${startedServer ? ' and the Temporal server' : ''}${startedBroker ? ' and the Kafka broker' : ''}.`);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the worker…');
    let drained = true;
    try {
      drained = await Promise.race([running.shutdown().catch(() => running.done).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), DRAIN_MS).unref())]);
      if (!drained) console.log(`the worker did not drain in ${DRAIN_MS / 1000} s: leaving its workflow task to time out (a rerun batch is recognised)`);
      await simulatedClient?.stop();
      await close();
      await codecServer?.close();
    } finally {
      if (startedServer) console.log((await temporalScript(config, 'stop')).output);
      if (startedBroker) console.log((await kafkaScript(config, 'stop')).output);
    }
    if (!drained) process.exit(0);
  };
  // `on`, not `once`: a terminal's Ctrl-C reaches this process twice (directly and relayed by npm/tsx), and a
  // second SIGINT without a handler would kill it before the server is stopped.
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  await running.done;
  await stop();
};
