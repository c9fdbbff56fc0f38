/**
 * The BigQuery connection every role of the adapter shares: the client, the dataset, table references, and how a
 * statement or script becomes a job (labels, timeout, a deterministic id per activity attempt, cancellation), the
 * transaction scripts behind the write fence, and the bounded retries of a concurrent update.
 */
import { BigQuery, type Dataset, type Job, type Query } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import { jobIdOf, labelValue, nextJob } from '../job-context.js';
import { WarehouseError, type WarehouseHooks } from '../port.js';
import type { Row } from '../core/mappers.js';
import type { StreamPathOptions } from './stream-sink.js';
import { DATASET_ID, GUARD_MARKER, LOCATION, PROJECT_ID, bindLiterals, type ParamType, type Params, type Statement } from './sql.js';

export interface BigQueryWarehouseOptions {
  projectId: string;
  datasetId: string;
  /** Dataset and job location, e.g. 'EU' or 'europe-west1'. */
  location: string;
  /** A local emulator's base URL (http://127.0.0.1:PORT); production uses Application Default Credentials. */
  apiEndpoint?: string;
  /** Diffs stored per date in a reconciliation report; the rest are counted. */
  maxReportDiffs?: number;
  /** Labels on every job (e.g. `{ client: 'acme' }`); workflow id, step and attempt come from the job context. */
  labels?: Record<string, string>;
  /** The longest a job may run before BigQuery cancels it (default 10 minutes). */
  jobTimeoutMs?: number;
  /** Attempts at a write that hits a concurrent update before giving up with a retryable error (default 6). */
  maxAttempts?: number;
  hooks?: WarehouseHooks;
  /** The client to send jobs through instead of one built from the settings above (tests pass a recording fake). */
  client?: BigQuery;
  /** Resumable uploads of staged files: chunk size (a multiple of 256 KiB) and the HTTP client (tests inject faults). */
  upload?: { chunkBytes?: number; fetch?: typeof fetch };
  /**
   * Stream writes through the Storage Write API and periodic classification (docs/bigquery-cost.md) instead of one
   * DML script per batch. Left out: the DML path.
   */
  streamSink?: Omit<StreamPathOptions, 'projectId' | 'datasetId' | 'location'>;
}

/** What every job carries: a timeout, labels, and an id when a job context gives one. */
export interface JobSettings {
  jobTimeoutMs: number;
  labels: Record<string, string>;
  jobId?: string;
}
type JobScope = ReturnType<typeof nextJob>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Only the parameters a statement names (BigQuery is strict about parameter lists in some modes). */
const usedParams = (sql: string, params: Params): Params =>
  Object.fromEntries(Object.entries(params).filter(([name]) => new RegExp(`@${name}\\b`).test(sql)));

export class BigQueryConnection {
  readonly bq: BigQuery;
  readonly dataset: Dataset;
  readonly maxReportDiffs: number;
  readonly hooks: WarehouseHooks;
  private readonly labels: Record<string, string>;
  private readonly jobTimeoutMs: number;
  private readonly maxAttempts: number;

  constructor(readonly options: BigQueryWarehouseOptions) {
    if (!PROJECT_ID.test(options.projectId)) throw new WarehouseError(`invalid BigQuery project id ${JSON.stringify(options.projectId)}`, 'CONFIG');
    if (!DATASET_ID.test(options.datasetId)) throw new WarehouseError(`invalid BigQuery dataset id ${JSON.stringify(options.datasetId)}`, 'CONFIG');
    if (!LOCATION.test(options.location)) throw new WarehouseError(`invalid BigQuery location ${JSON.stringify(options.location)}`, 'CONFIG');
    if (options.apiEndpoint !== undefined && !/^https?:\/\/[A-Za-z0-9.[\]:-]+\/?$/.test(options.apiEndpoint)) {
      throw new WarehouseError(`invalid BigQuery apiEndpoint ${JSON.stringify(options.apiEndpoint)}`, 'CONFIG');
    }
    this.maxReportDiffs = options.maxReportDiffs ?? 1000;
    this.hooks = options.hooks ?? {};
    this.labels = Object.fromEntries(Object.entries(options.labels ?? {}).map(([k, v]) => [labelValue(k), labelValue(v)]));
    this.jobTimeoutMs = options.jobTimeoutMs ?? 600_000;
    this.maxAttempts = options.maxAttempts ?? 6;
    if (options.client) {
      this.bq = options.client;
    } else if (options.apiEndpoint) {
      // An emulator needs no credentials; a fixed token keeps the client from looking for real ones.
      const authClient = new OAuth2Client();
      authClient.setCredentials({ access_token: 'emulator' });
      this.bq = new BigQuery({ projectId: options.projectId, location: options.location, apiEndpoint: options.apiEndpoint, authClient });
    } else {
      this.bq = new BigQuery({ projectId: options.projectId, location: options.location });
    }
    this.dataset = this.bq.dataset(options.datasetId, { location: options.location });
  }

