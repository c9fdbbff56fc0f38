/**
 * Staging a validated file for its partition replacement: one load job into `staging_<id>` in the staging dataset,
 * whose tables expire on their own (a crashed run's leftovers go away). The source is the validator's typed Parquet
 * (or a CSV, by suffix) on local disk, sent by a resumable upload that resumes where a failed chunk stopped, or an
 * object already in a bucket (`gs://bucket/object`, put there by the file activities' staging area with a bucket
 * landing: src/files/gcs-staging.ts), which BigQuery reads itself. Not DML and not streaming: a load
 * job counts toward the 1,500 table operations per day of the staging table only.
 */
import { open, stat } from 'node:fs/promises';
import type { Job, JobMetadata } from '@google-cloud/bigquery';
import { WarehouseError } from '../port.js';
import { num } from '../core/mappers.js';
import { STAGING_FIELDS } from './schema.js';
import { STAGING_ID } from './sql.js';
import { isAlreadyExists, type BigQueryConnection } from './connection.js';

export const stagingTable = (stagingId: string): string => {
  if (!STAGING_ID.test(stagingId)) throw new WarehouseError(`invalid staging id ${JSON.stringify(stagingId)}`, 'INVARIANT');
  return `staging_${stagingId}`;
};

/** Staging tables expire this long after they are created (the replacement reads them within minutes). */
export const STAGING_EXPIRATION_MS = 24 * 3600_000;
/** Upload chunk: a multiple of 256 KiB, as resumable uploads require for every chunk but the last. */
export const UPLOAD_CHUNK_BYTES = 32 * 256 * 1024;
const UPLOAD_ATTEMPTS = 6;
const GCS_URI = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}\/[^\r\n]{1,1024}$/;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt: number): number => Math.min(8000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
const retryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

export class Staging {
  private readonly chunkBytes: number;
  private readonly fetch: typeof fetch;

  constructor(private readonly c: BigQueryConnection) {
    const chunk = c.options.upload?.chunkBytes ?? UPLOAD_CHUNK_BYTES;
    if (!Number.isInteger(chunk) || chunk <= 0 || chunk % (256 * 1024) !== 0) {
      throw new WarehouseError(`upload chunk size must be a positive multiple of 256 KiB, got ${chunk}`, 'CONFIG');
    }
    this.chunkBytes = chunk;
    this.fetch = c.options.upload?.fetch ?? fetch;
  }

  /** Creates the staging dataset (tables expire after STAGING_EXPIRATION_MS) when missing. */
  async migrate(): Promise<void> {
    const [exists] = await this.c.bq.dataset(this.c.stagingDatasetId, { location: this.c.options.location }).exists();
    if (exists) return;
    await this.c.bq
      .createDataset(this.c.stagingDatasetId, { location: this.c.options.location, defaultTableExpirationMs: String(STAGING_EXPIRATION_MS) })
      .catch((error: unknown) => {
        if (!isAlreadyExists(error)) throw error;
      });
  }

  async stageFile(input: { stagingId: string; csvPath: string }): Promise<{ rows: number }> {
    const name = stagingTable(input.stagingId);
    const source = input.csvPath;
    const parquet = /\.parquet$/i.test(source);
    const load: Record<string, unknown> = {
      destinationTable: { projectId: this.c.options.projectId, datasetId: this.c.stagingDatasetId, tableId: name },
      writeDisposition: 'WRITE_TRUNCATE',
      createDisposition: 'CREATE_IF_NEEDED',
      ...(parquet
        ? // Parquet carries its own typed schema (the validator's typed Parquet: STAGING_FIELDS' names and types).
          { sourceFormat: 'PARQUET' }
        : {
            sourceFormat: 'CSV',
            skipLeadingRows: 1,
            allowQuotedNewlines: true,
            encoding: 'UTF-8',
            schema: { fields: STAGING_FIELDS.map((f) => ({ name: f.name, type: f.type, mode: f.mode })) },
          }),
    };
    const { settings, context } = this.c.jobSettings({ role: 'stage' });
    const job: JobMetadata = {
      jobReference: { projectId: this.c.options.projectId, location: this.c.options.location, ...(settings.jobId ? { jobId: settings.jobId } : {}) },
      configuration: { labels: settings.labels, jobTimeoutMs: String(settings.jobTimeoutMs), load },
    };
    // The table first, with the staging schema (a Parquet load into a missing table needs it on the emulator; on
    // BigQuery it is the same table either way). The dataset's default expiration applies to it.
    await this.c.bq
      .dataset(this.c.stagingDatasetId, { location: this.c.options.location })
      .createTable(name, { schema: { fields: STAGING_FIELDS.map((f) => ({ name: f.name, type: f.type, mode: f.mode })) } })
      .catch((error: unknown) => {
        if (!isAlreadyExists(error)) throw error;
      });
    await this.c.hooks.beforeJob?.(`LOAD ${name} FROM ${source}`);
    await this.c.runJob(
      context,
      () => (source.startsWith('gs://') ? this.fromBucket(job, source) : this.upload(job, source)),
      (started) => started.promise(),
    );
    const [r] = await this.c.query(`SELECT COUNT(*) AS n FROM ${this.c.staged(name)}`);
    return { rows: num(r?.n) };
  }


  async dropStaging(stagingId: string): Promise<void> {
    await this.c.bq.dataset(this.c.stagingDatasetId, { location: this.c.options.location }).table(stagingTable(stagingId)).delete({ ignoreNotFound: true });
  }

  /** A load job reading an object in a bucket: nothing passes through this process. */
  private async fromBucket(job: JobMetadata, uri: string): Promise<Job> {
    if (!GCS_URI.test(uri)) throw new WarehouseError(`not a gs:// object URI: ${JSON.stringify(uri)}`, 'INVARIANT');
    const load = { ...job.configuration?.load, sourceUris: [uri] };
    try {
      const jobId = job.jobReference?.jobId;
      // The client builds the job reference itself from `jobId` and `location`.
      const [created] = await this.c.bq.createJob({
        ...(jobId ? { jobId } : {}),
        location: this.c.options.location,
        configuration: { ...job.configuration, load },
      });
      return created;
    } catch (error) {
      return this.attach(job, error);
    }
  }

  /** A job whose id exists already (this attempt sent it before): wait on that one instead of loading twice. */
  private attach(job: JobMetadata, error: unknown): Job {
    const jobId = job.jobReference?.jobId;
    if (jobId === undefined || !isAlreadyExists(error)) throw error;
    return this.c.bq.job(jobId, { location: this.c.options.location });
  }

  /**
   * A resumable upload of a local file: the job is described first, then the bytes go in chunks; a chunk that
   * fails (network, 5xx, 429) is retried after asking the server how much it holds, so a broken connection costs
   * one chunk, not the file.
   */
  private async upload(job: JobMetadata, path: string): Promise<Job> {
    const size = (await stat(path)).size;
    const base = `${this.c.bq.apiEndpoint}/upload/bigquery/v2/projects/${encodeURIComponent(this.c.options.projectId)}/jobs`;
    const session = await this.withRetries('start upload', async () => {
      const response = await this.fetch(`${base}?uploadType=resumable`, {
        method: 'POST',
        headers: {
          ...(await this.authHeaders(base)),
          'content-type': 'application/json; charset=UTF-8',
          'x-upload-content-type': 'application/octet-stream',
          'x-upload-content-length': String(size),
        },
        body: JSON.stringify(job),
      });
      if (response.status === 409) return { conflict: true as const };
      await this.check(response, 'start upload');
      const location = response.headers.get('location');
      if (!location) throw new Error('resumable upload: no session URI in the answer');
      return { conflict: false as const, location };
    });
    if (session.conflict) return this.attach(job, Object.assign(new Error('job exists'), { code: 409 }));

    const file = await open(path, 'r');
    try {
      let offset = 0;
      for (;;) {
        const end = Math.min(offset + this.chunkBytes, size);
        const chunk = Buffer.alloc(end - offset);
        await file.read(chunk, 0, chunk.length, offset);
        const answer = await this.withRetries(`upload bytes ${offset}-${end}`, async (attempt) => {
          if (attempt > 0) return this.received(session.location, size);
          const response = await this.fetch(session.location, {
            method: 'PUT',
            headers: { ...(await this.authHeaders(session.location)), 'content-range': `bytes ${offset}-${end - 1}/${size}` },
            body: chunk,
          });
          if (response.status === 308) return { resumeAt: rangeEnd(response.headers.get('range')) };
          await this.check(response, 'upload');
          return { done: (await response.json()) as JobMetadata };
        });
        if ('done' in answer) {
          const jobId = answer.done.jobReference?.jobId ?? job.jobReference?.jobId;
          if (!jobId) throw new Error('resumable upload: the answer names no job');
          return this.c.bq.job(jobId, { location: answer.done.jobReference?.location ?? this.c.options.location });
        }
        offset = answer.resumeAt;
      }
    } finally {
      await file.close();
    }
  }

  /** How many bytes the upload session holds (asked after a failed chunk), or the job if it got them all. */
  private async received(location: string, size: number): Promise<{ resumeAt: number } | { done: JobMetadata }> {
    const response = await this.fetch(location, { method: 'PUT', headers: { ...(await this.authHeaders(location)), 'content-range': `bytes */${size}` } });
    if (response.status === 308) return { resumeAt: rangeEnd(response.headers.get('range')) };
    await this.check(response, 'upload status');
    return { done: (await response.json()) as JobMetadata };
  }

  private async authHeaders(url: string): Promise<Record<string, string>> {
    const headers = await this.c.bq.authClient.getRequestHeaders(url);
    return Object.fromEntries(headers.entries());
  }

  private async check(response: Response, what: string): Promise<void> {
    if (response.ok) return;
    const text = await response.text().catch(() => '');
    throw Object.assign(new Error(`${what}: HTTP ${response.status} ${text.slice(0, 500)}`), { code: response.status });
  }

  /** Retries network failures and retryable HTTP answers; `attempt` (0 first) lets a retry ask for state first. */
  private async withRetries<T>(what: string, work: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work(attempt);
      } catch (error) {
        const status = (error as { code?: unknown }).code;
        const retryable = typeof status === 'number' ? retryableStatus(status) : !(error instanceof WarehouseError);
        if (!retryable || attempt + 1 >= UPLOAD_ATTEMPTS) throw error;
        await sleep(backoff(attempt));
      }
    }
  }
}

/** The next byte to send after a 308's `Range: bytes=0-N` (none: nothing received yet). */
const rangeEnd = (range: string | null): number => {
  const m = /bytes=0-(\d+)/.exec(range ?? '');
  return m ? Number(m[1]) + 1 : 0;
};
