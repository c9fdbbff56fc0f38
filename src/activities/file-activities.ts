/**
 * Activities of the file workflow. Thin: each calls a port (landing, validator, warehouse) and returns a
 * small result; rows never travel through workflow history, only paths, ids and counts.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { formatIssue, type FileKind } from '../domain/contract.js';
import type { Landing } from '../files/landing.js';
import { validateFile } from '../files/validate.js';
import type { FileOutcome, ReplaceInput, Warehouse } from '../warehouse/port.js';
import { classified } from './errors.js';

/** Test hook: lets a test fail or stall a chosen step. Production injects nothing. */
export interface FaultInjector {
  before(step: string, attempt: number): Promise<void>;
}

export interface FileActivityDeps {
  warehouse: Warehouse;
  landing: Landing;
  workDir: string;
  faults?: FaultInjector;
}

interface FileRef {
  fileId: string;
  sha256: string;
}

export const createFileActivities = ({ warehouse, landing, workDir, faults }: FileActivityDeps) => {
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    await faults?.before(name, Context.current().info.attempt);
    return classified(work);
  };

  return {
    async registerFile(input: FileRef & {
      clientId: string;
      kind: FileKind;
      covers: string[];
      sequence: number;
      dataName: string;
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
          dataPath: input.dataName,
          workflowId: input.workflowId,
          runId: input.runId,
          replay: input.replay,
        });
        return { alreadyApplied: entry.outcome === 'applied', workflowId: entry.workflowId, changeId: entry.changeId };
      });
    },

    async validateFile(input: FileRef & { dataName: string; manifestName: string }): Promise<
      | { ok: true; normalizedCsvPath: string; rows: number }
      | { ok: false; issueCount: number; summary: string; reportPath: string }
    > {
      return step('validate', async () => {
        const ctx = Context.current();
        const dir = join(workDir, input.fileId, input.sha256.slice(0, 12));
        await mkdir(dir, { recursive: true });
        const result = await validateFile({
          dataPath: await landing.localPath(input.dataName),
          dataName: input.dataName,
          manifestText: await landing.readText(input.manifestName),
          manifestName: input.manifestName,
          workDir: dir,
          onProgress: (p) => ctx.heartbeat(p),
        });
        if (result.ok) return { ok: true, normalizedCsvPath: result.normalizedCsvPath, rows: result.rows };
        const reportPath = join(dir, 'error-report.json');
        await writeFile(reportPath, JSON.stringify({ file: input.dataName, issueCount: result.issueCount, issues: result.issues }, null, 2));
        const first = result.issues.slice(0, 3).map(formatIssue).join('; ');
        return { ok: false, issueCount: result.issueCount, summary: `${result.issueCount} problem(s); ${first}`, reportPath };
      });
    },

    /** Keeps a rejected file and its error report in quarantine and records the rejection. */
    async rejectFile(input: FileRef & { dataName: string; manifestName: string; reportPath: string }): Promise<void> {
      await step('reject', async () => {
        const report = JSON.parse(await readFile(input.reportPath, 'utf8')) as {
          issueCount: number;
          issues: Parameters<typeof formatIssue>[0][];
        };
        await warehouse.setFileOutcome({
          ...input,
          outcome: 'rejected',
          reason: `${report.issueCount} problem(s): ${report.issues.slice(0, 3).map(formatIssue).join('; ')}`,
          errors: report.issues,
        });
        await landing.quarantine([input.dataName, input.manifestName], input.reportPath);
      });
    },

    async stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
      return step('stage', () => warehouse.stageFile(input));
    },

    async dropStaging(input: { stagingId: string }): Promise<void> {
      await step('dropStaging', () => warehouse.dropStaging(input.stagingId));
    },

    async replacePartitions(input: ReplaceInput) {
      return step('replace', () => warehouse.replacePartitions(input));
    },

    async revertChange(input: { changeId: string }): Promise<{ reverted: boolean }> {
      return step('revert', () => warehouse.revertChange(input.changeId));
    },

    /** The status flip: publishes the change, writes its reports, records the file as applied. */
    async publishChange(input: FileRef & { changeId: string; dataName: string; manifestName: string }): Promise<
      Array<{ eventDate: string; diffCount: number }>
    > {
      return step('publish', async () => {
        const reports = await warehouse.publishChange(input.changeId);
        await warehouse.setFileOutcome({ ...input, outcome: 'applied', reason: null, changeId: input.changeId });
        await landing.markProcessed([input.dataName, input.manifestName]);
        return reports.map((r) => ({ eventDate: r.eventDate, diffCount: r.diffCount }));
      });
    },

    async unpublishChange(input: { changeId: string }): Promise<void> {
      await step('unpublish', () => warehouse.unpublishChange(input.changeId));
    },

    async recordOutcome(input: FileRef & { outcome: FileOutcome; reason: string | null }): Promise<void> {
      await step('record', () => warehouse.setFileOutcome(input));
    },
  };
};
