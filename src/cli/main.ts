/**
 * The operator's command line: `npm run cli -- <command>` (`npm start` runs `up`). Every command has --help.
 * Reads of the warehouse go through the running worker's read API, or open the warehouse when none runs
 * (src/ops/read-api.ts).
 */
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, localUrl, queueList, type Config } from '../config.js';
import { businessDateOfInstant, isCalendarDate, previousDate } from '../domain/dates.js';
import { DEFAULT_FEED_DIFFERENCES, reconciliationFromFeed } from '../files/feed-reconciliation.js';
import { generateFile } from '../files/generate.js';
import { lateFilesQuery } from '../ops/late-files.js';
import { FeedModel } from '../sources/simulated-feed.js';
import { simulatedSource } from '../workers/main.js';
import { openReader } from '../ops/read-api.js';
import { dailyScheduleId, ensureDailySchedule, triggerDailySchedule } from '../ops/schedule.js';
import { dailyStateQuery } from '../workflows/daily-workflow.js';
import {
  flushUpdate,
  pauseUpdate,
  replayFileSignal,
  retryRollbackSignal,
  resumeSignal,
  searchAttributes,
  streamProgressQuery,
  workflowIds,
  type RestoreWorkflowFn,
  type RestoreWorkflowInput,
} from '../domain/workflow-api.js';
import { landingStateQuery } from '../workflows/landing-workflow.js';
import { connectClient, streamSourceId } from './context.js';
import { renderHistory, renderPartition, renderReport, renderTotals, table } from './render.js';
import { temporalScript } from './stack.js';
import { registerOperatorCommands } from './ops-commands.js';
import { submitFile } from './submit.js';
import { startOperatedWorker, startQueue, taskQueueOf } from '../workers/main.js';
import { runUp } from './up.js';

const dateArg = (value: string): string => {
  if (!isCalendarDate(value)) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return value;
};
const intArg = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

let cachedConfig: Config | undefined;
const config = (): Config => (cachedConfig ??= loadConfig());

/** Runs an action with a Temporal client, closing it afterwards. */
const withClient = async <T>(work: (client: Awaited<ReturnType<typeof connectClient>>['client']) => Promise<T>): Promise<T> => {
  const connected = await connectClient(config());
  try {
    return await work(connected.client);
  } finally {
    await connected.close();
  }
};

const withReader = async <T>(work: (reader: Awaited<ReturnType<typeof openReader>>) => Promise<T>): Promise<T> => {
  const reader = await openReader(config());
  try {
    return await work(reader);
  } finally {
    await reader.close();
  }
};

export const program = new Command()
  .name('cli')
  .description('Operate the transaction pipeline: one warehouse table fed by a stream and corrected by daily files.')
  .showHelpAfterError();

program
  .command('up')
  .description('Start everything locally: Temporal dev server with UI, worker, stream, midnight schedule, landing watcher')
  .action(async () => runUp(config()));

const stack = program.command('stack').description('The local Temporal dev server (scripts/temporal.sh)');
for (const command of ['start', 'stop', 'status'] as const) {
  stack
    .command(command)
    .description(`${command === 'status' ? 'Show whether' : command === 'start' ? 'Start' : 'Stop'} the Temporal dev server${command === 'status' ? ' runs' : ''}`)
    .action(async () => {
      const result = await temporalScript(config(), command);
      console.log(result.output);
      process.exitCode = result.code;
    });
}

program
  .command('worker')
  .description('Run the worker alone (with the operating activities and the read API), until Ctrl-C')
  .option('--queues <list>', 'the queues it serves: stream, files, ops, shared (<TASK_QUEUE> itself), or all (default: WORKER_QUEUES, all)')
  .action(async (options: { queues?: string }) => {
    const c = config();
    if (options.queues !== undefined) {
      const queues = queueList.safeParse(options.queues);
      if (!queues.success) throw new Error(`--queues ${queues.error.issues.map((i) => i.message).join('; ')}`);
      c.WORKER_QUEUES = queues.data;
    }
    await withClient(async (client) => {
      const running = await startOperatedWorker(c, client);
      console.log(`worker on ${c.WORKER_QUEUES.map((q) => taskQueueOf(c, q)).join(', ')} at ${c.TEMPORAL_ADDRESS}; metrics and read API on ${localUrl(c.METRICS_ADDRESS, c.METRICS_PORT)}`);
      process.once('SIGINT', () => void running.shutdown());
      process.once('SIGTERM', () => void running.shutdown());
      await running.done;
    });
  });

