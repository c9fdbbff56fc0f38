/**
 * The landing area in a Google Cloud Storage bucket (or a GCS-compatible server, addressed with `apiEndpoint`).
 *
 * A delivery is the pair `<prefix><file_id>.csv[.gz]` + `<prefix><file_id>.manifest.json`, the manifest written
 * last; its identity is bucket/object, the data object's generation and the sha256 of its bytes. Opening a
 * delivery first copies that exact generation (server-side, `ifSourceGenerationMatch`) to
 * `<prefix>.deliveries/<file_id>/<generation>/` and reads from the copy, so an object overwritten while the file is
 * processed never mixes into it: the run works on one generation from start to end, and the new generation stays in
 * place as a new delivery (its sha256 differs, so its workflow id does too). Moves copy, then delete the incoming
 * object only if it still is the generation that was processed. Processed and quarantined deliveries are kept at
 * `<prefix><area>/<file_id>/<sha12>/`, where replays read them.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Storage, type Bucket, type File } from '@google-cloud/storage';
import type { Landing, LandingArea, QuarantineReport, ReadyFile, StoredIn } from './landing.js';

const DATA_SUFFIXES = ['.csv', '.csv.gz'] as const;
const MANIFEST_SUFFIX = '.manifest.json';

export interface GcsLandingOptions {
  bucket: string;
  /** Folder inside the bucket, e.g. `acme/incoming/` (empty: the bucket's root). */
  prefix?: string;
  /** A GCS-compatible server (`http://127.0.0.1:4443`); unset: Google Cloud Storage with default credentials. */
  apiEndpoint?: string;
  projectId?: string;
  /** Scratch space for downloaded data files. */
  tmpDir?: string;
}

/** What a delivery was when it was opened: the generations it was read at and the sha256 of its bytes. */
interface Claim {
  bucket: string;
  dataName: string;
  dataGeneration: string;
  manifestGeneration: string | null;
  sha256: string;
}

const status = (error: unknown): number | undefined => (error as { code?: number }).code;
const ignoreGone = (error: unknown): void => {
  // 404: already moved; 412: the object is another generation now (a new delivery): leave it.
  if (status(error) !== 404 && status(error) !== 412) throw error;
};

const generationOf = async (file: File): Promise<string | null> => {
  try {
    const [metadata] = await file.getMetadata();
    return String(metadata.generation);
  } catch (error) {
    if (status(error) === 404) return null;
    throw error;
  }
};

/**
 * Deletes the object only if it still is that generation. The precondition makes GCS itself refuse a newer one;
 * the look before it does the same on local servers that ignore preconditions on delete (fake-gcs-server 1.56).
 */
const deleteIfGeneration = async (file: File, generation: string): Promise<void> => {
  if ((await generationOf(file)) !== generation) return;
  await file.delete({ ifGenerationMatch: generation } as never).catch(ignoreGone);
};

export class GcsLanding implements Landing {
  readonly location: string;
  readonly bucket: Bucket;
  private readonly prefix: string;

  constructor(private readonly options: GcsLandingOptions) {
    this.prefix = options.prefix ?? '';
    this.location = `gs://${options.bucket}/${this.prefix}`;
    const storage = new Storage({
      ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
      ...(options.projectId ? { projectId: options.projectId } : {}),
    });
    this.bucket = storage.bucket(options.bucket);
  }

  private incoming(name: string): File {
    return this.bucket.file(`${this.prefix}${name}`);
  }

  private stored(fileId: string, from: Exclude<StoredIn, 'incoming'>, name: string): File {
    return this.bucket.file(`${this.prefix}${from.area}/${fileId}/${from.sha256.slice(0, 12)}/${name}`);
  }

  private claimFile(fileId: string, sha256: string): File {
    return this.bucket.file(`${this.prefix}.deliveries/${fileId}/${sha256.slice(0, 12)}.json`);
  }

  async listReady(): Promise<ReadyFile[]> {
    // Only the incoming level: kept deliveries live under sub-folders.
    const [files] = await this.bucket.getFiles({ prefix: this.prefix, delimiter: '/', autoPaginate: true });
    const byName = new Map(files.map((f) => [f.name.slice(this.prefix.length), f]));
    const ready: ReadyFile[] = [];
    for (const [name, manifest] of byName) {
      if (!name.endsWith(MANIFEST_SUFFIX)) continue;
      const fileId = name.slice(0, -MANIFEST_SUFFIX.length);
      const dataNames = DATA_SUFFIXES.map((s) => `${fileId}${s}`).filter((n) => byName.has(n));
      const dataName = dataNames[0];
      if (dataName === undefined) continue;
      ready.push({
        fileId,
        dataName,
        manifestName: name,
        dataBytes: Number(byName.get(dataName)?.metadata.size ?? 0),
        readyAt: new Date(String(manifest.metadata.updated ?? manifest.metadata.timeCreated ?? 0)).toISOString(),
        problem: dataNames.length > 1 ? `both ${dataNames.join(' and ')} were delivered` : null,
      });
    }
    return ready.sort((a, b) => a.readyAt.localeCompare(b.readyAt) || a.fileId.localeCompare(b.fileId));
  }

