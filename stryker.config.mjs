// Mutation testing of the modules whose logic decides money and versions: `npm run test:mutation`
// (not part of `npm test`). Point `mutate` at other files by glob; the unit tests are the test suite.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'src/domain/**/*.ts',
    // The warehouse's engine-independent rules (mappers, versioning); engine folders are left out.
    'src/warehouse/*.ts',
    'src/warehouse/core/**/*.ts',
    '!src/warehouse/open.ts',
    '!src/warehouse/port.ts',
    'src/files/validate.ts',
    'src/files/digest.ts',
    // The workflows' decisions, in pure modules beside them (the workflow functions run only in Temporal's sandbox).
    'src/workflows/*-decisions.ts',
    'src/workflows/failures.ts',
  ],
  // Installed servers and local data are not copied into the sandbox.
  ignorePatterns: ['.tools', '.data', 'dist', 'coverage', 'reports', 'docs'],
  // 'all', not 'perTest': with perTest, Stryker 9.5 activates a static mutant (a module-level value, such as a zod
  // schema or a SQL constant) after its module is imported, so killed mutants are reported as survived. 'all' runs
  // each mutant against every selected test: narrow the tests with MUTATION_TESTS (docs/reliability.md).
  coverageAnalysis: 'all',
  // The machine is shared: one test runner.
  concurrency: 1,
  timeoutMS: 60_000,
  // The first full run of the unit tests takes minutes on a shared 2-core machine.
  dryRunTimeoutMinutes: 30,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  thresholds: { high: 90, low: 80, break: null },
};
