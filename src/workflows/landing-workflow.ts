/**
 * The landing watcher: one long-running workflow per client (`landing/<client>`) that looks at the landing
 * area every few seconds through an activity and starts each new file as a file workflow under its business
 * key. Temporal refuses a second start of the same key, so a duplicate delivery is recorded, not run.
 * Operators replay a kept file with `replayFileSignal`.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { createOpsActivities } from '../activities/ops-activities.js';
import { replayFileSignal, searchAttributes, type ReplayRequest } from '../domain/workflow-api.js';

export interface LandingWorkflowInput {
  clientId: string;
  /** Human-readable landing location, for the UI. */
  location?: string;
  pollIntervalMs?: number;
  /** Carried over continue-as-new. */
  carry?: LandingState;
}

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
export const landingStateQuery = defineQuery<LandingState>('landingState');

const RECENT = 20;
/** The sandbox's clock: the workflow task's time, the same on replay. */
const workflowNow = (): string => new Date().toISOString().slice(0, 19) + 'Z';

const { scanLanding, startReplay } = proxyActivities<ReturnType<typeof createOpsActivities>>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

export async function landingWorkflow(input: LandingWorkflowInput): Promise<void> {
  const state: LandingState = input.carry ?? { seen: [], started: 0, duplicates: 0, replays: 0, recent: [], pendingReplays: [] };
  const pollIntervalMs = input.pollIntervalMs ?? 3000;
  setHandler(landingStateQuery, () => state);
  setHandler(replayFileSignal, (request) => {
    state.pendingReplays.push(request);
  });
  upsertSearchAttributes([
    { key: searchAttributes.ClientId, value: input.clientId },
    { key: searchAttributes.Stage, value: 'watching' },
  ]);
  const record = (event: LandingEvent): void => {
    state.recent.push(event);
    if (state.recent.length > RECENT) state.recent.splice(0, state.recent.length - RECENT);
  };
  const showDetails = (): void => {
    const lines = [
      `**Watching** ${input.location ?? 'the landing area'} every ${pollIntervalMs / 1000}s for ${input.clientId}`,
      `Started ${state.started} file(s), refused ${state.duplicates} duplicate deliver${state.duplicates === 1 ? 'y' : 'ies'}, ${state.replays} replay(s); ${state.seen.length} in progress.`,
      ...state.recent.slice(-8).reverse().map((e) => `- ${e.at} ${e.fileId}: ${e.what}${e.workflowId ? ` (${e.workflowId})` : ''}`),
    ];
    setCurrentDetails(lines.join('\n\n'));
  };

  for (;;) {
    while (state.pendingReplays.length > 0) {
      const request = state.pendingReplays[0] as ReplayRequest;
      const replay = await startReplay({
        clientId: input.clientId,
        fileId: request.fileId,
        ...(request.sha256 !== undefined ? { sha256: request.sha256 } : {}),
        requestId: uuid4().slice(0, 8),
      });
      state.pendingReplays.shift();
      if (replay.started) state.replays += 1;
      record({
        at: workflowNow(),
        fileId: request.fileId,
        what: `${replay.started ? 'replay started' : 'replay refused'}: ${replay.reason}${request.requestedBy ? ` (by ${request.requestedBy})` : ''}`,
        workflowId: replay.workflowId,
      });
      log.info('replay request', { ...request, ...replay });
    }

    const scan = await scanLanding({ clientId: input.clientId, seen: state.seen });
    const ready = new Set(scan.ready);
    // Forget files that left the landing area, so a later re-delivery is looked at again.
    state.seen = state.seen.filter((key) => ready.has(key));
    for (const file of scan.started) {
      state.seen.push(`${file.fileId}/${file.sha256}`);
      state.started += 1;
      record({ at: workflowNow(), fileId: file.fileId, what: `${file.kind} covering ${file.covers.join(', ')} started`, workflowId: file.workflowId });
    }
    for (const dup of scan.duplicates) {
      state.duplicates += 1;
      record({ at: workflowNow(), fileId: dup.fileId, what: 'duplicate delivery refused and moved to quarantine', workflowId: dup.workflowId });
    }
    for (const key of scan.ready) if (!state.seen.includes(key)) state.seen.push(key);
    showDetails();

    await condition(() => state.pendingReplays.length > 0, pollIntervalMs);
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof landingWorkflow>({ ...input, carry: state });
    }
  }
}
