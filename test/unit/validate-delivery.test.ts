import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { generateFile } from '../../src/files/generate.js';
import { validateFile } from '../../src/files/validate.js';

const root = await mkdtemp(join(tmpdir(), 'validate-delivery-'));
afterAll(() => rm(root, { recursive: true, force: true }));

/** Rewrites a generated file's data bytes (and the manifest's digest, so only the bytes are wrong). */
const deliver = async (name: string, bytes: (gz: Buffer) => Buffer, as: '.csv' | '.csv.gz') => {
  const dir = join(root, name);
  const file = await generateFile({ dir, kind: 'reconciliation', covers: ['2026-11-21'], rows: 500, sequence: 1, gzip: true });
  const data = bytes(await readFile(file.dataPath));
  const dataPath = join(dir, `${file.fileId}${as}`);
  await rm(file.dataPath);
  await writeFile(dataPath, data);
  const manifest = { ...file.manifest, sha256: createHash('sha256').update(data).digest('hex') };
  return validateFile({
    dataPath,
    manifestText: JSON.stringify(manifest),
    manifestName: `${file.fileId}.manifest.json`,
    workDir: join(dir, 'work'),
  }).then((result) => ({ result, dataName: `${file.fileId}${as}`, fileId: file.fileId }));
};

describe('a data file whose bytes are not what its name says', () => {
  test('a truncated .csv.gz is reported as a truncated gzip stream naming the file, nothing about UTF-8', async () => {
    const { result, dataName } = await deliver('truncated', (gz) => gz.subarray(0, Math.floor(gz.length * 0.6)), '.csv.gz');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.reason)).toEqual([`${dataName}: the gzip stream is truncated (unexpected end of file)`]);
    expect(result.issues[0]?.source).toBe(dataName);
  });

  test('gzip bytes delivered as .csv are reported as gzip under the wrong name, not as a header that is not UTF-8', async () => {
    const { result, dataName, fileId } = await deliver('gzip-as-csv', (gz) => gz, '.csv');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.reason)).toEqual([
      `${dataName} holds gzip-compressed data but is named .csv: deliver it as ${fileId}.csv.gz`,
    ]);
    expect(JSON.stringify(result.issues)).not.toMatch(/UTF-8/);
  });

  test('truncated gzip bytes delivered as .csv are reported as gzip, truncated, under the wrong name', async () => {
    const { result, dataName, fileId } = await deliver('truncated-as-csv', (gz) => gz.subarray(0, gz.length >> 1), '.csv');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.reason)).toEqual([
      `${dataName} holds gzip-compressed data but is named .csv, and the gzip stream is truncated (unexpected end of file): deliver it as ${fileId}.csv.gz`,
    ]);
  });

  test('a .csv.gz that is not gzip at all is reported as not gzip, naming the file', async () => {
    const { result, dataName } = await deliver('not-gzip', () => Buffer.from('transaction_id,account_id\n'), '.csv.gz');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.reason)).toEqual([
      `${dataName} is named .csv.gz but is not gzip data (it does not start with the gzip signature 1f 8b)`,
    ]);
  });
});

describe('the client a file belongs to', () => {
  /** A file written by `owner`, validated by a worker that serves acme. */
  const validateFor = async (owner: string) => {
    const dir = join(root, owner);
    const generated = await generateFile({ dir, kind: 'reconciliation', covers: ['2026-11-21'], rows: 20, sequence: 2, clientId: owner });
    const result = await validateFile({
      dataPath: generated.dataPath,
      manifestText: await readFile(generated.manifestPath, 'utf8'),
      manifestName: `${generated.fileId}.manifest.json`,
      workDir: join(dir, 'work'),
      clientId: 'acme',
    });
    return { generated, result };
  };

  test('a manifest naming another client is rejected on client_id, naming both clients', async () => {
    const { generated, result } = await validateFor('globex');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toEqual([
      {
        source: `${generated.fileId}.manifest.json`,
        line: null,
        field: 'client_id',
        reason: 'client_id "globex" is not the client this landing area serves ("acme"): a file for another client is never applied here',
      },
    ]);
  });

  test('a manifest naming the served client passes', async () => {
    const { result } = await validateFor('acme');
    expect(result.ok).toBe(true);
    if (result.ok) await rm(result.normalizedPath, { force: true });
  });
});
