/**
 * Operator plumbing commands: the codec server, search attribute registration, and the rerun of a daily run.
 * Registered on the CLI by src/cli/main.ts.
 */
import type { Command } from 'commander';
import { pipelineCodec } from '../codec/data-converter.js';
import { hostPort, type Config } from '../config.js';
import { startQueue } from '../workers/main.js';
import { isCalendarDate } from '../domain/dates.js';
import { startCodecServer, type CodecServerOptions, type RunningCodecServer } from '../ops/codec-server.js';
import { rerunDailyRun } from '../ops/rerun-daily.js';
import { ensureSearchAttributes } from '../ops/search-attributes.js';
import { connectClient, uiAddress } from './context.js';
import { table } from './render.js';

/** The UI's origins (localhost and 127.0.0.1 on its port) unless CODEC_SERVER_CORS_ORIGINS lists others. */
export const codecServerOrigins = (config: Config): string[] => {
  if (config.CODEC_SERVER_CORS_ORIGINS) return config.CODEC_SERVER_CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  const ui = new URL(uiAddress(config));
  return [`http://localhost:${ui.port}`, `http://127.0.0.1:${ui.port}`];
};

/** Starts the codec server from configuration (PAYLOAD_KEY or PAYLOAD_KEYS, CODEC_SERVER_*). */
export const startConfiguredCodecServer = async (config: Config, log?: (line: string) => void): Promise<RunningCodecServer> => {
  const codec = pipelineCodec(config);
  if (!codec) throw new Error('codec-server: set PAYLOAD_KEY (or PAYLOAD_KEYS and PAYLOAD_KEY_ID): there is nothing to decode without a key');
  const { host, port } = hostPort(config.CODEC_SERVER_ADDRESS);
  const options: CodecServerOptions = {
    codec,
    host,
    port: port ?? 8089,
    allowedOrigins: codecServerOrigins(config),
    ...(config.CODEC_SERVER_TOKEN ? { token: config.CODEC_SERVER_TOKEN } : {}),
    ...(log ? { log } : {}),
  };
  return startCodecServer(options);
};

export const registerOperatorCommands = (program: Command, config: () => Config): void => {
  program
    .command('codec-server')
    .description("Serve Temporal's /encode and /decode with the payload keys, so the UI and the temporal CLI show encrypted payloads")
    .option('--quiet', 'no line per request')
    .action(async (options: { quiet?: boolean }) => {
      const c = config();
      const running = await startConfiguredCodecServer(c, options.quiet ? undefined : (line) => console.log(line));
      const codec = pipelineCodec(c);
      console.log(`codec server on ${running.url} (encrypts with ${codec?.keyId}; decrypts ${codec?.keyIds.join(', ')})`);
      console.log(`  CORS origins: ${codecServerOrigins(c).join(', ')}; bearer token ${c.CODEC_SERVER_TOKEN ? 'required' : 'not required (CODEC_SERVER_TOKEN unset)'}`);
      console.log(`  UI: temporal server start-dev --ui-codec-endpoint ${running.url}  (npm start does this when PAYLOAD_KEY is set)`);
      console.log(`  CLI: temporal workflow show -w <id> --codec-endpoint ${running.url}${c.CODEC_SERVER_TOKEN ? " --codec-auth 'Bearer <token>'" : ''}`);
      await new Promise<void>((resolve) => {
        const stop = (): void => void running.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  program
    .command('search-attributes')
    .description("Register the pipeline's search attributes on the namespace (idempotent; through the operator service)")
    .action(async () => {
      const c = config();
      const { client, close } = await connectClient(c);
      try {
        const outcomes = await ensureSearchAttributes(client.connection, c.TEMPORAL_NAMESPACE);
        console.log(table(['search attribute', 'type', 'status'], outcomes.map((o) => [o.name, o.type, o.status])));
        console.log(`\nnamespace ${c.TEMPORAL_NAMESPACE} at ${c.TEMPORAL_ADDRESS}`);
      } finally {
        await close();
      }
    });

  const daily = program.command('daily').description('The daily reconciliation runs (daily/<client>/<date>)');
  daily
    .command('rerun <date>')
    .description('Start the daily run of a date again, when its last run failed, was terminated or timed out (or never ran)')
    .option('--deadline-at <iso>', 'an absolute deadline (ISO 8601) instead of RECONCILIATION_DEADLINE on the next day')
    .option('--by <name>', 'who asks (shown in the run\'s summary)', process.env.USER ?? 'operator')
    .action(async (date: string, options: { deadlineAt?: string; by: string }) => {
      if (!isCalendarDate(date)) throw new Error(`expected a date YYYY-MM-DD, got ${date}`);
      if (options.deadlineAt !== undefined && Number.isNaN(Date.parse(options.deadlineAt))) throw new Error(`--deadline-at: not an ISO 8601 instant: ${options.deadlineAt}`);
      const c = config();
      const { client, close } = await connectClient(c);
      try {
        const result = await rerunDailyRun(client, {
          clientId: c.CLIENT_ID,
          date,
          timeZone: c.CLIENT_TIME_ZONE,
          deadline: c.RECONCILIATION_DEADLINE,
          taskQueue: startQueue(c, 'ops'),
          requestedBy: options.by,
          ...(options.deadlineAt !== undefined ? { deadlineAt: new Date(options.deadlineAt).toISOString() } : {}),
        });
        console.log(result.started ? `${result.workflowId}: ${result.reason} (run ${result.runId})` : `${result.workflowId}: not started: ${result.reason}`);
        process.exitCode = result.started ? 0 : 1;
      } finally {
        await close();
      }
    });
};
