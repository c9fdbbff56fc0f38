/**
 * Activities of the file workflow. Thin: each calls a port (landing, validator, warehouse) and returns a
 * small result; rows never travel through workflow history, only paths, ids and counts.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { Context, log } from '@temporalio/activity';
import { formatIssue, type FileKind, type InputIssue } from '../domain/contract.js';
import { stagingIdOf } from '../domain/workflow-api.js';
import type { Landing, StoredIn } from '../files/landing.js';
import type { StagingArea } from '../files/staging-area.js';
import { validateFile } from '../files/validate.js';
import type { FileOutcome, ReplaceInput, Warehouse } from '../warehouse/port.js';
import { warehouseCall, whileBeating } from './warehouse-call.js';

/** Test hook: lets a test fail or stall a chosen step. Production injects nothing. */
export interface FaultInjector {
  before(step: string, attempt: number): Promise<void>;
}

/** Where a file whose rollback failed is reported besides the log (the worker's metrics). */
export interface FileAlerts {
  fileNeedsOperator(input: { fileId: string; workflowId: string; failedSteps: string; message: string }): void;
  /** A file's outcome was recorded (applied, duplicate, rejected, refused_stale, rolled_back, needs_operator…). */
  fileOutcome?(outcome: FileOutcome): void;
}

export interface FileActivityDeps {
  warehouse: Warehouse;
  landing: Landing;
  workDir: string;
  /**
   * Where the validated file is put for the warehouse to read itself (a bucket landing with BigQuery: the load job
   * names the object). The validate step puts it there, on the host that wrote it, so the stage step may run on any
   * worker. Unset: the warehouse stages the local file, which the stage step must find on its own host.
   */
  stagingArea?: StagingArea;
  /** The client this worker serves; a file workflow started for another client is rejected at validation. */
  clientId?: string;
  /** DuckDB memory_limit of the validator (default DEFAULT_VALIDATE_MEMORY_LIMIT); it spills under workDir beyond. */
  validateMemoryLimit?: string;
  faults?: FaultInjector;
  alerts?: FileAlerts;
}

export interface ErrorReport {
  file: string;
  issueCount: number;
  issues: InputIssue[];
}

/** A rejection as the validate step returns it: the report travels with it, to whichever worker runs the reject step. */
export interface Rejection {
  ok: false;
  issueCount: number;
  summary: string;
  /** The report on the validating worker's disk (kept for operators; a run validated by an earlier release reads it). */
  reportPath: string;
  report: ErrorReport;
}

/**
 * A reason longer than this is cut in the report (values are already quoted at most 80 characters; this bounds what
 * a parser's own message may add). With at most `maxErrors` (100) issues listed, the report stays well inside one
 * Temporal payload.
 */
const MAX_REASON_CHARS = 1_000;

const bounded = (issue: InputIssue): InputIssue =>
  issue.reason.length <= MAX_REASON_CHARS ? issue : { ...issue, reason: `${issue.reason.slice(0, MAX_REASON_CHARS)}… (cut)` };

/** Writes the error report beside the work files and returns the rejection the workflow acts on. */
const reject = async (dir: string, file: string, found: { issueCount: number; issues: InputIssue[] }): Promise<Rejection> => {
  const reportPath = join(dir, 'error-report.json');
  const report: ErrorReport = { file, issueCount: found.issueCount, issues: found.issues.map(bounded) };
  await writeFile(reportPath, JSON.stringify(report, null, 2));
  const first = report.issues.slice(0, 3).map(formatIssue).join('; ');
  return { ok: false, issueCount: found.issueCount, summary: `${found.issueCount} problem(s); ${first}`, reportPath, report };
};

const HEARTBEAT_EVERY_MS = 1_000;

/** A validated file put in the staging area (`gs://…`), as opposed to a path under a worker's work directory. */
const isObjectUri = (path: string): boolean => /^gs:\/\//.test(path);

interface FileRef {
  fileId: string;
  sha256: string;
}