  async readManifest(fileId: string, from: StoredIn = 'incoming'): Promise<string | null> {
    const name = `${fileId}${MANIFEST_SUFFIX}`;
    const file = from === 'incoming' ? this.incoming(name) : this.stored(fileId, from, name);
    try {
      const [bytes] = await file.download();
      return bytes.toString('utf8');
    } catch (error) {
      if (status(error) === 404) return null;
      throw error;
    }
  }

  async openData(fileId: string, from: StoredIn = 'incoming'): Promise<{ path: string; dataName: string; release: () => Promise<void> } | null> {
    for (const suffix of DATA_SUFFIXES) {
      const dataName = `${fileId}${suffix}`;
      const source = from === 'incoming' ? this.incoming(dataName) : this.stored(fileId, from, dataName);
      const generation = await generationOf(source);
      if (generation === null) continue;
      // Read one generation only: copy it aside, and copy again if the object changed meanwhile (GCS refuses the
      // copy by its precondition; the second look covers local servers that ignore it).
      let readFrom = source;
      if (from === 'incoming') {
        readFrom = this.bucket.file(`${this.prefix}.deliveries/${fileId}/${generation}/${dataName}`);
        await source.copy(readFrom, { preconditionOpts: { ifSourceGenerationMatch: generation } } as never);
        if ((await generationOf(source)) !== generation) {
          await readFrom.delete().catch(ignoreGone);
          return this.openData(fileId, from);
        }
      }
      const dir = await mkdtemp(join(this.options.tmpDir ?? tmpdir(), 'gcs-landing-'));
      const path = join(dir, dataName);
      const hash = createHash('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      await pipeline(readFrom.createReadStream({ validation: false }), hashing, createWriteStream(path));
      if (from === 'incoming') {
        const manifest = await generationOf(this.incoming(`${fileId}${MANIFEST_SUFFIX}`));
        const claim: Claim = { bucket: this.options.bucket, dataName, dataGeneration: generation, manifestGeneration: manifest, sha256: hash.digest('hex') };
        await this.claimFile(fileId, claim.sha256).save(JSON.stringify(claim), { resumable: false, contentType: 'application/json' });
      }
      return { path, dataName, release: () => rm(dir, { recursive: true, force: true }) };
    }
    return null;
  }

  private async claim(fileId: string, sha256: string): Promise<Claim | null> {
    try {
      const [bytes] = await this.claimFile(fileId, sha256).download();
      return JSON.parse(bytes.toString('utf8')) as Claim;
    } catch (error) {
      if (status(error) === 404) return null;
      throw error;
    }
  }

  async moveTo(input: { fileId: string; area: LandingArea; sha256: string; report?: QuarantineReport }): Promise<{ location: string }> {
    const target = { area: input.area, sha256: input.sha256 };
    const location = `gs://${this.options.bucket}/${this.prefix}${input.area}/${input.fileId}/${input.sha256.slice(0, 12)}/`;
    // The report goes first: a quarantined file is never without its reason.
    if (input.report !== undefined) {
      await this.stored(input.fileId, target, `${input.fileId}.errors.json`).save(`${JSON.stringify(input.report, null, 2)}\n`, { resumable: false, contentType: 'application/json' });
    }
    const claim = await this.claim(input.fileId, input.sha256);
    // Data: the generation that was processed, from its copy; the incoming object is deleted only if it still is that one.
    for (const suffix of DATA_SUFFIXES) {
      const dataName = `${input.fileId}${suffix}`;
      if (claim && claim.dataName !== dataName) continue;
      const incoming = this.incoming(dataName);
      const source = claim ? this.bucket.file(`${this.prefix}.deliveries/${input.fileId}/${claim.dataGeneration}/${dataName}`) : incoming;
      const generation = claim?.dataGeneration ?? (await generationOf(incoming));
      if (generation === null) continue;
      await source.copy(this.stored(input.fileId, target, dataName)).catch(ignoreGone);
      await deleteIfGeneration(incoming, generation);
    }
    // Manifest last, so the pair is never "ready" with a manifest whose data has moved; only if it is this delivery's.
    const manifest = this.incoming(`${input.fileId}${MANIFEST_SUFFIX}`);
    const text = await this.readManifest(input.fileId);
    if (text !== null && manifestSha256(text) === input.sha256) {
      const generation = await generationOf(manifest);
      if (generation !== null) {
        await manifest.copy(this.stored(input.fileId, target, `${input.fileId}${MANIFEST_SUFFIX}`), { preconditionOpts: { ifSourceGenerationMatch: generation } } as never).catch(ignoreGone);
        await deleteIfGeneration(manifest, generation);
      }
    }
    return { location };
  }

  /** Creates the bucket if it does not exist (local servers and tests). */
  async ensureBucket(): Promise<void> {
    const [exists] = await this.bucket.exists();
    if (!exists) await this.bucket.create().catch((error: unknown) => {
      if (status(error) !== 409) throw error;
    });
  }
}

const manifestSha256 = (text: string): string | null => {
  try {
    const parsed = JSON.parse(text) as { sha256?: unknown };
    return typeof parsed.sha256 === 'string' ? parsed.sha256.toLowerCase() : null;
  } catch {
    return null;
  }
};

