/**
 * Keeps cancellation tests honest: a check of "compensations start only after the cancelled step stopped" that still
 * passes when the saga cancels its steps TRY_CANCEL (compensations start at once) proves nothing about the waiting.
 */
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/** The file saga with TRY_CANCEL steps (test/support/try-cancel-workflows.ts), for a worker's `workflowsPath`. */
export const TRY_CANCEL_WORKFLOWS = fileURLToPath(new URL('./try-cancel-workflows.ts', import.meta.url));

/** Runs `check` on a worker whose file saga cancels its steps TRY_CANCEL, and asserts that it fails. */
export const expectCheckNeedsWaitForCancelledStep = async (check: (workflowsPath: string) => Promise<void>): Promise<void> => {
  let failure: unknown = null;
  try {
    await check(TRY_CANCEL_WORKFLOWS);
  } catch (error) {
    failure = error;
  }
  expect(failure, 'the check passed with TRY_CANCEL steps, so it does not prove the saga waits for the cancelled step').not.toBeNull();
};
