/**
 * Keeps rollback tests honest: a check that still passes with the compensations it is about turned into
 * no-ops proves nothing about them (for example, a failure injected before the step did any work).
 */
import { expect } from 'vitest';
import type { CompensationMethod } from '../../testkit/faulty-warehouse.js';

/** Runs `check` with `compensations` disabled and asserts that it fails. */
export const expectCheckNeeds = async (
  compensations: readonly CompensationMethod[],
  check: (disabled: readonly CompensationMethod[]) => Promise<void>,
): Promise<void> => {
  let failure: unknown = null;
  try {
    await check(compensations);
  } catch (error) {
    failure = error;
  }
  expect(failure, `the check passed with ${compensations.join(', ')} disabled, so it does not prove the rollback`).not.toBeNull();
};
