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
import { startStreamWorkflow } from '../ops/start-stream.js';
import { startWorker, type RunningWorker } from '../workers/main.js';
import { connectClient, isLocalAddress, uiAddress } from './context.js';
import { temporalScript } from './stack.js';

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
  const sourceId = [...running.deps.sources.keys()][0] ?? `sim:${config.CLIENT_ID}:p0`;
  const stream = await startStreamWorkflow(client, {
    taskQueue: config.TASK_QUEUE,
    sourceId,
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
    taskQueue: config.TASK_QUEUE,
  });
  await startLandingWorkflow(client, { taskQueue: config.TASK_QUEUE, clientId: config.CLIENT_ID, location: `dir:${config.LANDING_DIR}` });
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
  const { client, close } = await connectClient(config);
  const running = await startOperatedWorker(config, client);
  const { streamId, streamStarted } = await ensureOperations(config, client, running);
  const ui = uiAddress(config);
  const ns = encodeURIComponent(config.TEMPORAL_NAMESPACE);
  console.log(`
The pipeline is up for client ${config.CLIENT_ID} (${config.CLIENT_TIME_ZONE}).

  Temporal UI        ${ui}/namespaces/${ns}/workflows
  stream             ${streamId} (${streamStarted ? 'started' : 'already running, attached'}): simulated feed at ${config.FEED_RATE} events/s
  midnight schedule  daily/${config.CLIENT_ID}: ${config.SCHEDULE_TIME} ${config.CLIENT_TIME_ZONE}, file late after ${config.RECONCILIATION_DEADLINE} next day
  landing watcher    landing/${config.CLIENT_ID} watching ${config.LANDING_DIR}
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

Ctrl-C stops the worker${startedServer ? ' and the Temporal server' : ''}.`);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping the worker…');
    await running.shutdown();
    await close();
    if (startedServer) console.log((await temporalScript(config, 'stop')).output);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await running.done;
  await stop();
};