  /** Fully qualified, quoted table reference; the parts were validated in the constructor. */
  t(name: string): string {
    return `\`${this.options.projectId}.${this.options.datasetId}.${name}\``;
  }

  /** Staged files live in their own dataset, whose tables expire (staging.ts). */
  get stagingDatasetId(): string {
    return `${this.options.datasetId}_staging`;
  }

  /** Fully qualified, quoted reference of a staging table. */
  staged(name: string): string {
    return `\`${this.options.projectId}.${this.stagingDatasetId}.${name}\``;
  }

  /**
   * Runs one statement or script as a query job and returns its rows. Every job carries the configured labels plus
   * the caller's workflow id, step and attempt, a timeout, and (inside a job context) an id that is the same each
   * time this attempt sends its n-th job; it is cancelled when the context's signal aborts.
   */
  async query(sql: string, params: Params = {}, labels: Record<string, string> = {}): Promise<Row[]> {
    const used = usedParams(sql, params);
    const names = Object.keys(used);
    const { settings, context } = this.jobSettings(labels);
    const request: Query = { query: sql, useLegacySql: false, location: this.options.location, ...settings };
    if (names.length > 0) {
      request.params = Object.fromEntries(names.map((n) => [n, used[n]?.value]));
      // The client's QueryParamTypes cannot express a map of named types; its runtime accepts exactly this shape.
      request.types = Object.fromEntries(names.map((n) => [n, used[n]?.type])) as Record<string, ParamType> as unknown as NonNullable<Query['types']>;
    }
    await this.hooks.beforeJob?.(sql);
    return this.runJob(context, () => this.createOrAttach(request), async (job) => (await job.getQueryResults())[0] as Row[]);
  }

  /**
   * Labels, timeout and id of the next job. The id comes from the job context (`<workflow>-<step>-<attempt>-<n>`);
   * outside one, BigQuery picks a random id.
   */
  jobSettings(labels: Record<string, string> = {}): { settings: JobSettings; context: JobScope } {
    const context = nextJob();
    const settings: JobSettings = {
      jobTimeoutMs: this.jobTimeoutMs,
      labels: {
        ...this.labels,
        ...Object.fromEntries(Object.entries(labels).map(([k, v]) => [labelValue(k), labelValue(v)])),
        ...(context ? { workflow_id: labelValue(context.workflowId), step: labelValue(context.step), attempt: String(context.attempt) } : {}),
      },
      ...(context ? { jobId: jobIdOf(context) } : {}),
    };
    return { settings, context };
  }

  /**
   * Starts a job whose settings `jobSettings` just gave and waits for it: first for the same job of the previous
   * attempt if it still runs (a retried activity never runs the same DML beside its predecessor), and cancelling it
   * when the context's signal aborts.
   */
  async runJob<T>(context: JobScope, start: () => Promise<Job>, wait: (job: Job) => Promise<T>): Promise<T> {
    context?.signal?.throwIfAborted();
    if (context && context.attempt > 1) await this.awaitJob(jobIdOf({ ...context, attempt: context.attempt - 1 }));
    const job = await start();
    const cancel = (): void => void job.cancel().catch(() => undefined);
    context?.signal?.addEventListener('abort', cancel, { once: true });
    try {
      return await wait(job);
    } finally {
      context?.signal?.removeEventListener('abort', cancel);
    }
  }

