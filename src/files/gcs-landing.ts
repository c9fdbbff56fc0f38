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

  /** The manifest as it was when the data generation was read (copied beside the data's copy). */
  private keptManifest(fileId: string, dataGeneration: string): File {
    return this.bucket.file(`${this.prefix}.deliveries/${fileId}/${dataGeneration}/${fileId}${MANIFEST_SUFFIX}`);
  }

  private async text(file: File): Promise<string | null> {
    try {
      return (await file.download())[0].toString('utf8');
    } catch (error) {
      if (status(error) === 404) return null;
      throw error;
    }
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
      let manifestGeneration: string | null = null;
      if (from === 'incoming') {
        readFrom = this.bucket.file(`${this.prefix}.deliveries/${fileId}/${generation}/${dataName}`);
        await source.copy(readFrom, { preconditionOpts: { ifSourceGenerationMatch: generation } } as never);
        if ((await generationOf(source)) !== generation) {
          await readFrom.delete().catch(ignoreGone);
          return this.openData(fileId, from);
        }
        // The manifest beside it, so this delivery keeps its manifest even if the client replaces the incoming one.
        const manifest = this.incoming(`${fileId}${MANIFEST_SUFFIX}`);
        manifestGeneration = await generationOf(manifest);
        if (manifestGeneration !== null) {
          await manifest.copy(this.keptManifest(fileId, generation), { preconditionOpts: { ifSourceGenerationMatch: manifestGeneration } } as never).catch(ignoreGone);
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
        const claim: Claim = { bucket: this.options.bucket, dataName, dataGeneration: generation, manifestGeneration, sha256: hash.digest('hex') };
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
    const manifest = this.incoming(`${input.fileId}${MANIFEST_SUFFIX}`);
    const manifestText = await this.readManifest(input.fileId);
    // The incoming pair is (again) this delivery: its manifest names this sha256. Otherwise the client has replaced
    // it with another delivery since, which stays in place for its own run.
    const incomingIsThis = manifestText !== null && manifestSha256(manifestText) === input.sha256;
    // Data: the generation that was read, from its copy; an incoming object is deleted only if it is that generation
    // or a re-delivery of this one (same manifest), never a newer delivery.
    for (const suffix of DATA_SUFFIXES) {
      const dataName = `${input.fileId}${suffix}`;
      if (claim && claim.dataName !== dataName) continue;
      const incoming = this.incoming(dataName);
      const current = await generationOf(incoming);
      if (claim) {
        await this.bucket.file(`${this.prefix}.deliveries/${input.fileId}/${claim.dataGeneration}/${dataName}`).copy(this.stored(input.fileId, target, dataName)).catch(ignoreGone);
        if (current !== null && (current === claim.dataGeneration || incomingIsThis)) await deleteIfGeneration(incoming, current);
      } else if (current !== null && (incomingIsThis || manifestText === null)) {
        await incoming.copy(this.stored(input.fileId, target, dataName), { preconditionOpts: { ifSourceGenerationMatch: current } } as never).catch(ignoreGone);
        await deleteIfGeneration(incoming, current);
      }
    }
    // Manifest last, so the pair is never "ready" with a manifest whose data has moved: the one read with the data
    // (the incoming one may have been replaced since), else the incoming one if it is this delivery's.
    const kept = claim ? this.keptManifest(input.fileId, claim.dataGeneration) : null;
    const keptText = kept ? await this.text(kept) : null;
    const storedManifest = this.stored(input.fileId, target, `${input.fileId}${MANIFEST_SUFFIX}`);
    const generation = incomingIsThis ? await generationOf(manifest) : null;
    if (kept && keptText !== null && manifestSha256(keptText) === input.sha256) {
      await kept.copy(storedManifest).catch(ignoreGone);
    } else if (generation !== null) {
      await manifest.copy(storedManifest, { preconditionOpts: { ifSourceGenerationMatch: generation } } as never).catch(ignoreGone);
    }
    if (generation !== null) await deleteIfGeneration(manifest, generation);
    // The copies of the generation that was read have served: the area holds its data and manifest now. Deleting
    // them keeps the bucket from holding every delivery twice. The claim (a few hundred bytes) stays: a retried move
    // reads it, finds the copies gone and the area already filled.
    if (claim) {
      await this.bucket.file(`${this.prefix}.deliveries/${input.fileId}/${claim.dataGeneration}/${claim.dataName}`).delete().catch(ignoreGone);
      await this.keptManifest(input.fileId, claim.dataGeneration).delete().catch(ignoreGone);
    }
    return { location };
  }

  async listStored(fileId: string, area: LandingArea): Promise<string[]> {
    const folder = `${this.prefix}${area}/${fileId}/`;
    const [files] = await this.bucket.getFiles({ prefix: folder, autoPaginate: true });
    const keys = files.filter((f) => f.name.endsWith(MANIFEST_SUFFIX)).map((f) => f.name.slice(folder.length).split('/')[0] ?? '');
    return [...new Set(keys)].filter((k) => k !== '');
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

