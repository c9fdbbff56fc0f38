/**
 * Activities of the operating workflows (landing watcher, daily reconciliation watch, alerts). Thin: each
 * calls the landing, the warehouse or the Temporal client and returns ids, statuses and counts.
 */
import { ApplicationFailure, log } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { businessDateOfInstant } from '../domain/dates.js';
import { intakeInput } from '../files/intake.js';
import type { Landing, LandingArea } from '../files/landing.js';
import { startFileWorkflow } from './start-file.js';
import type { Warehouse } from '../warehouse/port.js';
import { fileLandedSignal, REPLAYABLE_AREAS, searchAttributes, workflowIds, type FileLanded } from '../domain/workflow-api.js';

export interface OpsActivityDeps {
  /** Starts file workflows, signals daily workflows, reads their state. */
  client: Client;
  warehouse: Warehouse;
  landing: Landing;
  /** Task queue the file workflows run on (the worker's own). */
  taskQueue: string;
  timeZone: string;
  alertWebhookUrl?: string;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface LandedFile extends FileLanded {
  sequence: number;
}

export interface ScanResult {
  /** `<fileId>/<sha256>` of every file now ready in the landing area. */
  ready: string[];
  started: LandedFile[];
  /** Deliveries of a file that already ran: recorded in quarantine with the reason, not run. */
  duplicates: Array<{ fileId: string; sha256: string; workflowId: string; reason: string }>;
  today: string;
}

export type FileRunStatus = 'running' | 'applied' | 'duplicate' | 'failed' | 'not_found';

export interface FileRunState {
  status: FileRunStatus;
  stage: string | null;
  reason: string | null;
  /** When the file was registered (received) by its workflow, from the registry. */
  receivedAt: string | null;
}

export interface AlertInput {
  clientId: string;
  date: string;
  event: 'late' | 'resolved';
  deadline: string;
  workflowId: string;
  message: string;
  fileId?: string;
  lateByMs?: number;
}

const fileKey = (fileId: string, sha256: string): string => `${fileId}/${sha256}`;

/** The innermost message of a failure chain (workflow failure → activity failure → cause). */
const rootMessage = (error: unknown): string => {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
};

export const createOpsActivities = ({
  client,
  warehouse,
  landing,
  taskQueue,
  timeZone,
  alertWebhookUrl,
  fetch: fetchImpl = fetch,
  now = Date.now,
}: OpsActivityDeps) => {
  /** Stored deliveries of a file id (processed, then refused, then quarantined; newest first), in a directory or a bucket. */
  const storedDeliveries = async (fileId: string): Promise<Array<{ area: LandingArea; sha256: string }>> => {
    const found: Array<{ area: LandingArea; sha256: string; at: string }> = [];
    for (const area of REPLAYABLE_AREAS) {
      for (const dir of await landing.listStored(fileId, area)) {
        const text = await landing.readManifest(fileId, { area, sha256: dir });
        if (text === null) continue;
        try {
          const manifest = JSON.parse(text) as { sha256?: unknown; created_at?: unknown };
          if (typeof manifest.sha256 === 'string') {
            found.push({ area, sha256: manifest.sha256, at: typeof manifest.created_at === 'string' ? manifest.created_at : '' });
          }
        } catch {
          // A stored manifest that does not parse cannot be replayed; skip it.
        }
      }
    }
    const rank = (area: LandingArea): number => REPLAYABLE_AREAS.indexOf(area);
    return found.sort((a, b) => rank(a.area) - rank(b.area) || b.at.localeCompare(a.at));
  };

  return {
    /**
     * One look at the landing area: every ready file not seen before is started as a file workflow under its
     * business key; a delivery of a file that already ran is refused by Temporal, recorded and moved aside.
     * Reconciliations are announced to their date's daily workflow.
     */
    async scanLanding(input: { clientId: string; seen: string[] }): Promise<ScanResult> {
      const seen = new Set(input.seen);
      const today = businessDateOfInstant(now(), timeZone);
      const result: ScanResult = { ready: [], started: [], duplicates: [], today };
      for (const file of await landing.listReady()) {
        const intake = await intakeInput({ landing, fileId: file.fileId, clientId: input.clientId, today });
        const key = fileKey(intake.fileId, intake.sha256);
        result.ready.push(key);
        if (seen.has(key)) continue;
        const started = await startFileWorkflow(client, taskQueue, intake);
        if (started.started) {
          log.info('file started', { fileId: intake.fileId, workflowId: started.workflowId, kind: intake.kind, covers: intake.covers });
          const landed: LandedFile = {
            fileId: intake.fileId,
            sha256: intake.sha256,
            kind: intake.kind === 'unknown' ? 'reconciliation' : intake.kind,
            covers: intake.covers,
            workflowId: started.workflowId,
            sequence: intake.sequence,
          };
          result.started.push(landed);
          if (intake.kind === 'reconciliation') {
            for (const date of intake.covers) {
              await client.workflow
                .getHandle(workflowIds.daily(input.clientId, date))
                .signal(fileLandedSignal, landed)
                .catch((error: unknown) => {
                  // No daily workflow waits for that date (an old date, or the schedule has not fired yet).
                  if (!(error instanceof WorkflowNotFoundError)) throw error;
                });
            }
          }
          continue;
        }
        // Started by an earlier watcher run and still running: in progress, not a duplicate. A describe() that
        // fails says nothing (unknown, not "not running"): the file is left where it is and looked at next scan.
        const running = await client.workflow
          .getHandle(started.workflowId)
          .describe()
          .then(
            (d) => d.status.name === 'RUNNING',
            (error: unknown) => (error instanceof WorkflowNotFoundError ? false : 'unknown'),
          );
        if (running === 'unknown') {
          log.warn('could not tell whether the file workflow runs; looking again next scan', { fileId: intake.fileId, workflowId: started.workflowId });
          result.ready.pop();
          continue;
        }
        if (running) continue;
        const reason = `duplicate delivery: ${started.workflowId} already processed this file (same id and sha256)`;
        log.warn('duplicate delivery refused', { fileId: intake.fileId, sha256: intake.sha256, workflowId: started.workflowId });
        await landing.moveTo({
          fileId: intake.fileId,
          area: 'quarantine',
          sha256: intake.sha256,
          report: {
            fileId: intake.fileId,
            sha256: intake.sha256,
            reason,
            issues: [],
            issueCount: 0,
            workflowId: started.workflowId,
            quarantinedAt: new Date(now()).toISOString(),
          },
        });
        result.ready.pop();
        result.duplicates.push({ fileId: intake.fileId, sha256: intake.sha256, workflowId: started.workflowId, reason });
      }
      return result;
    },

    /** Operator replay: finds the kept delivery of a file and starts it again as a replay. */
    async startReplay(input: {
      clientId: string;
      fileId: string;
      sha256?: string;
      requestId: string;
    }): Promise<{ started: boolean; workflowId: string | null; reason: string }> {
      const deliveries = await storedDeliveries(input.fileId);
      const wanted = input.sha256?.toLowerCase();
      const pick = wanted
        ? (deliveries.find((d) => d.sha256.startsWith(wanted)) ?? (wanted.length === 64 ? { area: 'processed' as const, sha256: wanted } : undefined))
        : deliveries[0];
      if (!pick || (await landing.readManifest(input.fileId, pick)) === null) {
        return { started: false, workflowId: null, reason: `no stored delivery of ${input.fileId}${wanted ? ` with sha256 ${wanted}` : ''}` };
      }
      const intake = await intakeInput({
        landing,
        fileId: input.fileId,
        clientId: input.clientId,
        from: pick,
        replay: true,
        today: businessDateOfInstant(now(), timeZone),
      });
      const started = await startFileWorkflow(client, taskQueue, intake, input.requestId);
      log.info('replay requested', { fileId: input.fileId, sha256: pick.sha256, workflowId: started.workflowId, started: started.started });
      return started.started
        ? { started: true, workflowId: started.workflowId, reason: `replaying ${pick.area} delivery ${pick.sha256.slice(0, 12)}` }
        : { started: false, workflowId: started.workflowId, reason: started.reason };
    },

    /** The reconciliation state of a date from the partition ledger: final once a file has been applied. */
    async checkReconciliation(input: { date: string }): Promise<{
      final: boolean;
      status: string;
      fileId: string | null;
      version: number;
      updatedAt: string | null;
    }> {
      const [partition] = await warehouse.getPartitions([input.date]);
      return {
        final: partition !== undefined && partition.status !== 'provisional' && partition.fileId !== null,
        status: partition?.status ?? 'provisional',
        fileId: partition?.fileId ?? null,
        version: partition?.version ?? 0,
        updatedAt: partition?.updatedAt ?? null,
      };
    },

    /** Where a file workflow is: running, applied, or failed with its reason (rejected files stay failed). */
    async fileRunState(input: { workflowId: string; fileId: string; sha256: string }): Promise<FileRunState> {
      const handle = client.workflow.getHandle(input.workflowId);
      const entry = await warehouse.getFile(input.fileId, input.sha256);
      const receivedAt = entry?.receivedAt ?? null;
      let description;
      try {
        description = await handle.describe();
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return { status: 'not_found', stage: null, reason: null, receivedAt };
        throw error;
      }
      const stageValue = description.typedSearchAttributes.get(searchAttributes.Stage) ?? null;
      switch (description.status.name) {
        case 'RUNNING':
        case 'CONTINUED_AS_NEW':
          return { status: 'running', stage: stageValue, reason: null, receivedAt };
        case 'COMPLETED': {
          const result = (await handle.result()) as { outcome?: string };
          return { status: result.outcome === 'duplicate' ? 'duplicate' : 'applied', stage: stageValue, reason: null, receivedAt };
        }
        default: {
          const reason = await handle.result().then(
            () => description.status.name,
            (error: unknown) => rootMessage(error),
          );
          return { status: 'failed', stage: stageValue, reason, receivedAt };
        }
      }
    },

    /**
     * The late-file alert's log line (the webhook is `postAlert`). The `pipeline_files_late` gauge is counted from
     * the `LateFile` search attribute (src/ops/late-files.ts), so it is the same whichever worker ran this.
     */
    async recordLateFile(input: AlertInput): Promise<void> {
      if (input.event === 'late') log.error(`LATE FILE: ${input.message}`, { ...input });
      else log.info(`late file arrived: ${input.message}`, { ...input });
    },

    /** POSTs the alert to ALERT_WEBHOOK_URL (JSON; Slack-style `text` included). Retried by the workflow's policy. */
    async postAlert(input: AlertInput): Promise<{ posted: boolean; status?: number }> {
      if (!alertWebhookUrl) return { posted: false };
      const response = await fetchImpl(alertWebhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: input.message, ...input }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        throw ApplicationFailure.nonRetryable(`alert webhook answered ${response.status}`, 'WebhookRejected');
      }
      if (!response.ok) throw new Error(`alert webhook answered ${response.status}`);
      return { posted: true, status: response.status };
    },
  };
};
