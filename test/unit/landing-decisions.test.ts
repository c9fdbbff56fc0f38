/**
 * The landing watcher's decisions (src/workflows/landing-decisions.ts), run outside the workflow sandbox: which
 * deliveries it remembers (each started once; a re-delivery after its file left is looked at again), what it counts
 * and records, and its details. The watcher itself is tested on a dev server (test/integration/landing-watcher.test.ts)
 * and by replaying a recorded history (test/replay/).
 */
import { describe, expect, it } from 'vitest';
import type { LandedFile } from '../../src/activities/ops-activities.js';
import {
  RECENT_EVENTS,
  applyReplay,
  applyScan,
  deliveryKey,
  emptyLandingState,
  landingDetails,
  recordEvent,
} from '../../src/workflows/landing-decisions.js';

const AT = '2026-11-22T06:00:00Z';
const started = (fileId: string, sha256: string, covers = ['2026-11-21']): LandedFile => ({
  fileId,
  sha256,
  kind: 'reconciliation',
  covers,
  workflowId: `reconcile/acme/${covers[0]}/${fileId}/${sha256.slice(0, 8)}`,
  sequence: 1,
});

describe('the deliveries the watcher remembers', () => {
  it('starts with nothing seen, counted or recorded', () => {
    expect(emptyLandingState()).toEqual({ seen: [], started: 0, duplicates: 0, replays: 0, recent: [], pendingReplays: [] });
  });

  it('keys a delivery by file id and digest', () => {
    expect(deliveryKey({ fileId: 'recon-1', sha256: 'abc' })).toBe('recon-1/abc');
  });

  it('remembers what it started, and every delivery still ready, once', () => {
    const state = emptyLandingState();
    applyScan(state, { ready: ['recon-1/aaa', 'bad-1/bbb'], started: [started('recon-1', 'aaa')], duplicates: [] }, AT);
    expect(state.seen).toEqual(['recon-1/aaa', 'bad-1/bbb']);
    expect(state.started).toBe(1);
    applyScan(state, { ready: ['recon-1/aaa', 'bad-1/bbb'], started: [], duplicates: [] }, AT);
    expect(state.seen).toEqual(['recon-1/aaa', 'bad-1/bbb']);
    expect(state.started).toBe(1);
  });

  it('forgets a delivery once it left the landing area, so a re-delivery is looked at again', () => {
    const state = { ...emptyLandingState(), seen: ['recon-1/aaa', 'recon-2/ccc'] };
    applyScan(state, { ready: ['recon-2/ccc'], started: [], duplicates: [] }, AT);
    expect(state.seen).toEqual(['recon-2/ccc']);
    applyScan(state, { ready: [], started: [], duplicates: [] }, AT);
    expect(state.seen).toEqual([]);
  });

  it('remembers a started delivery the scan no longer lists as ready (its workflow moved it already)', () => {
    const state = emptyLandingState();
    applyScan(state, { ready: [], started: [started('recon-1', 'aaa')], duplicates: [] }, AT);
    expect(state.seen).toEqual(['recon-1/aaa']);
  });
});

describe('what the watcher counts and records', () => {
  it('records each start with its kind and dates, and each refused duplicate, at the scan time', () => {
    const state = emptyLandingState();
    applyScan(
      state,
      {
        ready: [],
        started: [started('am-1', 'aaa', ['2026-11-20', '2026-11-21'])],
        duplicates: [{ fileId: 'recon-0', sha256: 'ddd', workflowId: 'reconcile/acme/2026-11-20/recon-0/ddd', reason: 'applied already' }],
      },
      AT,
    );
    expect(state.started).toBe(1);
    expect(state.duplicates).toBe(1);
    expect(state.recent).toEqual([
      { at: AT, fileId: 'am-1', what: 'reconciliation covering 2026-11-20, 2026-11-21 started', workflowId: 'reconcile/acme/2026-11-20/am-1/aaa' },
      { at: AT, fileId: 'recon-0', what: 'duplicate delivery refused and moved to quarantine', workflowId: 'reconcile/acme/2026-11-20/recon-0/ddd' },
    ]);
  });

  it('counts a replay that started and records both answers, with who asked', () => {
    const state = emptyLandingState();
    applyReplay(state, { fileId: 'recon-1', requestedBy: 'ana' }, { started: true, workflowId: 'replay/acme/recon-1/aaa/r1', reason: 'from processed' }, AT);
    applyReplay(state, { fileId: 'nope' }, { started: false, workflowId: null, reason: 'no kept delivery' }, AT);
    expect(state.replays).toBe(1);
    expect(state.recent).toEqual([
      { at: AT, fileId: 'recon-1', what: 'replay started: from processed (by ana)', workflowId: 'replay/acme/recon-1/aaa/r1' },
      { at: AT, fileId: 'nope', what: 'replay refused: no kept delivery', workflowId: null },
    ]);
  });

  it('keeps the last RECENT_EVENTS events, newest last', () => {
    const state = emptyLandingState();
    for (let i = 0; i < RECENT_EVENTS + 3; i++) recordEvent(state, { at: AT, fileId: `f${i}`, what: 'x', workflowId: null });
    expect(RECENT_EVENTS).toBe(20);
    expect(state.recent).toHaveLength(20);
    expect(state.recent[0]?.fileId).toBe('f3');
    expect(state.recent.at(-1)?.fileId).toBe('f22');
  });

  it('keeps exactly RECENT_EVENTS when it has that many', () => {
    const state = emptyLandingState();
    for (let i = 0; i < RECENT_EVENTS; i++) recordEvent(state, { at: AT, fileId: `f${i}`, what: 'x', workflowId: null });
    expect(state.recent.map((e) => e.fileId)).toEqual(Array.from({ length: 20 }, (_, i) => `f${i}`));
  });
});

describe('the details in the Temporal UI', () => {
  it('show the location, the counts and the last eight events, newest first', () => {
    const state = { ...emptyLandingState(), started: 3, duplicates: 2, replays: 1, seen: ['a/1'] };
    for (let i = 0; i < 10; i++) recordEvent(state, { at: AT, fileId: `f${i}`, what: 'started', workflowId: i % 2 ? `w${i}` : null });
    const lines = landingDetails({ clientId: 'acme', location: 'gs://landing/acme' }, 2500, state).split('\n\n');
    expect(lines.slice(0, 2)).toEqual([
      '**Watching** gs://landing/acme every 2.5s for acme',
      'Started 3 file(s), refused 2 duplicate deliveries, 1 replay(s); 1 in progress.',
    ]);
    expect(lines.slice(2)).toEqual([
      `- ${AT} f9: started (w9)`,
      `- ${AT} f8: started`,
      `- ${AT} f7: started (w7)`,
      `- ${AT} f6: started`,
      `- ${AT} f5: started (w5)`,
      `- ${AT} f4: started`,
      `- ${AT} f3: started (w3)`,
      `- ${AT} f2: started`,
    ]);
  });

  it('say "the landing area" without a location, and one delivery in the singular', () => {
    const text = landingDetails({ clientId: 'acme' }, 3000, { ...emptyLandingState(), duplicates: 1 });
    expect(text).toBe('**Watching** the landing area every 3s for acme\n\nStarted 0 file(s), refused 1 duplicate delivery, 0 replay(s); 0 in progress.');
  });
});
