/**
 * The names workflows, workers, the CLI and the Temporal UI share (src/domain/workflow-api.ts). They are wire
 * contracts: a renamed signal, query or id prefix no longer reaches the workflows already running, so each is pinned.
 */
import { SearchAttributeType } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/domain/workflow-api.js';

const sha = 'abcdef0123456789';

describe('workflowIds: business keys', () => {
  it('names a file run after its kind, client, first date (+ how many more), file id and the first 8 characters of its digest', () => {
    expect(api.workflowIds.file('acme', 'reconciliation', ['2026-11-21'], 'recon-1', sha)).toBe('reconcile/acme/2026-11-21/recon-1/abcdef01');
    expect(api.workflowIds.file('acme', 'amendment', ['2026-11-19', '2026-11-20', '2026-11-21'], 'am-2', sha)).toBe(
      'amend/acme/2026-11-19+2/am-2/abcdef01',
    );
    expect(api.workflowIds.file('acme', 'amendment', ['2026-11-19', '2026-11-20'], 'am-3', sha)).toBe('amend/acme/2026-11-19+1/am-3/abcdef01');
    expect(api.workflowIds.file('acme', 'unknown', [], 'bad', sha)).toBe('file/acme/none/bad/abcdef01');
  });

  it('names replays, streams, supervisors, daily runs, watchers and restores with their keys', () => {
    expect(api.workflowIds.replay('acme', 'recon-1', sha, 'r1')).toBe('replay/acme/recon-1/abcdef01/r1');
    expect(api.workflowIds.stream('sim:acme:0')).toBe('stream/sim:acme:0');
    expect(api.workflowIds.kafkaSupervisor('tx')).toBe('streams/kafka:tx');
    expect(api.workflowIds.daily('acme', '2026-11-21')).toBe('daily/acme/2026-11-21');
    expect(api.workflowIds.landing('acme')).toBe('landing/acme');
    expect(api.workflowIds.restore('acme', '2026-11-21', 1, 'r2')).toBe('restore/acme/2026-11-21/v1/r2');
  });
});

describe('stagingIdOf: one staging id per file run', () => {
  it('is f_ and the run id\'s letters and digits, lower-cased: the name of the staging table and of the staged object, pinned because runs in flight named theirs so', () => {
    expect(api.stagingIdOf('0193A1B2-7C4D-7E8F-9A0B-1C2D3E4F5A6B')).toBe('f_0193a1b27c4d7e8f9a0b1c2d3e4f5a6b');
    expect(api.stagingIdOf('run-1')).toBe('f_run1');
    expect(api.stagingIdOf('run-1')).toMatch(/^[a-z0-9_]{1,100}$/);
  });
});

describe('signals, queries and updates', () => {
  it('keep their wire names', () => {
    const names = Object.fromEntries(
      (Object.entries(api) as Array<[string, unknown]>)
        .filter((entry): entry is [string, { name: string; type: string }] => {
          const value = entry[1] as { type?: unknown } | null;
          return typeof value === 'object' && value !== null && ['signal', 'query', 'update'].includes(String(value.type));
        })
        .map(([key, def]) => [key, `${def.type}:${def.name}`]),
    );
    expect(names).toEqual({
      fileProgressQuery: 'query:fileProgress',
      retryRollbackSignal: 'signal:retryRollback',
      pauseSignal: 'signal:pause',
      resumeSignal: 'signal:resume',
      flushSignal: 'signal:flush',
      replayFileSignal: 'signal:replayFile',
      fileLandedSignal: 'signal:fileLanded',
      streamProgressQuery: 'query:streamProgress',
      pauseUpdate: 'update:pause',
      flushUpdate: 'update:flush',
      supervisorProgressQuery: 'query:supervisorProgress',
      restoreProgressQuery: 'query:restoreProgress',
    });
  });
});

describe('search attributes', () => {
  it('define each key under its own name with its type, and the dev-server flag of the same type', () => {
    const flagOf: Record<string, string> = {
      [SearchAttributeType.KEYWORD]: 'Keyword',
      [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
      [SearchAttributeType.BOOL]: 'Bool',
      [SearchAttributeType.INT]: 'Int',
    };
    const keys = Object.entries(api.searchAttributes).map(([name, key]) => [name, key.name, flagOf[key.type]]);
    expect(keys).toEqual([
      ['ClientId', 'ClientId', 'Keyword'],
      ['EventDates', 'EventDates', 'KeywordList'],
      ['FileKind', 'FileKind', 'Keyword'],
      ['FileId', 'FileId', 'Keyword'],
      ['Stage', 'Stage', 'Keyword'],
      ['LateFile', 'LateFile', 'Bool'],
      ['StreamSource', 'StreamSource', 'Keyword'],
      ['Sequence', 'Sequence', 'Int'],
    ]);
    expect(Object.entries(api.SEARCH_ATTRIBUTE_FLAGS)).toEqual(keys.map(([name, , flag]) => [name, flag]));
  });

  it('a replay looks for kept deliveries in processed, then refused, then quarantine', () => {
    expect(api.REPLAYABLE_AREAS).toEqual(['processed', 'refused', 'quarantine']);
  });
});
