/**
 * The landing watcher's decisions, apart from the calls that carry them out: which deliveries it remembers as
 * started (so each is started once, and a re-delivery after its file left is looked at again), what it counts and
 * records, and what its details say. Pure and deterministic (the time is passed in): `landing-workflow.ts` runs
 * them in the sandbox, unit tests run them directly.
 */
import type { ScanResult } from '../activities/ops-activities.js';
import type { ReplayRequest } from '../domain/workflow-api.js';

export interface LandingEvent {
  at: string;
  fileId: string;
  what: string;
  workflowId: string | null;
}

export interface LandingState {
  /** `<fileId>/<sha256>` of files started and still in the landing area (their workflows move them). */
  seen: string[];
  started: number;
  duplicates: number;
  replays: number;
  /** The last few events, newest last. */
  recent: LandingEvent[];
  /** Replay requests not yet handled. */
  pendingReplays: ReplayRequest[];
}

/** Events kept for the query and the details. */
export const RECENT_EVENTS = 20;

export const emptyLandingState = (): LandingState => ({ seen: [], started: 0, duplicates: 0, replays: 0, recent: [], pendingReplays: [] });

/** The key the watcher remembers a delivery by: a new delivery of the same file id is a new key. */
export const deliveryKey = (file: { fileId: string; sha256: string }): string => `${file.fileId}/${file.sha256}`;

/** Adds an event, keeping the last RECENT_EVENTS. */
export const recordEvent = (state: LandingState, event: LandingEvent): void => {
  state.recent.push(event);
  if (state.recent.length > RECENT_EVENTS) state.recent.splice(0, state.recent.length - RECENT_EVENTS);
};

/**
 * Takes in a scan: forgets deliveries that left the landing area (so a later re-delivery is looked at again),
 * remembers the ones it started and every one still ready (the scan skips them next time), counts starts and
 * refused duplicates, and records each as an event at `at`.
 */
export const applyScan = (state: LandingState, scan: Pick<ScanResult, 'ready' | 'started' | 'duplicates'>, at: string): void => {
  const ready = new Set(scan.ready);
  state.seen = state.seen.filter((key) => ready.has(key));
  for (const file of scan.started) {
    state.seen.push(deliveryKey(file));
    state.started += 1;
    recordEvent(state, { at, fileId: file.fileId, what: `${file.kind} covering ${file.covers.join(', ')} started`, workflowId: file.workflowId });
  }
  for (const dup of scan.duplicates) {
    state.duplicates += 1;
    recordEvent(state, { at, fileId: dup.fileId, what: 'duplicate delivery refused and moved to quarantine', workflowId: dup.workflowId });
  }
  for (const key of scan.ready) if (!state.seen.includes(key)) state.seen.push(key);
};

/** Counts and records the answer to an operator's replay request. */
export const applyReplay = (
  state: LandingState,
  request: ReplayRequest,
  replay: { started: boolean; workflowId: string | null; reason: string },
  at: string,
): void => {
  if (replay.started) state.replays += 1;
  recordEvent(state, {
    at,
    fileId: request.fileId,
    what: `${replay.started ? 'replay started' : 'replay refused'}: ${replay.reason}${request.requestedBy ? ` (by ${request.requestedBy})` : ''}`,
    workflowId: replay.workflowId,
  });
};

/** The watcher's details in the Temporal UI (Markdown): what it watches, its counts, the last few events, newest first. */
export const landingDetails = (input: { clientId: string; location?: string }, pollIntervalMs: number, state: LandingState): string =>
  [
    `**Watching** ${input.location ?? 'the landing area'} every ${pollIntervalMs / 1000}s for ${input.clientId}`,
    `Started ${state.started} file(s), refused ${state.duplicates} duplicate deliver${state.duplicates === 1 ? 'y' : 'ies'}, ${state.replays} replay(s); ${state.seen.length} in progress.`,
    ...state.recent
      .slice(-8)
      .reverse()
      .map((e) => `- ${e.at} ${e.fileId}: ${e.what}${e.workflowId ? ` (${e.workflowId})` : ''}`),
  ].join('\n\n');
