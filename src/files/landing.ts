/**
 * Where client files land. A file is ready when its data file (`<file_id>.csv` or `<file_id>.csv.gz`)
 * and its manifest (`<file_id>.manifest.json`) are both present; clients write the manifest last.
 * After a run the pair moves to `processed/` or, with an error report beside it, to `quarantine/`.
 *
 * `LocalDirLanding` works over a directory. A bucket adapter implements the same interface: `openData`
 * downloads the object to a local temporary path and `release` deletes it; moves become copy + delete.
 * Every operation is idempotent, because the activities that call it are retried.
 */
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InputIssue } from '../domain/contract.js';

export interface ReadyFile {
  fileId: string;
  /** `<file_id>.csv` or `<file_id>.csv.gz`. */
  dataName: string;
  manifestName: string;
  dataBytes: number;
  /** When the manifest landed (ISO 8601): the file is complete from then on. */
  readyAt: string;
  /** Set when the delivery is ambiguous (both .csv and .csv.gz): quarantine it rather than guess. */
  problem: string | null;
}

/** The report written beside a quarantined file. */
export interface QuarantineReport {
  fileId: string;
  sha256: string | null;
  reason: string;
  issues: InputIssue[];
  issueCount: number;
  workflowId?: string;
  runId?: string;
  quarantinedAt: string;
}

import type { LandingArea, StoredIn } from '../domain/workflow-api.js';

export type { LandingArea, StoredIn };

export interface Landing {
  /** Human-readable location, for logs and the UI (`dir:/srv/landing`, `gs://bucket/prefix`). */
  readonly location: string;
  /** Files whose data and manifest are both present, oldest manifest first. */
  listReady(): Promise<ReadyFile[]>;
  /** Manifest text, or null when it is gone (moved by an earlier attempt). */
  readManifest(fileId: string, from?: StoredIn): Promise<string | null>;
  /** A local path to read the data file from; call `release` when done. Null when the data file is gone. */
  openData(fileId: string, from?: StoredIn): Promise<{ path: string; dataName: string; release: () => Promise<void> } | null>;
  /**
   * Moves the file pair to `<area>/<file_id>/<sha12>/` (a second delivery of the same id with other bytes
   * lands beside the first, never over it). Returns the new location; a repeat after success is a no-op.
   */
  moveTo(input: { fileId: string; area: LandingArea; sha256: string; report?: QuarantineReport }): Promise<{ location: string }>;
  /** The kept deliveries of a file in an area: the `<sha12>` folder of each (what `readManifest` and `openData` take as sha256). */
  listStored(fileId: string, area: LandingArea): Promise<string[]>;
}

const DATA_SUFFIXES = ['.csv', '.csv.gz'] as const;
const MANIFEST_SUFFIX = '.manifest.json';

const exists = async (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

export class LocalDirLanding implements Landing {
  readonly location: string;

  constructor(readonly root: string = '.data/landing') {
    this.location = `dir:${root}`;
  }

  async listReady(): Promise<ReadyFile[]> {
    await mkdir(this.root, { recursive: true });
    const names = new Set(await readdir(this.root));
    const ready: ReadyFile[] = [];
    for (const name of names) {
      if (!name.endsWith(MANIFEST_SUFFIX)) continue;
      const fileId = name.slice(0, -MANIFEST_SUFFIX.length);
      const dataNames = DATA_SUFFIXES.map((s) => `${fileId}${s}`).filter((n) => names.has(n));
      const dataName = dataNames[0];
      if (dataName === undefined) continue;
      const [dataStat, manifestStat] = await Promise.all([stat(join(this.root, dataName)), stat(join(this.root, name))]);
      ready.push({
        fileId,
        dataName,
        manifestName: name,
        dataBytes: dataStat.size,
        readyAt: manifestStat.mtime.toISOString(),
        problem: dataNames.length > 1 ? `both ${dataNames.join(' and ')} were delivered` : null,
      });
    }
    return ready.sort((a, b) => a.readyAt.localeCompare(b.readyAt) || a.fileId.localeCompare(b.fileId));
  }

  private dir(fileId: string, from: StoredIn): string {
    return from === 'incoming' ? this.root : join(this.root, from.area, fileId, from.sha256.slice(0, 12));
  }

  async readManifest(fileId: string, from: StoredIn = 'incoming'): Promise<string | null> {
    return readFile(join(this.dir(fileId, from), `${fileId}${MANIFEST_SUFFIX}`), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
  }

  async openData(
    fileId: string,
    from: StoredIn = 'incoming',
  ): Promise<{ path: string; dataName: string; release: () => Promise<void> } | null> {
    for (const suffix of DATA_SUFFIXES) {
      const dataName = `${fileId}${suffix}`;
      const path = join(this.dir(fileId, from), dataName);
      if (await exists(path)) return { path, dataName, release: async () => {} };
    }
    return null;
  }

  async moveTo(input: {
    fileId: string;
    area: LandingArea;
    sha256: string;
    report?: QuarantineReport;
  }): Promise<{ location: string }> {
    const target = join(this.root, input.area, input.fileId, input.sha256.slice(0, 12));
    await mkdir(target, { recursive: true });
    // The report goes first: a quarantined file is never without its reason, even if a move fails midway.
    if (input.report !== undefined) {
      await writeFile(join(target, `${input.fileId}.errors.json`), `${JSON.stringify(input.report, null, 2)}\n`);
    }
    // Data before manifest, so the pair is never "ready" with a manifest whose data has moved.
    for (const name of [...DATA_SUFFIXES.map((s) => `${input.fileId}${s}`), `${input.fileId}${MANIFEST_SUFFIX}`]) {
      const from = join(this.root, name);
      try {
        await rename(from, join(target, name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return { location: target };
  }

  async listStored(fileId: string, area: LandingArea): Promise<string[]> {
    return readdir(join(this.root, area, fileId)).catch(() => []);
  }
}
