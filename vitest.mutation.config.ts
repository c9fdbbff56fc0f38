import { defineConfig } from 'vitest/config';

/**
 * The unit tests of the mutated modules, for mutation testing (stryker.config.mjs): no servers, no global
 * setup, and none of the slow unit tests that exercise other modules (feed, bundle, codec, activities).
 */
export default defineConfig({
  test: {
    environment: 'node',
    // MUTATION_TESTS=a.test.ts,b.test.ts narrows the run to those files (one module at a time on a busy machine).
    include: process.env.MUTATION_TESTS?.split(',') ?? [
      'test/unit/contract.test.ts',
      'test/unit/decimal.test.ts',
      'test/unit/dates.test.ts',
      'test/unit/schedule-time.test.ts',
      'test/unit/stream-event.test.ts',
      'test/unit/warehouse-rows.test.ts',
      'test/unit/validate.test.ts',
      'test/unit/validate-delivery.test.ts',
      'test/unit/validate-checks.test.ts',
      'test/unit/digest.test.ts',
      'test/unit/workflow-api.test.ts',
      'test/unit/stream-decisions.test.ts',
      'test/unit/file-decisions.test.ts',
      'test/unit/daily-decisions.test.ts',
      'test/unit/landing-decisions.test.ts',
      'test/unit/kafka-supervisor-decisions.test.ts',
    ],
    // Generous: mutation runs share a busy machine, and a timed-out test would count as a failure.
    testTimeout: 300_000,
  },
});