export const createFileActivities = ({ warehouse, landing, workDir, stagingArea, clientId, validateMemoryLimit, faults, alerts }: FileActivityDeps) => {
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const ctx = Context.current();
    // Cancelled before it started (the file workflow was cancelled while the task waited for a slot): do not start.
    ctx.cancellationSignal.throwIfAborted();
    await faults?.before(name, ctx.info.attempt);
    // A large file keeps the warehouse busy for minutes: beat, so the heartbeat timeout catches a dead worker only,
    // and so a cancel reaches the step (it arrives with a heartbeat's answer). Validation beats with its own progress.
    // The warehouse call learns who asks and is cancelled with the activity (src/warehouse/job-context.ts).
    return name === 'validate' ? warehouseCall(name, work) : whileBeating(HEARTBEAT_EVERY_MS, () => warehouseCall(name, work));
  };

  /**
   * Puts the validator's Parquet in the staging area under the run's staging id (the one the workflow derives) and
   * removes the local copy: the stage step, on whichever worker, loads the object. Beats while the bytes go.
   */
  const putStaged = async (path: string): Promise<string> => {
    const ctx = Context.current();
    const runId = ctx.info.workflowExecution?.runId;
    if (runId === undefined || stagingArea === undefined) throw new Error('a staged file needs the staging area and the file workflow run');
    const stagingId = stagingIdOf(runId);
    return whileBeating(HEARTBEAT_EVERY_MS, async () => {
      const staged = await stagingArea.put({ stagingId, path });
      log.info('validated file staged in the bucket', { stagingId, uri: staged.uri, generation: staged.generation, bytes: staged.bytes, uploaded: staged.uploaded });
      await rm(path, { force: true });
      return staged.uri;
    });
  };

  /** The staging id of an object in this worker's staging area (`<location><stagingId>.parquet`), else undefined. */
  const stagedIdIn = (uri: string): string | undefined => {
    if (stagingArea === undefined || !uri.startsWith(stagingArea.location)) return undefined;
    return /^([A-Za-z0-9_]+)\.parquet$/.exec(uri.slice(stagingArea.location.length))?.[1];
  };

  return {
    async registerFile(input: FileRef & {
      clientId: string;
      kind: FileKind | 'unknown';
      covers: string[];
      sequence: number;
      replay: boolean;
      workflowId: string;
      runId: string;
    }): Promise<{ alreadyApplied: boolean; workflowId: string; changeId: string | null }> {
      return step('register', async () => {
        const entry = await warehouse.registerFile({
          fileId: input.fileId,
          sha256: input.sha256,
          clientId: input.clientId,
          kind: input.kind,
          covers: input.covers,
          sequence: input.sequence,
          rowCount: 0,
          dataPath: `${landing.location}/${input.fileId}`,
          workflowId: input.workflowId,
          runId: input.runId,
          replay: input.replay,
        });
        return { alreadyApplied: entry.outcome === 'applied', workflowId: entry.workflowId, changeId: entry.changeId };
      });
    },

    /** `clientId`: the client the landing area serves (the workflow's input); it and the manifest must be the worker's. */
    async validateFile(input: FileRef & { from: StoredIn; today?: string; clientId?: string }): Promise<
      | { ok: true; normalizedCsvPath: string; rows: number; kind: FileKind; covers: string[]; sequence: number }
      | Rejection
    > {
      // How many validate at once is the files queue's activity slots (FILES_ACTIVITY_SLOTS), not a queue in here.
      return step('validate', async () => {
        const ctx = Context.current();
        const dir = join(workDir, input.fileId, input.sha256.slice(0, 12));
        await mkdir(dir, { recursive: true });
        const manifestName = `${input.fileId}.manifest.json`;
        const data = await landing.openData(input.fileId, input.from);
        if (!data) {
          const issue = { source: input.fileId, line: null, field: null, reason: `data file is missing from ${landing.location}` };
          return reject(dir, input.fileId, { issueCount: 1, issues: [issue] });
        }
        if (clientId !== undefined && input.clientId !== undefined && input.clientId !== clientId) {
          await data.release();
          const reason = `the file workflow was started for client "${input.clientId}", but this worker serves "${clientId}"`;
          return reject(dir, data.dataName, { issueCount: 1, issues: [{ source: manifestName, line: null, field: 'client_id', reason }] });
        }
        try {
          const result = await validateFile({
            dataPath: data.path,
            dataName: data.dataName,
            manifestText: await landing.readManifest(input.fileId, input.from),
            manifestName,
            workDir: dir,
            // DuckDB stages the validator's Parquet as is; a BigQuery load job reads it typed.
            normalizedFormat: warehouse.engine === 'duckdb' ? 'parquet' : 'typed-parquet',
            ...(input.today ? { today: input.today } : {}),
            // The worker's client (CLIENT_ID); the landing area's (the input's) has been checked against it above.
            ...(clientId !== undefined ? { clientId } : {}),
            ...(validateMemoryLimit ? { memoryLimit: validateMemoryLimit } : {}),
            onProgress: (p) => ctx.heartbeat(p),
          });
          if (result.ok && result.sha256 !== input.sha256) {
            const issue = { source: data.dataName, line: null, field: 'sha256', reason: 'the file changed after it was registered' };
            return reject(dir, data.dataName, { issueCount: 1, issues: [issue] });
          }
          if (result.ok) {
            const { kind, covers, sequence } = result.manifest;
            const normalizedCsvPath = stagingArea === undefined ? result.normalizedPath : await putStaged(result.normalizedPath);
            return { ok: true, normalizedCsvPath, rows: result.rows, kind, covers, sequence };
          }
          return reject(dir, data.dataName, result);
        } finally {
          await data.release();
        }
      });
    },

    /**
     * Keeps a rejected file and its error report in quarantine and records the rejection. The report comes with the
     * input, so this may run on another worker than the validation; only a run validated by an earlier release, which
     * passed the path alone, reads it from the validating worker's disk.
     */
    async rejectFile(input: FileRef & { reportPath: string; report?: ErrorReport; workflowId: string; runId: string }): Promise<void> {
      await step('reject', async () => {
        const report = input.report ?? (JSON.parse(await readFile(input.reportPath, 'utf8')) as ErrorReport);
        const reason = `${report.issueCount} problem(s): ${report.issues.slice(0, 3).map(formatIssue).join('; ')}`;
        await warehouse.setFileOutcome({ fileId: input.fileId, sha256: input.sha256, outcome: 'rejected', reason, errors: report.issues });
        await landing.moveTo({
          fileId: input.fileId,
          area: 'quarantine',
          sha256: input.sha256,
          report: {
            fileId: input.fileId,
            sha256: input.sha256,
            reason,
            issues: report.issues,
            issueCount: report.issueCount,
            workflowId: input.workflowId,
            runId: input.runId,
            quarantinedAt: new Date().toISOString(),
          },
        });
      });
    },

    /**
     * A `gs://` object (validated into the staging area): the warehouse loads it as is, on any worker. A local path (no
     * staging area, or a run validated before the validate step staged): with a staging area the file goes there first
     * (once, if the step is retried), then the warehouse loads it from there; without one the warehouse stages it.
     */
    async stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
      return step('stage', async () => {
        if (isObjectUri(input.csvPath) || stagingArea === undefined) return warehouse.stageFile(input);
        const staged = await stagingArea.put({ stagingId: input.stagingId, path: input.csvPath });
        log.info('file staged in the bucket', { stagingId: input.stagingId, uri: staged.uri, generation: staged.generation, bytes: staged.bytes, uploaded: staged.uploaded });
        return warehouse.stageFile({ stagingId: input.stagingId, csvPath: staged.uri });
      });
    },

    /** Drops the staging area (table and staged object), then the validator's normalised file it read (a 10M-row file leaves ~270 MB). */
    async dropStaging(input: { stagingId: string; normalizedPath?: string }): Promise<void> {
      await step('dropStaging', async () => {
        await warehouse.dropStaging(input.stagingId);
        await stagingArea?.remove(input.stagingId);
        if (input.normalizedPath !== undefined && isObjectUri(input.normalizedPath)) {
          // The object the validate step staged; another staging id only if the run was reset after validation.
          const other = stagedIdIn(input.normalizedPath);
          if (other !== undefined && other !== input.stagingId) await stagingArea?.remove(other);
          return;
        }
        // Only ever a file the validator wrote under the work directory.
        const path = input.normalizedPath === undefined ? undefined : resolve(input.normalizedPath);
        if (path !== undefined && path.startsWith(resolve(workDir) + sep)) await rm(path, { force: true });
      });
    },

    async replacePartitions(input: ReplaceInput) {
      return step('replace', () => warehouse.replacePartitions(input));
    },

    async revertChange(input: { changeId: string }): Promise<{ reverted: boolean }> {
      return step('revert', () => warehouse.revertChange(input.changeId));
    },

    /** The status flip: publishes the change, writes its reports, records the file as applied. */
    async publishChange(input: FileRef & { changeId: string }): Promise<
      Array<{ eventDate: string; diffCount: number }>
    > {
      return step('publish', async () => {
        const reports = await warehouse.publishChange(input.changeId);
        await warehouse.setFileOutcome({ ...input, outcome: 'applied', reason: null, changeId: input.changeId });
        await landing.moveTo({ fileId: input.fileId, area: 'processed', sha256: input.sha256 });
        return reports.map((r) => ({ eventDate: r.eventDate, diffCount: r.diffCount }));
      });
    },

    async unpublishChange(input: { changeId: string }): Promise<void> {
      await step('unpublish', () => warehouse.unpublishChange(input.changeId));
    },

    /** The alert of a file whose rollback failed: an error log line an operator is paged on, and the gauge. */
    async raiseFileAlert(input: FileRef & { workflowId: string; failedSteps: string; message: string }): Promise<void> {
      log.error(`FILE NEEDS OPERATOR: ${input.fileId}: ${input.message}; retry with: npm run cli -- rollback retry ${input.workflowId}`, { ...input });
      alerts?.fileNeedsOperator(input);
    },


    /** Records the outcome; a file refused for an older sequence is kept in `refused/`, where a replay finds it. */
    async recordOutcome(input: FileRef & { outcome: FileOutcome; reason: string | null }): Promise<void> {
      await step('record', async () => {
        await warehouse.setFileOutcome(input);
        alerts?.fileOutcome?.(input.outcome);
        if (input.outcome !== 'refused_stale') return;
        const run = Context.current().info.workflowExecution;
        await landing.moveTo({
          fileId: input.fileId,
          area: 'refused',
          sha256: input.sha256,
          report: {
            fileId: input.fileId,
            sha256: input.sha256,
            reason: `${input.reason ?? 'refused'} (npm run cli -- replay ${input.fileId})`,
            issues: [],
            issueCount: 0,
            ...(run ? { workflowId: run.workflowId, runId: run.runId } : {}),
            quarantinedAt: new Date().toISOString(),
          },
        });
      });
    },
  };
};