for (const [name, kind] of [
  ['reconcile', 'reconciliation'],
  ['amend', 'amendment'],
] as const) {
  program
    .command(`${name} <file>`)
    .description(`Deliver a${kind === 'amendment' ? 'n' : ''} ${kind} file (data + manifest beside it) into the landing dir and follow its workflow`)
    .option('--no-progress', 'no progress bar')
    .action(async (file: string, options: { progress: boolean }) => {
      const outcome = await withClient((client) => submitFile({ config: config(), client, path: file, expectKind: kind, progress: options.progress }));
      if (outcome.status === 'applied' && outcome.result) {
        console.log(`${outcome.workflowId}: applied`);
        console.log(
          table(
            ['date', 'version', 'rows', 'differences'],
            outcome.result.dates.map((d) => [d.eventDate, `${d.fromVersion}→${d.toVersion}`, `${d.rowsBefore}→${d.rowsAfter}`, d.diffCount]),
          ),
        );
      } else {
        console.log(`${outcome.workflowId}: ${outcome.status}${outcome.reason ? `: ${outcome.reason}` : ''}`);
        process.exitCode = outcome.status === 'duplicate' ? 0 : 1;
      }
    });
}

program
  .command('replay <fileId>')
  .description('Rerun a kept file (even over a newer sequence): signals the landing watcher, which starts a replay workflow')
  .option('--sha <sha256>', 'a specific delivery of that file id (full digest or a prefix of at least 8 characters)')
  .option('--by <name>', 'who asks (recorded in the watcher and the log)', process.env.USER ?? 'operator')
  .action(async (fileId: string, options: { sha?: string; by: string }) => {
    await withClient(async (client) => {
      const handle = client.workflow.getHandle(workflowIds.landing(config().CLIENT_ID));
      const before = (await handle.query(landingStateQuery)).recent.length;
      await handle.signal(replayFileSignal, { fileId, requestedBy: options.by, ...(options.sha ? { sha256: options.sha } : {}) });
      console.log(`replay of ${fileId} requested from ${handle.workflowId}`);
      for (let i = 0; i < 40; i++) {
        const state = await handle.query(landingStateQuery);
        const event = state.recent.slice(Math.min(before, RECENT_LIMIT - 1)).find((e) => e.fileId === fileId && /replay/.test(e.what));
        if (event) {
          console.log(`${event.what}${event.workflowId ? `\nfollow it: ${event.workflowId}` : ''}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      console.log('the watcher has not handled it yet; see the landing workflow in the UI');
    });
  });
const RECENT_LIMIT = 20;

program
  .command('restore <date>')
  .description('Bring back an earlier version of a date as its next version (a restore workflow: busy-date guard, history, report)')
  .requiredOption('--to-version <n>', 'the version to restore (see `status <date>`)', intArg)
  .option('--by <name>', 'who asks (recorded in the workflow)', process.env.USER ?? 'operator')
  .action(async (date: string, options: { toVersion: number; by: string }) => {
    dateArg(date);
    const c = config();
    await withClient(async (client) => {
      const input: RestoreWorkflowInput = { clientId: c.CLIENT_ID, eventDate: date, toVersion: options.toVersion, requestedBy: options.by };
      const handle = await client.workflow.start<RestoreWorkflowFn>('restoreWorkflow', {
        taskQueue: startQueue(c, 'ops'),
        workflowId: workflowIds.restore(c.CLIENT_ID, date, options.toVersion, randomUUID().slice(0, 8)),
        args: [input],
        staticSummary: `Restore ${date} to version ${options.toVersion}, requested by ${options.by}`,
      });
      console.log(`follow it: ${handle.workflowId}`);
      const r = await handle.result().catch((error: unknown) => {
        let cause = error;
        while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
        throw new Error(`restore failed: ${cause instanceof Error ? cause.message : String(cause)}`);
      });
      console.log(`${date}: version ${r.fromVersion} replaced by version ${r.toVersion}, holding the rows of version ${r.restoredVersion}`);
      console.log(`rows ${r.rowsBefore} → ${r.rowsAfter}; ${r.diffCount} transaction(s) differ (npm run cli -- report ${date})`);
    });
  });

program
  .command('status <date>')
  .description("A date's badge (provisional, reconciled, amended), version, version history, and its daily run")
  .argument('[more...]', 'more dates')
  .action(async (date: string, more: string[]) => {
    const dates = [date, ...more].map(dateArg);
    await withReader(async (reader) => {
      const partitions = await reader.getPartitions(dates);
      for (const d of dates) {
        console.log(renderPartition(partitions.find((p) => p.eventDate === d), d));
        console.log(renderHistory(await reader.getChanges(d)));
        console.log(renderTotals(await reader.dailyTotals([d])));
        console.log('');
      }
      console.log(`(read through ${reader.via})`);
    });
    await withClient(async (client) => {
      for (const d of dates) {
        const daily = client.workflow.getHandle(workflowIds.daily(config().CLIENT_ID, d));
        const state = await daily.query(dailyStateQuery).catch(() => undefined);
        if (state) console.log(`daily/${config().CLIENT_ID}/${d}: ${state.stage}${state.late ? ' — LATE FILE' : ''}, deadline ${state.deadline}`);
      }
    }).catch(() => undefined);
  });

program
  .command('report <date>')
  .description('The reconciliation report of a date: counts and totals per currency, stream vs file, the differing transactions')
  .action(async (date: string) => {
    dateArg(date);
    await withReader(async (reader) => console.log(renderReport(await reader.getReport(date), date)));
  });

program
  .command('totals <date...>')
  .description('The dashboard query: rows and totals per date and currency, with each date\'s status badge')
  .action(async (dates: string[]) => {
    await withReader(async (reader) => console.log(renderTotals(await reader.dailyTotals(dates.map(dateArg)))));
  });

const stream = program.command('stream').description('The stream workflow of the simulated feed');
// pause and flush go as Updates and print the durable cursor they answer with; resume is a signal.
for (const [command, update, text] of [
  ['pause', pauseUpdate, 'Pause reading once the batch in flight is durable; prints the durable cursor'],
  ['flush', flushUpdate, 'Write the current micro-batch now instead of waiting for its time trigger; prints the durable cursor'],
] as const) {
  stream
    .command(command)
    .description(text)
    .action(async () => {
      await withClient(async (client) => {
        const id = workflowIds.stream(streamSourceId(config()));
        const answer = await client.workflow.getHandle(id).executeUpdate(update);
        console.log(`${command}: ${id} durable up to offset ${answer.cursor} (source head ${answer.headCursor})${answer.parked ? `, parked: ${answer.parked}` : ''}`);
      });
    });
}
stream
  .command('resume')
  .description('Resume reading (also retries a parked stream)')
  .action(async () => {
    await withClient(async (client) => {
      const id = workflowIds.stream(streamSourceId(config()));
      await client.workflow.getHandle(id).signal(resumeSignal);
      console.log(`resume sent to ${id}`);
    });
  });
stream
  .command('progress')
  .description('Cursor, lag, counters and whether the stream is paused')
  .action(async () => {
    await withClient(async (client) => {
      const p = await client.workflow.getHandle(workflowIds.stream(streamSourceId(config()))).query(streamProgressQuery);
      console.log(table(['field', 'value'], Object.entries(p).map(([k, v]) => [k, String(v)])));
    });
  });

program
  .command('rollback')
  .description('Files whose rollback failed (Stage=needs_operator)')
  .command('retry <workflowId>')
  .description('Run the failed compensations of a file workflow in needs_operator again')
  .action(async (workflowId: string) => {
    await withClient(async (client) => {
      await client.workflow.getHandle(workflowId).signal(retryRollbackSignal, { requestedBy: process.env.USER ?? 'cli' });
      console.log(`rollback retry sent to ${workflowId}; follow it with: temporal workflow describe --workflow-id ${workflowId}`);
    });
  });

const OUTCOME_QUERY: Record<string, string> = {
  applied: "Stage = 'applied'",
  rejected: "Stage = 'rejected'",
  refused: "Stage = 'refused'",
  duplicate: "Stage = 'duplicate'",
  rolled_back: "Stage = 'rolled_back'",
  needs_operator: "Stage = 'needs_operator'",
  failed: "ExecutionStatus = 'Failed'",
  running: "ExecutionStatus = 'Running'",
};

program
  .command('files')
  .description('File workflows from Temporal visibility, newest first')
  .addOption(new Option('--outcome <outcome>', 'only files with this outcome').choices(Object.keys(OUTCOME_QUERY)))
  .option('--date <date>', 'only files covering this date', dateArg)
  .option('--limit <n>', 'at most this many', intArg, 50)
  .action(async (options: { outcome?: string; date?: string; limit: number }) => {
    const clauses = [`WorkflowType = 'fileWorkflow'`, `ClientId = '${config().CLIENT_ID}'`];
    if (options.outcome) clauses.push(OUTCOME_QUERY[options.outcome] ?? '');
    if (options.date) clauses.push(`EventDates = '${options.date}'`);
    const query = clauses.join(' AND ');
    await withClient(async (client) => {
      const rows: string[][] = [];
      for await (const w of client.workflow.list({ query })) {
        rows.push([
          w.startTime.toISOString().slice(0, 19),
          w.typedSearchAttributes.get(searchAttributes.FileKind) ?? '-',
          w.typedSearchAttributes.get(searchAttributes.Stage) ?? '-',
          w.status.name,
          w.workflowId,
        ]);
        if (rows.length >= options.limit) break;
      }
      console.log(rows.length > 0 ? table(['started', 'kind', 'stage', 'status', 'workflow'], rows) : '(none)');
      console.log(`\nvisibility query: ${query}`);
    });
  });

program
  .command('late')
  .description('Dates whose reconciliation file is past its deadline (LateFile = true)')
  .action(async () => {
    const query = lateFilesQuery(config().CLIENT_ID);
    await withClient(async (client) => {
      const rows: string[][] = [];
      for await (const w of client.workflow.list({ query })) {
        const state = await client.workflow.getHandle(w.workflowId).query(dailyStateQuery).catch(() => undefined);
        rows.push([w.workflowId, state?.deadline ?? '-', state?.stage ?? '-', state?.lastProblem ?? '']);
      }
      console.log(rows.length > 0 ? table(['daily run', 'deadline', 'stage', 'last problem'], rows) : 'no late reconciliation files');
      console.log(`\nvisibility query: ${query}`);
    });
  });

const schedule = program.command('schedule').description('The midnight schedule');
schedule
  .command('ensure')
  .description('Create the schedule, or update it to the current configuration')
  .action(async () => {
    const c = config();
    await withClient(async (client) => {
      const { created } = await ensureDailySchedule(client, {
        clientId: c.CLIENT_ID,
        timeZone: c.CLIENT_TIME_ZONE,
        scheduleTime: c.SCHEDULE_TIME,
        deadline: c.RECONCILIATION_DEADLINE,
        taskQueue: startQueue(c, 'ops'),
      });
      console.log(`${dailyScheduleId(c.CLIENT_ID)} ${created ? 'created' : 'updated'}: ${c.SCHEDULE_TIME} ${c.CLIENT_TIME_ZONE}`);
    });
  });
schedule
  .command('trigger')
  .description("Fire the schedule now: starts the daily run for yesterday's business date (if it is not running)")
  .action(async () => {
    await withClient(async (client) => {
      const handle = client.schedule.getHandle(dailyScheduleId(config().CLIENT_ID));
      const { date } = await triggerDailySchedule(handle, config().CLIENT_TIME_ZONE);
      console.log(`triggered; the daily run is ${workflowIds.daily(config().CLIENT_ID, date)}`);
    });
  });
schedule
  .command('describe')
  .description('Next and recent runs of the schedule')
  .action(async () => {
    await withClient(async (client) => {
      const d = await client.schedule.getHandle(dailyScheduleId(config().CLIENT_ID)).describe();
      console.log(`next runs: ${d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()).join(', ')}`);
      console.log(`recent: ${d.info.recentActions.map((a) => `${a.scheduledAt.toISOString()} → ${a.action.workflow.workflowId}`).join('\n        ') || '(none)'}`);
      console.log(`policies: overlap ${d.policies.overlap}, catch-up window ${d.policies.catchupWindow / 3_600_000} h, pause on failure ${d.policies.pauseOnFailure}`);
    });
  });

program
  .command('generate')
  .description(
    'Write a file (data + manifest) into the landing dir; the landing watcher picks it up. A reconciliation is built from ' +
      "the simulated feed's transactions for the date (what the stream received) plus a few stated differences",
  )
  .addOption(new Option('--kind <kind>', 'file kind').choices(['reconciliation', 'amendment']).default('reconciliation'))
  .option('--date <date...>', "dates it covers (default: yesterday in the client's zone)")
  .option('--synthetic', 'random rows unrelated to the stream (implied by --rows, and for amendments)')
  .option('--missed <n>', 'feed-based: transactions only in the file (the stream missed them)', intArg, DEFAULT_FEED_DIFFERENCES.missed)
  .option('--corrected <n>', 'feed-based: amounts the file corrects', intArg, DEFAULT_FEED_DIFFERENCES.corrected)
  .option('--stream-only <n>', 'feed-based: streamed transactions the file leaves out', intArg, DEFAULT_FEED_DIFFERENCES.streamOnly)
  .option('--rows <n>', 'synthetic: data rows', intArg, 1000)
  .option('--sequence <n>', 'sequence (default: seconds since 1970, so it increases)', intArg)
  .option('--seed <n>', 'synthetic: seed (same seed, same rows and ids)', intArg, 1)
  .option('--change-one', 'synthetic: change the amount of the first row by 1.00 (an amendment that changes one row)')
  .option('--dir <dir>', 'where to write (default: LANDING_DIR)')
  .action(async (options: GenerateOptions, command: Command) => {
    const c = config();
    const covers = (options.date ?? [previousDate(businessDateOfInstant(Date.now(), c.CLIENT_TIME_ZONE))]).map(dateArg);
    const dir = options.dir ?? c.LANDING_DIR;
    const sequence = options.sequence ?? Math.floor(Date.now() / 1000);
    const synthetic = options.synthetic === true || command.getOptionValueSource('rows') === 'cli' || options.kind === 'amendment';
    if (!synthetic) {
      const [date] = covers;
      if (date === undefined || covers.length !== 1) throw new InvalidArgumentError('a reconciliation covers exactly one date');
      await generateFromFeed(options, { date, dir, sequence });
      return;
    }
    const file = await generateFile({
      dir,
      kind: options.kind,
      covers,
      rows: options.rows,
      seed: options.seed,
      sequence,
      clientId: c.CLIENT_ID,
      ...(options.changeOne
        ? { transform: (row, at) => (at.indexInDate === 0 && at.date === covers[0] ? { ...row, amount: bump(row.amount) } : row) }
        : {}),
    });
    console.log(`${file.fileId}: ${file.manifest.row_count} rows, ${file.manifest.kind} covering ${covers.join(', ')}, sequence ${file.manifest.sequence}`);
    console.log(`written to ${file.dataPath}`);
  });

interface GenerateOptions {
  kind: 'reconciliation' | 'amendment';
  date?: string[];
  synthetic?: boolean;
  missed: number;
  corrected: number;
  streamOnly: number;
  rows: number;
  sequence?: number;
  seed: number;
  changeOne?: boolean;
  dir?: string;
}

/** How far the stream has read: its cursor when the stream workflow answers, else everything the feed has emitted. */
const streamReadThrough = async (feedHead: number): Promise<{ through: number; what: string }> => {
  const id = workflowIds.stream(streamSourceId(config()));
  const cursor = await withClient((client) =>
    Promise.race([
      client.workflow.getHandle(id).query(streamProgressQuery).then((p) => p.cursor),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5000).unref()),
    ]),
  ).catch(() => undefined);
  return cursor === undefined
    ? { through: feedHead, what: `everything the feed has emitted (offset ${feedHead}; ${id} did not answer)` }
    : { through: cursor, what: `the cursor of ${id} (offset ${cursor})` };
};

const generateFromFeed = async (o: GenerateOptions, at: { date: string; dir: string; sequence: number }): Promise<void> => {
  const c = config();
  const feed = await simulatedSource(c);
  try {
    const { through, what } = await streamReadThrough(feed.headAt(Date.now()));
    const r = await reconciliationFromFeed({
      dir: at.dir,
      model: new FeedModel(feed.settings),
      date: at.date,
      through,
      sequence: at.sequence,
      clientId: c.CLIENT_ID,
      differences: { missed: o.missed, corrected: o.corrected, streamOnly: o.streamOnly },
    });
    console.log(`${r.file.fileId}: ${r.file.manifest.row_count} rows, reconciliation covering ${at.date}, sequence ${at.sequence}`);
    console.log(`from the simulated feed ${feed.id} through ${what}: ${r.truthRows} transaction(s) for ${at.date}`);
    if (r.truthRows === 0) console.log(`(the feed's business date is ${feed.settings.businessDate}; its late events land on the days before)`);
    console.log(`differences put in, which the report should show:`);
    console.log(`  only in the file (missed by the stream): ${r.missed.length}${r.missed.length ? ` — ${r.missed.join(', ')}` : ''}`);
    console.log(`  amount changed: ${r.corrected.length}${r.corrected.length ? ` — ${r.corrected.map((x) => `${x.transactionId} ${x.from} → ${x.to}`).join(', ')}` : ''}`);
    console.log(`  only in the stream (left out of the file): ${r.streamOnly.length}${r.streamOnly.length ? ` — ${r.streamOnly.join(', ')}` : ''}`);
    console.log(`written to ${r.file.dataPath}`);
  } finally {
    await feed.close();
  }
};

/** Adds 1 to a decimal amount's integer part (demo files only). */
const bump = (amount: string | null): string | null => {
  if (amount === null) return null;
  const [whole = '0', fraction] = amount.split('.');
  const next = (BigInt(whole) + (whole.startsWith('-') ? -1n : 1n)).toString();
  return fraction === undefined ? next : `${next}.${fraction}`;
};

registerOperatorCommands(program, config);

// Run as the command line; imported (the tests read every command's help in one process), it only builds them.
const isMain = process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
