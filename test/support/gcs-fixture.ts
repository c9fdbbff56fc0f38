/**
 * A GCS-compatible server (fake-gcs-server) for a test file: started before its tests when setup installed it, and
 * stopped after them, with the temp dirs the file asked for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { gcsAvailable, startGcs } from './servers.js';

type GcsServer = Awaited<ReturnType<typeof startGcs>>;

export const useGcsServer = (): { gcs: () => GcsServer; tempDir: (prefix: string) => string } => {
  let server: GcsServer | undefined;
  const dirs: string[] = [];
  beforeAll(async () => {
    if (gcsAvailable()) server = await startGcs();
  });
  afterAll(async () => {
    await server?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return {
    gcs: () => {
      if (server === undefined) throw new Error('fake-gcs-server is not running (setup installs it where Go is available)');
      return server;
    },
    tempDir: (prefix) => {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
  };
};
