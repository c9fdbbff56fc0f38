import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { formatIssue } from '../../src/domain/contract.js';
import { CORPUS_TODAY, writeBadCorpus } from '../../testkit/bad-corpus.js';
import { validateFile } from '../../src/files/validate.js';

const dir = await mkdtemp(join(tmpdir(), 'bad-corpus-'));
const cases = await writeBadCorpus(join(dir, 'corpus'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('bad-input corpus', () => {
  test('has at least 30 cases under distinct names, at least 10 accepted and 30 rejected', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(cases.filter((c) => c.expect.outcome === 'accept').length).toBeGreaterThanOrEqual(10);
    expect(cases.filter((c) => c.expect.outcome === 'reject').length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const workDir = join(dir, 'work', c.name);
    const result = await validateFile({
      dataPath: c.dataPath,
      dataName: c.dataName,
      manifestText: c.manifestText,
      manifestName: c.manifestName,
      workDir,
      today: CORPUS_TODAY,
    });
    const expectation = c.expect;
    if (expectation.outcome === 'accept') {
      expect(result.ok, result.ok ? '' : result.issues.map(formatIssue).join('\n')).toBe(true);
      if (!result.ok) return;
      expect(result.rows).toBe(expectation.rows);
      const normalized = await readFile(result.normalizedCsvPath, 'utf8');
      expect(normalized.split('\n')[0]).toBe(
        'transaction_id,account_id,event_ts,event_date,amount,currency,merchant_id,description',
      );
      for (const text of c.verbatim ?? []) expect(normalized).toContain(text);
      return;
    }
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const described = result.issues.map(formatIssue).join('\n');
    const matching = result.issues.filter(
      (i) =>
        (expectation.field === undefined || i.field === expectation.field) &&
        (expectation.line === undefined || i.line === expectation.line) &&
        (expectation.reason === undefined || expectation.reason.test(i.reason)),
    );
    expect(matching.length, `expected field=${String(expectation.field)} line=${String(expectation.line)}; got\n${described}`).toBeGreaterThan(0);
    if (expectation.issueCount !== undefined) expect(result.issueCount).toBe(expectation.issueCount);
    for (const issue of result.issues) {
      expect([c.dataName, c.manifestName]).toContain(issue.source);
      expect(issue.reason.length).toBeGreaterThan(0);
    }
    // A rejected file leaves nothing to stage behind.
    const left = await readdir(workDir).catch(() => []);
    expect(left).toEqual([]);
  });
});
