import { configDefaults, defineConfig } from 'vitest/config';
import LongFilesFirst from './test/support/sequencer.js';

export default defineConfig({
  test: {
    environment: 'node',
    pool: 'forks',
    // Two test files at a time (TEST_WORKERS to change): most integration files wait on servers, timers and child
    // processes, not the CPU. Each worker has a Temporal namespace of its own (test/support/worker-namespace.ts);
    // everything else a file uses is its own already (task queues, datasets, temp dirs, ports, brokers).
    // Not three: with three emulator files at once the shared BigQuery emulator stopped answering (README, suite time).
    fileParallelism: true,
    maxWorkers: Number(process.env.TEST_WORKERS ?? 2),
    minWorkers: 1,
    // The longest files first, the emulator-bound ones apart (test/support/sequencer.ts): a fresh clone has no
    // durations cached for vitest to order by.
    sequence: { sequencer: LongFilesFirst },
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
          setupFiles: ['test/support/worker-namespace.ts'],
        },
      },
    ],
  },
});
