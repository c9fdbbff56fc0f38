import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    pool: 'forks',
    // Two cores and shared servers: one test file at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // Quiet on green: test names and the summary; a failing test still shows everything it logged. Worker logs
    // reach the console (and so this filter) through test/support/test-logs.ts, at LOG_LEVEL.
    silent: 'passed-only',
    setupFiles: ['test/support/test-logs.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        // Everything that is not a unit test may talk to servers; the global setup
        // starts them only when a file of this project is selected.
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/unit/**'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
