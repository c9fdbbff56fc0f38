/**
 * The staging area in the landing bucket: `<prefix>staging/<stagingId>.parquet`, the validator's typed Parquet put
 * there for a BigQuery load job to read itself (load jobs from Cloud Storage cost nothing, and a retried load sends
 * no bytes again). The staging id is the file workflow run's, so each object has one writer.
 *
 * `put` looks first: the same size and MD5 already there (an earlier attempt's upload) is used as is. Otherwise it
 * uploads with `ifGenerationMatch: 0` (create only); an object with other bytes under the name (never written by this
 * run's file) is deleted at its generation first. Cloud Storage shows an object only once its upload is complete, and
 * the object is read back (size, MD5, generation) before the load job is sent, so the load never reads half a file.
 * `remove` runs with the staging table's drop; `sweep` (at worker start) and a bucket lifecycle rule on the prefix
 * delete what a crashed run left (docs/gcs.md).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Bucket, File } from '@google-cloud/storage';
import type { StagedObject, StagingArea } from './staging-area.js';

/** Staged objects older than this are leftovers: a staging table expires after the same time (24 hours). */
export const STAGED_OBJECT_MAX_AGE_MS = 24 * 3600_000;
/** Uploads above this size are resumable (a broken connection resumes); smaller ones are one request. */
const RESUMABLE_FROM_BYTES = 8 * 1024 * 1024;
const STAGING_ID = /^[A-Za-z0-9_]{1,100}$/;

const status = (error: unknown): number | undefined => (error as { code?: number }).code;

/** MD5 of a local file, base64 as Cloud Storage reports `md5Hash`. */
const md5Of = async (path: string): Promise<string> => {
  const hash = createHash('md5');
  await pipeline(createReadStream(path), hash);
  return hash.digest('base64');
};

interface ObjectState {
  generation: string;
  bytes: number;
  md5: string | undefined;
}

const stateOf = async (file: File): Promise<ObjectState | null> => {
  try {
    const [m] = await file.getMetadata();
    return { generation: String(m.generation), bytes: Number(m.size), md5: m.md5Hash };
  } catch (error) {
    if (status(error) === 404) return null;
    throw error;
  }
};

export class GcsStagingArea implements StagingArea {
  readonly location: string;

  /** `prefix`: the staging folder itself, ending in `/` (the worker uses `<LANDING_PREFIX>staging/`). */
  constructor(
    private readonly bucket: Bucket,
    private readonly prefix: string,
  ) {
    if (prefix !== '' && !prefix.endsWith('/')) throw new Error(`the staging prefix must end in /: ${JSON.stringify(prefix)}`);
    this.location = `gs://${bucket.name}/${prefix}`;
  }

  private object(stagingId: string): File {
    if (!STAGING_ID.test(stagingId)) throw new Error(`invalid staging id ${JSON.stringify(stagingId)}`);
    return this.bucket.file(`${this.prefix}${stagingId}.parquet`);
  }

  async put(input: { stagingId: string; path: string }): Promise<StagedObject> {
    if (!input.path.endsWith('.parquet')) throw new Error(`the bucket stages the validator's Parquet only, not ${JSON.stringify(input.path)}`);
    const file = this.object(input.stagingId);
    const uri = `gs://${this.bucket.name}/${file.name}`;
    const [{ size: bytes }, md5] = await Promise.all([stat(input.path), md5Of(input.path)]);
    const whole = (s: ObjectState | null): boolean => s !== null && s.bytes === bytes && s.md5 === md5;

    const before = await stateOf(file);
    if (before !== null && whole(before)) return { uri, generation: before.generation, bytes, uploaded: false };
    if (before !== null) await file.delete({ ifGenerationMatch: before.generation } as never).catch((e: unknown) => {
      if (status(e) !== 404 && status(e) !== 412) throw e;
    });
    try {
      await this.bucket.upload(input.path, {
        destination: file,
        resumable: bytes >= RESUMABLE_FROM_BYTES,
        preconditionOpts: { ifGenerationMatch: 0 },
        validation: 'md5',
        metadata: { contentType: 'application/vnd.apache.parquet' },
      });
    } catch (error) {
      // 412: another attempt of this step created it meanwhile; it is checked below like our own.
      if (status(error) !== 412) throw error;
    }
    const after = await stateOf(file);
    if (after === null || !whole(after)) {
      throw new Error(`staged object ${uri} is not the file that was put (${after === null ? 'missing' : `${after.bytes} bytes, md5 ${after.md5 ?? 'none'}`}; expected ${bytes} bytes, md5 ${md5})`);
    }
    return { uri, generation: after.generation, bytes, uploaded: true };
  }

  async remove(stagingId: string): Promise<void> {
    await this.object(stagingId).delete({ ignoreNotFound: true });
  }

  async sweep(input: { olderThanMs: number; now?: number }): Promise<{ deleted: string[] }> {
    const cutoff = (input.now ?? Date.now()) - input.olderThanMs;
    const [files] = await this.bucket.getFiles({ prefix: this.prefix, autoPaginate: true });
    const deleted: string[] = [];
    for (const file of files) {
      const created = Date.parse(String(file.metadata.timeCreated ?? ''));
      if (!Number.isFinite(created) || created >= cutoff) continue;
      // At the generation listed: an object written again since is a live run's and stays.
      await file.delete({ ifGenerationMatch: file.metadata.generation } as never).then(
        () => deleted.push(file.name),
        (e: unknown) => {
          if (status(e) !== 404 && status(e) !== 412) throw e;
        },
      );
    }
    return { deleted };
  }
}
