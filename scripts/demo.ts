/**
 * `npm run demo`: a compressed day, end to end, on the local default (DuckDB, simulated feed), with a private
 * Temporal dev server on a free port and a temporary data directory. It prints what an operator sees at each
 * step and exits non-zero if the end state is wrong. `--keep` leaves everything running (with the UI) until
 * Ctrl-C, for a look around (scripts/screenshots.ts uses it).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { connectClient } from '../src/cli/context.js';
import { renderPartition, renderReport, renderTotals } from '../src/cli/render.js';
import { temporalScript } from '../src/cli/stack.js';
import { submitFile, type SubmitOutcome } from '../src/cli/submit.js';
import { startOperatedWorker, startQueue, taskQueueOf } from '../src/workers/main.js';
import { loadConfig, type Config } from '../src/config.js';
import { FILE_COLUMNS } from '../src/domain/contract.js';
import { addDays, businessDateOfInstant, previousDate } from '../src/domain/dates.js';
import { CurrencyTotals, csvLine, generateFile, manifestFor, rowLine } from '../src/files/generate.js';
import { ensureDailySchedule } from '../src/ops/schedule.js';
import { instantOfLocalTime } from '../src/domain/schedule-time.js';
import { startLandingWorkflow } from '../src/ops/start-landing.js';
import { startStreamWorkflow } from '../src/ops/start-stream.js';
import type { Transaction } from '../src/domain/contract.js';
import type { Warehouse } from '../src/warehouse/port.js';
import { dailyStateQuery, type dailyWorkflow, type DailyWorkflowResult } from '../src/workflows/daily-workflow.js';
import { searchAttributes, workflowIds } from '../src/domain/workflow-api.js';

export interface DemoResult {
  ok: boolean;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
  dates: { earlier: string; yesterday: string };
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const waitFor = async <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
};

const say = (text: string): void => console.log(text);
const step = (n: number, title: string): void => say(`\n=== ${n}. ${title} ${'='.repeat(Math.max(0, 70 - title.length))}`);

/** A webhook receiver standing in for the on-call channel. */
const startWebhook = async (): Promise<{ url: string; posts: Array<Record<string, unknown>>; server: Server }> => {
  const posts: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      posts.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/alerts`, posts, server };
};

/**
 * The client's reconciliation of a day, written from what the stream delivered with three real-world
 * differences: one amount corrected, one transaction the client never settled, one the stream never sent.
 */
const reconciliationFromStream = async (input: {
  warehouse: Warehouse;
  date: string;
  dir: string;
  clientId: string;
  sequence: number;
}): Promise<{ path: string; fileId: string; changed: string; dropped: string; added: string }> => {
  const rows = (await input.warehouse.readRows(input.date)) as Transaction[];
  if (rows.length < 3) throw new Error(`the stream wrote only ${rows.length} rows for ${input.date}`);
  const [first, second, ...rest] = rows as [Transaction, Transaction, ...Transaction[]];
  const changed = { ...first, amount: first.amount.startsWith('-') ? first.amount.slice(1) : `1${first.amount}` };
  const added: Transaction = { ...second, transactionId: `${input.clientId}-settlement-${input.date}`, description: 'settled outside the stream' };
  const kept = [changed, added, ...rest];
  const fileId = `${input.clientId}-recon-${input.date}`;
  const totals = new CurrencyTotals();
  let text = csvLine(FILE_COLUMNS);
  for (const t of kept) {
    totals.add(t.currency, t.amount);
    text += rowLine({
      transaction_id: t.transactionId,
      account_id: t.accountId,
      event_ts: t.eventTs,
      event_date: t.eventDate,
      amount: t.amount,
      currency: t.currency,
      merchant_id: t.merchantId ?? null,
      description: t.description ?? null,
    });
  }
  mkdirSync(input.dir, { recursive: true });
  const dataPath = join(input.dir, `${fileId}.csv`);
  writeFileSync(dataPath, text);
  const manifest = manifestFor({
    fileId,
    clientId: input.clientId,
    kind: 'reconciliation',
    covers: [input.date],
    sequence: input.sequence,
    rowCount: kept.length,
    totals: totals.result(),
    sha256: createHash('sha256').update(text).digest('hex'),
    createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  writeFileSync(join(input.dir, `${fileId}.manifest.json`), `${JSON.stringify(manifest, null, 2)}\n`);
  return { path: dataPath, fileId, changed: first.transactionId, dropped: second.transactionId, added: added.transactionId };
};

export const runDemo = async (options: { keep?: boolean; log?: (line: string) => void } = {}): Promise<DemoResult> => {
  const root = mkdtempSync(join(tmpdir(), 'pipeline-demo-'));
  const temporalPort = await freePort();
  const uiPort = options.keep ? await freePort() : 0;
  const metricsPort = await freePort();
  const webhook = await startWebhook();
  const clientId = 'acme';
  const timeZone = 'America/New_York';
  const config: Config = loadConfig({
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TASK_QUEUE: 'demo',
    CLIENT_ID: clientId,
    CLIENT_TIME_ZONE: timeZone,
    DUCKDB_PATH: join(root, 'warehouse', 'warehouse.duckdb'),
    LANDING_DIR: join(root, 'landing'),
    WORK_DIR: join(root, 'work'),
    FEED_RATE: '400',
    STREAM_BATCH_MAX_ROWS: '200',
    STREAM_BATCH_MAX_WAIT_MS: '200',
    METRICS_PORT: String(metricsPort),
    SDK_METRICS_PORT: '0',
    ALERT_WEBHOOK_URL: webhook.url,
    LOG_LEVEL: 'WARN',
  });
  const temporalEnv = {
    TEMPORAL_DATA_DIR: join(root, 'temporal'),
    TEMPORAL_WATCH_PID: String(process.pid),
    ...(options.keep ? { TEMPORAL_UI_PORT: String(uiPort) } : { TEMPORAL_HEADLESS: '1' }),
  };
  /** `pipeline_files_late{client="acme"}` once it reads `value` (or what it reads after 15 s). */
  const lateGaugeReaches = async (value: string): Promise<string | undefined> => {
    const read = async (): Promise<string | undefined> =>
      /pipeline_files_late\{client="acme"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())?.[1];
    return waitFor('the late-file gauge', async () => ((await read()) === value ? value : undefined), 15_000).catch(read);
  };
  const checks: DemoResult['checks'] = [];
  const check = (name: string, ok: boolean, detail = ''): void => {
    checks.push({ name, ok, detail });
    say(`${ok ? '  ✔' : '  ✘'} ${name}${detail ? ` (${detail})` : ''}`);
  };

  const today = businessDateOfInstant(Date.now(), timeZone);
  const yesterday = previousDate(today);
  const earlier = addDays(today, -2);
  let client: Client | undefined;
  let closeClient: (() => Promise<void>) | undefined;
  let shutdownWorker: (() => Promise<void>) | undefined;
  try {
    step(0, 'A private Temporal dev server and an empty warehouse');
    const started = await temporalScript(config, 'start', temporalEnv);
    if (started.code !== 0) throw new Error(`Temporal dev server: ${started.output}`);
    say(started.output);
    // The simulated feed plays "yesterday": its events carry that business date.
    mkdirSync(config.WORK_DIR, { recursive: true });
    writeFileSync(join(config.WORK_DIR, 'simulated-feed.json'), JSON.stringify({ startMs: Date.now(), businessDate: yesterday }));
    ({ client, close: closeClient } = await connectClient(config));
    const running = await startOperatedWorker(config, client);
    shutdownWorker = running.shutdown;
    const warehouse = running.deps.warehouse;
    await startLandingWorkflow(client, { taskQueue: startQueue(config, 'ops'), clientId, location: `dir:${config.LANDING_DIR}`, pollIntervalMs: 500 });
    say(`worker on task queues ${config.WORKER_QUEUES.map((q) => taskQueueOf(config, q)).join(', ')}; landing watcher landing/${clientId} on ${config.LANDING_DIR}; alerts to ${webhook.url}`);

    step(1, `The stream delivers ${yesterday} (simulated client feed)`);
    const sourceId = [...running.deps.sources.keys()][0] ?? '';
    const stream = await startStreamWorkflow(client, {
      taskQueue: startQueue(config, 'stream'),
      sourceId,
      clientId,
      maxRows: config.STREAM_BATCH_MAX_ROWS,
      maxWaitMs: config.STREAM_BATCH_MAX_WAIT_MS,
      stopAt: 1200,
    });
    const progress = await stream.handle.result();
    say(
      `${stream.workflowId}: read ${progress.read} events in ${progress.batches} micro-batches; wrote ${progress.written} provisional rows, ` +
        `${progress.duplicates} duplicates, ${progress.conflicts} conflicts, ${progress.rejected} rejected (quarantined)`,
    );

    step(2, `Just before midnight: the dashboard query for ${yesterday}`);
    const before = await warehouse.dailyTotals([yesterday]);
    say(renderTotals(before));
    check('before the file, the dashboard shows provisional rows', before.length > 0 && before.every((t) => t.status === 'provisional'));

    step(3, 'Midnight: the schedule fires and the daily run waits for the file');
    const schedule = await ensureDailySchedule(client, {
      clientId,
      timeZone,
      scheduleTime: config.SCHEDULE_TIME,
      deadline: config.RECONCILIATION_DEADLINE,
      taskQueue: startQueue(config, 'ops'),
      checkIntervalMs: 2000,
      // A compressed day: yesterday's 06:00 deadline has passed in real time, so this run gets ten minutes.
      deadlineAt: new Date(Date.now() + 10 * 60_000).toISOString(),
    });
    // Fire the schedule's own midnight that opened `today` (a backfill of that one scheduled time), not "now":
    // a demo started just before midnight would otherwise start the run of a later date than it streamed.
    const midnight = new Date(instantOfLocalTime(today, config.SCHEDULE_TIME, timeZone));
    await schedule.handle.backfill({ start: midnight, end: midnight, overlap: ScheduleOverlapPolicy.ALLOW_ALL });
    const dailyYesterday = client.workflow.getHandle<typeof dailyWorkflow>(workflowIds.daily(clientId, yesterday));
    const waiting = await waitFor('the daily run', () => dailyYesterday.query(dailyStateQuery).catch(() => undefined));
    say(`schedule daily/${clientId} (${config.SCHEDULE_TIME} ${timeZone}) started ${dailyYesterday.workflowId}: ${waiting.stage}, late after ${waiting.deadline}`);
    check('the schedule starts the daily run for the previous business date', waiting.date === yesterday);

    step(4, `The file for ${earlier} is late (a drill with a deadline in 3 seconds)`);
    const dailyEarlier = await client.workflow.start<typeof dailyWorkflow>('dailyWorkflow', {
      taskQueue: startQueue(config, 'ops'),
      workflowId: workflowIds.daily(clientId, earlier),
      args: [{ clientId, timeZone, deadline: config.RECONCILIATION_DEADLINE, date: earlier, deadlineAt: new Date(Date.now() + 3000).toISOString(), checkIntervalMs: 1000 }],
      staticSummary: `Late-file drill: ${clientId}'s reconciliation of ${earlier} with a 3-second deadline`,
    });
    await waitFor('the late alert', async () => (await dailyEarlier.describe()).typedSearchAttributes.get(searchAttributes.LateFile) === true && webhook.posts.length > 0);
    // The gauge is a visibility count: it follows the search attribute within a moment.
    const lateGauge = await lateGaugeReaches('1');
    say(`UI: ${dailyEarlier.workflowId} has LateFile = true (filter: LateFile = true); log: LATE FILE …`);
    say(`webhook received: ${JSON.stringify(webhook.posts[0]?.text)}`);
    say(`metrics: pipeline_files_late{client="acme"} ${lateGauge}`);
    check('the late file is flagged in the UI, the webhook and the metric', lateGauge === '1' && webhook.posts[0]?.event === 'late');

    step(5, `After midnight: ${yesterday}'s reconciliation file lands`);
    const outbox = join(root, 'outbox');
    const recon = await reconciliationFromStream({ warehouse, date: yesterday, dir: outbox, clientId, sequence: 100 });
    const applied = await submitFile({ config, client, path: recon.path, expectKind: 'reconciliation', progress: false, log: say });
    say(`${applied.workflowId}: ${applied.status}`);
    const dailyResult: DailyWorkflowResult = await dailyYesterday.result();
    say(`${dailyYesterday.workflowId}: ${dailyResult.outcome}, ${dailyResult.late ? 'late' : `on time (${Math.round(-(dailyResult.lateByMs ?? 0) / 1000)} s before the deadline)`}`);
    check('the daily run completes when the file is applied, not late', dailyResult.outcome === 'reconciled' && !dailyResult.late);

    step(6, `The same dashboard query for ${yesterday}, after reconciliation`);
    const after = await warehouse.dailyTotals([yesterday]);
    say(renderTotals(after));
    check('after the file, the same query returns reconciled rows', after.length > 0 && after.every((t) => t.status === 'reconciled'));
    const reportYesterday = await warehouse.getReport(yesterday);
    say(renderReport(reportYesterday, yesterday));
    const kinds = new Map((reportYesterday?.diffs ?? []).map((d) => [d.transactionId, d.kind]));
    check(
      'the report shows the corrected amount, the unsettled and the unstreamed transaction',
      kinds.get(recon.changed) === 'amount_changed' && kinds.get(recon.dropped) === 'only_in_stream' && kinds.get(recon.added) === 'only_in_file',
    );

    step(7, `The late file for ${earlier} finally lands`);
    const lateFile = await generateFile({ dir: outbox, kind: 'reconciliation', covers: [earlier], rows: 60, seed: 7, sequence: 101, clientId });
    const lateApplied = await submitFile({ config, client, path: lateFile.dataPath, expectKind: 'reconciliation', progress: false, log: say });
    const lateResult = await dailyEarlier.result();
    const lateAfter = (await dailyEarlier.describe()).typedSearchAttributes.get(searchAttributes.LateFile);
    const gaugeAfter = await lateGaugeReaches('0');
    say(`${lateApplied.workflowId}: ${lateApplied.status}; ${dailyEarlier.workflowId}: ${lateResult.outcome}, late by ${Math.round((lateResult.lateByMs ?? 0) / 1000)} s; LateFile = ${lateAfter}`);
    say(`webhook received: ${JSON.stringify(webhook.posts.at(-1)?.text)}`);
    check('the alert clears when the file lands, and how late it was is recorded', lateAfter === false && gaugeAfter === '0' && lateResult.late && (lateResult.lateByMs ?? 0) > 0 && webhook.posts.at(-1)?.event === 'resolved');

    step(8, `An amendment for ${earlier} changes one row`);
    const yesterdayBefore = (await warehouse.getPartitions([yesterday]))[0];
    const amendment = await generateFile({
      dir: outbox,
      kind: 'amendment',
      covers: [earlier],
      rows: 60,
      seed: 7,
      sequence: 102,
      clientId,
      transform: (row, at) => (at.indexInDate === 5 ? { ...row, amount: '4242.42' } : row),
    });
    const amended = await submitFile({ config, client, path: amendment.dataPath, expectKind: 'amendment', progress: false, log: say });
    say(`${amended.workflowId}: ${amended.status}`);
    const [earlierState] = await warehouse.getPartitions([earlier]);
    const [yesterdayState] = await warehouse.getPartitions([yesterday]);
    say(renderPartition(earlierState, earlier));
    say(renderPartition(yesterdayState, yesterday));
    const reportEarlier = await warehouse.getReport(earlier);
    say(renderReport(reportEarlier, earlier));
    check(`${earlier} is amended as a new version`, earlierState?.status === 'amended' && earlierState.version === 2);
    check(`${yesterday} is untouched by the amendment`, yesterdayState?.version === yesterdayBefore?.version && yesterdayState?.status === 'reconciled');
    check('the amendment report shows exactly the one changed row', reportEarlier?.diffCount === 1 && reportEarlier.diffs[0]?.kind === 'amount_changed' && reportEarlier.diffs[0].after === '4242.42');

    step(9, 'A bad file: a renamed column');
    const partitionsBefore = JSON.stringify(await warehouse.getPartitions([earlier, yesterday]));
    const bad = await generateFile({ dir: join(outbox, 'bad'), kind: 'reconciliation', covers: [yesterday], rows: 20, seed: 9, sequence: 103, clientId, fileId: `${clientId}-recon-${yesterday}-renamed` });
    // The client renamed `amount` to `amt`; the manifest's digest matches the bytes as delivered.
    const renamed = readFileSync(bad.dataPath, 'utf8').replace(/^(.*?)\bamount\b/, '$1amt');
    writeFileSync(bad.dataPath, renamed);
    writeFileSync(bad.manifestPath, JSON.stringify({ ...bad.manifest, sha256: createHash('sha256').update(renamed).digest('hex') }, null, 2));
    const rejected: SubmitOutcome = await submitFile({ config, client, path: bad.dataPath, expectKind: 'reconciliation', progress: false, log: say });
    say(`${rejected.workflowId}: ${rejected.status}: ${rejected.reason ?? ''}`);
    const registry = await warehouse.getFile(bad.fileId, createHash('sha256').update(renamed).digest('hex'));
    say(`registry: ${registry?.outcome}: ${registry?.reason}`);
    say(`kept in ${join(config.LANDING_DIR, 'quarantine', bad.fileId)} with ${bad.fileId}.errors.json`);
    check('the bad file is rejected with its reason', rejected.status === 'failed' && registry?.outcome === 'rejected' && /amt|amount/.test(registry.reason ?? ''));
    check('no partition was touched by the bad file', JSON.stringify(await warehouse.getPartitions([earlier, yesterday])) === partitionsBefore);

    step(10, 'End of the day: per-date totals with their badges');
    say(renderTotals(await warehouse.dailyTotals([earlier, yesterday])));
    const final = await warehouse.getPartitions([earlier, yesterday]);
    check('end state: earlier date amended, yesterday reconciled', final.find((p) => p.eventDate === earlier)?.status === 'amended' && final.find((p) => p.eventDate === yesterday)?.status === 'reconciled');

    if (options.keep) {
      say(`\nEverything keeps running for a look: Temporal UI http://localhost:${uiPort} — Ctrl-C to stop.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } finally {
    if (client) {
      for (const id of [workflowIds.landing(clientId)]) await client.workflow.getHandle(id).terminate('demo over').catch(() => undefined);
    }
    await shutdownWorker?.().catch(() => undefined); // the SDK may have stopped it on Ctrl-C already
    await closeClient?.();
    await temporalScript(config, 'stop', temporalEnv).catch(() => undefined);
    webhook.server.close();
    rmSync(root, { recursive: true, force: true });
  }
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  say(`\n${ok ? 'DEMO OK' : 'DEMO FAILED'}: ${checks.filter((c) => c.ok).length}/${checks.length} checks passed`);
  return { ok, checks, dates: { earlier, yesterday } };
};

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  try {
    const result = await runDemo({ keep: process.argv.includes('--keep') });
    if (process.env.DEMO_RESULT_PATH) writeFileSync(process.env.DEMO_RESULT_PATH, JSON.stringify(result, null, 2));
    process.exitCode = result.ok ? 0 : 1;
  } catch (error) {
    console.error(`DEMO FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  }
}
