import tseslint from 'typescript-eslint';

const ioModules = ['fs', 'path', 'child_process', 'net', 'http', 'https', 'crypto', 'os', 'stream', 'zlib', 'worker_threads'];

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'dist/', 'coverage/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflows are replayed: no I/O, no Node built-ins, no adapters, no clocks or randomness of their own.
    files: ['src/workflows/**/*.ts'],
    rules: {
      // Type-only imports are erased at build time, so workflows may name adapter types.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ioModules
            .flatMap((m) => [m, `node:${m}`])
            .concat(['@temporalio/client', '@temporalio/worker'])
            .map((name) => ({ name, message: 'Workflows are replayed: no I/O here.', allowTypeImports: true })),
          patterns: [
            {
              group: ['@google-cloud/*', '@duckdb/*', '**/warehouse/*/**', '**/sources/**', '**/files/**', '**/activities/**'],
              message: 'Workflows reach adapters only through activities.',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'Use a deterministic source.' },
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Workflow time comes from the workflow sandbox; pass it in.' },
      ],
    },
  },
);
