/**
 * The bucket landing on a real GCS-compatible server (fake-gcs-server, scripts/gcs.sh): a delivery is listed once
 * its manifest is there, is read at one generation, and is kept for replays under processed/; a data object
 * overwritten while its delivery is processed is noticed: the run keeps the generation it read, and the new
 * generation stays in place as a new delivery.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcsLanding } from '../../src/files/gcs-landing.js';
import { gcsAvailable, startGcs } from '../support/servers.js';

let gcs: Awaited<ReturnType<typeof startGcs>>;
beforeAll(async () => {
  if (gcsAvailable()) gcs = await startGcs();
});
afterAll(async () => {
  await gcs?.stop();
});

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const manifest = (fileId: string, data: string): string => JSON.stringify({ file_id: fileId, sha256: sha(data) });

const landingFor = async (bucket: string): Promise<GcsLanding> => {
  const landing = new GcsLanding({ bucket, prefix: 'in/', apiEndpoint: gcs.endpoint, projectId: 'local' });
  await landing.ensureBucket();
  return landing;
};

// Skipped only where setup had no Go to build fake-gcs-server with (setup.sh says so).
describe.skipIf(!gcsAvailable())('GcsLanding', () => {
  it('lists a delivery only once its manifest is there, reads it, and keeps it under processed/ for replays', async () => {
    const landing = await landingFor('landing-a');
    const data = 'transaction_id\nt1\n';
    await landing.bucket.file('in/f1.csv').save(data);
    expect(await landing.listReady()).toEqual([]);
    await landing.bucket.file('in/f1.manifest.json').save(manifest('f1', data));
    const ready = await landing.listReady();
    expect(ready.map((r) => [r.fileId, r.dataName, r.dataBytes, r.problem])).toEqual([['f1', 'f1.csv', data.length, null]]);
    expect(await landing.readManifest('f1')).toBe(manifest('f1', data));
    const opened = await landing.openData('f1');
    expect(await readFile(opened!.path, 'utf8')).toBe(data);
    await opened!.release();
    await landing.moveTo({ fileId: 'f1', area: 'processed', sha256: sha(data) });
    expect(await landing.listReady()).toEqual([]);
    // The delivery's working copies are gone once it is kept; only its claim is left.
    const deliveries = async () => (await landing.bucket.getFiles({ prefix: 'in/.deliveries/' }))[0].map((f) => f.name);
    expect(await deliveries()).toEqual([`in/.deliveries/f1/${sha(data).slice(0, 12)}.json`]);
    // A retried move (the step's answer was lost) finds the copies gone and leaves the kept delivery whole.
    await landing.moveTo({ fileId: 'f1', area: 'processed', sha256: sha(data) });
    expect((await landing.bucket.getFiles({ prefix: 'in/processed/f1/' }))[0].map((f) => f.name).sort()).toEqual([
      `in/processed/f1/${sha(data).slice(0, 12)}/f1.csv`,
      `in/processed/f1/${sha(data).slice(0, 12)}/f1.manifest.json`,
    ]);
    const kept = { area: 'processed' as const, sha256: sha(data) };
    expect(await landing.readManifest('f1', kept)).toBe(manifest('f1', data));
    const replay = await landing.openData('f1', kept);
    expect(await readFile(replay!.path, 'utf8')).toBe(data);
    await replay!.release();
  });

  it('keeps processing the generation it read when the object is overwritten, and leaves the new generation as a new delivery', async () => {
    const landing = await landingFor('landing-b');
    const v1 = 'transaction_id\nold\n';
    const v2 = 'transaction_id\nnew\nnewer\n';
    await landing.bucket.file('in/f2.csv').save(v1);
    await landing.bucket.file('in/f2.manifest.json').save(manifest('f2', v1));
    const [before] = await landing.bucket.file('in/f2.csv').getMetadata();
    const opened = await landing.openData('f2');
    // The client overwrites both objects while the first delivery is processed.
    await landing.bucket.file('in/f2.csv').save(v2);
    await landing.bucket.file('in/f2.manifest.json').save(manifest('f2', v2));
    const [after] = await landing.bucket.file('in/f2.csv').getMetadata();
    expect(String(after.generation)).not.toBe(String(before.generation));
    expect(await readFile(opened!.path, 'utf8')).toBe(v1);
    await opened!.release();
    await landing.moveTo({ fileId: 'f2', area: 'processed', sha256: sha(v1) });
    // The processed copy is the generation that was read; the overwrite is still incoming, as its own delivery.
    const kept = await landing.openData('f2', { area: 'processed', sha256: sha(v1) });
    expect(await readFile(kept!.path, 'utf8')).toBe(v1);
    await kept!.release();
    expect((await landing.listReady()).map((r) => r.fileId)).toEqual(['f2']);
    expect(await landing.readManifest('f2')).toBe(manifest('f2', v2));
    const again = await landing.openData('f2');
    expect(await readFile(again!.path, 'utf8')).toBe(v2);
    await again!.release();
  });
});