  /** Waits until the job of this id (if any) is done, whatever its outcome. */
  private async awaitJob(jobId: string): Promise<void> {
    const job = this.bq.job(jobId, { location: this.options.location });
    for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
      const [metadata] = await job.getMetadata().catch(() => [undefined]);
      const state = (metadata as { status?: { state?: string } } | undefined)?.status?.state;
      if (state === undefined || state === 'DONE') return;
      await sleep(delay);
    }
  }

  /** Creates the job, or attaches to the job of the same id that a previous try of this attempt started. */
  private async createOrAttach(request: Query): Promise<Job> {
    try {
      const [job] = await this.bq.createQueryJob(request);
      return job;
    } catch (error) {
      if (request.jobId === undefined || !isAlreadyExists(error)) throw error;
      return this.bq.job(request.jobId, { location: this.options.location });
    }
  }

  /**
   * Runs statements as one transaction script: the write fence first, so concurrent writers conflict and are
   * retried instead of interleaving. The script carries its values as validated literals (`bindLiterals`), never
   * as parameters: the same script runs on BigQuery and on the emulator, which binds no parameters in scripts.
   */
  async transaction(statements: Statement[], beforeCommit?: () => Promise<void>): Promise<void> {
    const all: Statement[] = [
      { sql: `UPDATE ${this.t('write_fence')} SET touched_at = CURRENT_TIMESTAMP() WHERE id = 1`, params: {} },
      ...statements,
    ];
    const merged: Params = {};
    for (const s of all) {
      for (const [name, param] of Object.entries(usedParams(s.sql, s.params))) {
        const existing = merged[name];
        if (existing && JSON.stringify(existing) !== JSON.stringify(param)) {
          throw new WarehouseError(`parameter @${name} has two values in one transaction`, 'INVARIANT');
        }
        merged[name] = param;
      }
    }
    const script = ['BEGIN TRANSACTION', ...all.map((s) => bindLiterals(s.sql, merged)), 'COMMIT TRANSACTION'].join(';\n') + ';';
    // A script cannot be held open from the client: the hook runs once everything is decided, before it is sent.
    await beforeCommit?.();
    await this.query(script);
  }

  /** Re-runs a read-decide-write operation when BigQuery reports a concurrent update or a guard saw moved state. */
  async retrying<T>(what: string, work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!isTransient(error)) throw error;
        if (attempt >= this.maxAttempts) {
          // A plain Error: Temporal retries the activity with its own policy.
          throw new Error(`${what}: still conflicting after ${attempt} attempts: ${errorMessage(error)}`, { cause: error });
        }
        const ceiling = Math.min(8000, 250 * 2 ** (attempt - 1));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
  }
}

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const isAlreadyExists = (error: unknown): boolean => (error as { code?: number }).code === 409;

const TRANSIENT_REASONS = new Set(['backendError', 'internalError', 'rateLimitExceeded', 'jobRateLimitExceeded', 'jobBackendError']);

/**
 * Worth another attempt: a concurrent DML or transaction conflict, a guard of ours that saw moved state, or a
 * transient service error. BigQuery reports serialisation conflicts with reason 'invalidQuery' like any SQL error,
 * so its documented message is the only signal.
 */
export const isTransient = (error: unknown): boolean => {
  if (error instanceof WarehouseError) return false;
  const e = error as { code?: number; message?: string; errors?: Array<{ reason?: string; message?: string }> };
  const messages = [e.message ?? '', ...(e.errors ?? []).map((x) => x.message ?? '')].join('\n');
  if (messages.includes(GUARD_MARKER)) return true;
  if (/could not serialize access|concurrent update|transaction is aborted/i.test(messages)) return true;
  if ((e.errors ?? []).some((x) => x.reason !== undefined && TRANSIENT_REASONS.has(x.reason))) return true;
  return e.code === 429 || e.code === 500 || e.code === 502 || e.code === 503;
};
