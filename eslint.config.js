import { dirname, relative, resolve } from 'node:path';
import tseslint from 'typescript-eslint';

// Layers of src/, lowest first: a file may import its own layer or a lower one, never a higher one.
const LAYER_RANK = { domain: 0, codec: 0, warehouse: 1, sources: 1, files: 2, activities: 3, workflows: 4, ops: 5, workers: 6, cli: 7 };
const srcRoot = resolve(import.meta.dirname, 'src');
const layerOf = (path) => {
  const rel = relative(srcRoot, path);
  if (rel.startsWith('..')) return undefined;
  return LAYER_RANK[rel.split(/[\\/]/)[0]] === undefined ? undefined : rel.split(/[\\/]/)[0];
};
const layersPlugin = {
  rules: {
    'no-backward-import': {
      meta: { type: 'problem', schema: [], messages: { backward: '{{from}} must not import from {{to}}, a higher layer (domain < warehouse, sources < files < activities < workflows < ops < workers < cli).' } },
      create(context) {
        const from = layerOf(context.filename);
        if (from === undefined) return {};
        const check = (node) => {
          const spec = node.source?.value;
          if (typeof spec !== 'string' || !spec.startsWith('.')) return;
          const to = layerOf(resolve(dirname(context.filename), spec));
          if (to !== undefined && LAYER_RANK[to] > LAYER_RANK[from]) context.report({ node, messageId: 'backward', data: { from, to } });
        };
        return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
      },
    },
  },
};

const ioModules = ['fs', 'path', 'child_process', 'net', 'http', 'https', 'crypto', 'os', 'stream', 'zlib', 'worker_threads'];

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'dist/', 'coverage/', '.stryker-tmp/', 'reports/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { layers: layersPlugin },
    rules: {
      'layers/no-backward-import': 'error',
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
