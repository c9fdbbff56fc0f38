import { defineConfig } from 'vitest/config';

/** The unit tests only, for mutation testing (stryker.config.mjs): no servers, no global setup. */
export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/unit/**/*.test.ts'],
    // Generous: mutation runs share a busy machine, and a timed-out test would count as a failure.
    testTimeout: 300_000,
  },
});
