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
import { applyReplay, applyScan, emptyLandingState, landingDetails, type LandingState } from './landing-decisions.js';

export type { LandingEvent, LandingState } from './landing-decisions.js';

export interface LandingWorkflowInput {
  clientId: string;
  /** Human-readable landing location, for the UI. */
  location?: string;
  pollIntervalMs?: number;
  /** Carried over continue-as-new. */
  carry?: LandingState;
}

export const landingStateQuery = defineQuery<LandingState>('landingState');

/** The sandbox's clock: the workflow task's time, the same on replay. */
const workflowNow = (): string => new Date().toISOString().slice(0, 19) + 'Z';

const { scanLanding, startReplay } = proxyActivities<ReturnType<typeof createOpsActivities>>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

export async function landingWorkflow(input: LandingWorkflowInput): Promise<void> {
  const state: LandingState = input.carry ?? emptyLandingState();
  const pollIntervalMs = input.pollIntervalMs ?? 3000;
  setHandler(landingStateQuery, () => state);
  setHandler(replayFileSignal, (request) => {
    state.pendingReplays.push(request);
  });
  upsertSearchAttributes([
    { key: searchAttributes.ClientId, value: input.clientId },
    { key: searchAttributes.Stage, value: 'watching' },
  ]);
  const showDetails = (): void => {
    setCurrentDetails(landingDetails(input, pollIntervalMs, state));
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
      applyReplay(state, request, replay, workflowNow());
      log.info('replay request', { ...request, ...replay });
    }

    const scan = await scanLanding({ clientId: input.clientId, seen: state.seen });
    applyScan(state, scan, workflowNow());
    showDetails();

    await condition(() => state.pendingReplays.length > 0, pollIntervalMs);
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof landingWorkflow>({ ...input, carry: state });
    }
  }
}
