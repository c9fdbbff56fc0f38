/** `reconcile <file>` / `amend <file>`: deliver a file into the landing area and follow its workflow. */
import { copyFile, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ApplicationFailure, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { SingleBar } from 'cli-progress';
import type { Config } from '../config.js';
import { startQueue } from '../workers/main.js';
import { businessDateOfInstant } from '../domain/dates.js';
import { intakeInput } from '../files/intake.js';
import { LocalDirLanding } from '../files/landing.js';
import { startFileWorkflow } from '../activities/start-file.js';
import { fileProgressQuery, workflowIds, type FileStage } from '../domain/workflow-api.js';
import type { FileWorkflowResult } from '../workflows/file-workflow.js';

const STEPS: FileStage[] = ['register', 'validate', 'stage', 'replace', 'publish', 'applied'];

export interface SubmitOutcome {
  workflowId: string;
  status: 'applied' | 'duplicate' | 'failed' | 'refused';
  result?: FileWorkflowResult;
  reason?: string;
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** The data file and manifest of a delivery, from the path of either. */
export const locateFile = async (path: string): Promise<{ fileId: string; dataPath: string; manifestPath: string }> => {
  const name = basename(path);
  const fileId = name.replace(/\.manifest\.json$|\.csv\.gz$|\.csv$/, '');
  const dir = dirname(path);
  const manifestPath = join(dir, `${fileId}.manifest.json`);
  for (const suffix of ['.csv', '.csv.gz']) {
    const dataPath = join(dir, `${fileId}${suffix}`);
    if ((await exists(dataPath)) && (await exists(manifestPath))) return { fileId, dataPath, manifestPath };
  }
  throw new Error(`${path}: expected <file_id>.csv (or .csv.gz) with <file_id>.manifest.json beside it`);
};

/** Copies data then manifest (last, as a client must) into the landing directory. */
export const deliverFile = async (landingDir: string, file: { dataPath: string; manifestPath: string }): Promise<void> => {
  await mkdir(landingDir, { recursive: true });
  for (const from of [file.dataPath, file.manifestPath]) {
    const to = join(landingDir, basename(from));
    await copyFile(from, `${to}.part`);
    await rename(`${to}.part`, to);
  }
};

const watcherRunning = async (client: Client, clientId: string): Promise<boolean> =>
  client.workflow
    .getHandle(workflowIds.landing(clientId))
    .describe()
    .then((d) => d.status.name === 'RUNNING')
    .catch(() => false);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const submitFile = async (input: {
  config: Config;
  client: Client;
  path: string;
  expectKind: 'reconciliation' | 'amendment';
  progress?: boolean;
  log?: (line: string) => void;
}): Promise<SubmitOutcome> => {
  const { config, client } = input;
  const log = input.log ?? ((line: string) => console.log(line));
  const file = await locateFile(input.path);
  const manifest = JSON.parse(await readFile(file.manifestPath, 'utf8')) as { kind?: string };
  if (manifest.kind !== input.expectKind) {
    throw new Error(`${file.fileId} is a ${manifest.kind ?? 'file of unknown kind'}, not a${input.expectKind === 'amendment' ? 'n' : ''} ${input.expectKind}`);
  }
  const deliveredAt = Date.now();
  await deliverFile(config.LANDING_DIR, file);
  const landing = new LocalDirLanding(config.LANDING_DIR);
  const intake = await intakeInput({
    landing,
    fileId: file.fileId,
    clientId: config.CLIENT_ID,
    today: businessDateOfInstant(deliveredAt, config.CLIENT_TIME_ZONE),
  });
  const workflowId = workflowIds.file(config.CLIENT_ID, intake.kind, intake.covers, intake.fileId, intake.sha256);
  log(`delivered ${file.fileId} to ${config.LANDING_DIR}`);

  if (await watcherRunning(client, config.CLIENT_ID)) {
    log(`the landing watcher starts it as ${workflowId}`);
  } else {
    const started = await startFileWorkflow(client, startQueue(config, 'files'), intake);
    if (!started.started) return { workflowId, status: 'duplicate', reason: started.reason };
    log(`no landing watcher is running: started ${workflowId}`);
  }

  const handle = client.workflow.getHandle(workflowId);
  let description;
  for (const deadline = Date.now() + 60_000; ; ) {
    description = await handle.describe().catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    });
    if (description !== undefined) break;
    if (Date.now() > deadline) throw new Error(`${workflowId} did not start within a minute: is the worker running?`);
    await sleep(250);
  }
  if (description.status.name !== 'RUNNING' && description.startTime.getTime() < deliveredAt - 1000) {
    return { workflowId, status: 'duplicate', reason: `duplicate delivery: ${workflowId} already processed this file; the copy was moved to quarantine` };
  }

  const bar = input.progress === false ? null : new SingleBar({ format: '{bar} {stage} {detail}', barsize: 24, hideCursor: true });
  bar?.start(STEPS.length, 0, { stage: 'register', detail: '' });
  let done = false;
  const follow = (async () => {
    while (!done) {
      const progress = await handle.query(fileProgressQuery).catch(() => undefined);
      if (progress) {
        const index = STEPS.indexOf(progress.stage);
        bar?.update(index >= 0 ? index + 1 : bar.getProgress() * STEPS.length, { stage: progress.stage, detail: progress.detail.slice(0, 80) });
      }
      await sleep(200);
    }
  })();
  try {
    const result = (await handle.result()) as FileWorkflowResult;
    done = true;
    await follow;
    bar?.update(STEPS.length, { stage: result.outcome, detail: '' });
    bar?.stop();
    return { workflowId, status: result.outcome === 'duplicate' ? 'duplicate' : 'applied', result };
  } catch (error) {
    done = true;
    await follow;
    bar?.stop();
    if (!(error instanceof WorkflowFailedError)) throw error;
    let cause: unknown = error.cause;
    while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    const type = error.cause instanceof ApplicationFailure ? error.cause.type : undefined;
    return { workflowId, status: type === 'StaleSequence' ? 'refused' : 'failed', reason };
  }
};
