/**
 * Workflow code bundle. Webpack compiles the workflows into one script for the worker's sandbox. Compiling costs
 * about 130 MB of heap that a Node process never hands back, so a worker never bundles in its own process:
 *
 * - `WORKFLOW_BUNDLE=<file>` names a bundle built ahead of time (`npm run build:workflows`), as in production;
 *   the worker checks it was built for its failure converter;
 * - otherwise the worker compiles the current sources in a short-lived child process (this file run as a script)
 *   and loads the result, so a development worker always runs the code on disk.
 *
 *   tsx src/workers/bundle.ts --out <file.js> [--with-codec]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { WorkflowBundle, WorkflowBundlePath } from '@temporalio/worker';

const execFileAsync = promisify(execFile);
const self = fileURLToPath(import.meta.url);

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** First line of every bundle: which failure converter it was compiled with, checked when a worker loads it. */
const marker = (failureConverterPath?: string): string =>
  `// workflow bundle; failure converter: ${failureConverterPath ? basename(failureConverterPath) : 'default'}\n`;

/** Compiles the workflows in this process and writes the bundle to `out`. */
export const writeWorkflowBundle = async (out: string, failureConverterPath?: string): Promise<void> => {
  const { bundleWorkflowCode, DefaultLogger } = await import('@temporalio/worker');
  const bundle = await bundleWorkflowCode({
    workflowsPath,
    ...(failureConverterPath ? { failureConverterPath } : {}),
    logger: new DefaultLogger('WARN'),
  });
  await mkdir(dirname(resolve(out)), { recursive: true });
  await writeFile(out, marker(failureConverterPath) + bundle.code);
};

/**
 * A prebuilt bundle, refused if it was compiled for another failure converter: encrypted failures need the
 * codec's converter inside the sandbox, and a plain worker must not encode failures it cannot decode.
 */
export const prebuiltBundle = async (path: string, failureConverterPath?: string): Promise<WorkflowBundlePath> => {
  const codePath = resolve(path);
  const text = await readFile(codePath, 'utf8').catch((error: Error) => {
    throw new Error(`WORKFLOW_BUNDLE=${path}: cannot read it (${error.message}); build it with npm run build:workflows`);
  });
  const want = marker(failureConverterPath);
  if (!text.startsWith(want)) {
    const have = text.slice(0, text.indexOf('\n') + 1);
    throw new Error(
      `WORKFLOW_BUNDLE=${path} was built for another failure converter (${have.trim() || 'no marker'}; this worker needs "${want.trim()}"). ` +
        `Rebuild it with npm run build:workflows${failureConverterPath ? ' -- --with-codec' : ''}.`,
    );
  }
  return { codePath };
};

/** Compiles the workflows in a child process and returns the code; this process never loads webpack. */
export const compileInChild = async (failureConverterPath?: string): Promise<WorkflowBundle> => {
  const dir = await mkdtemp(join(tmpdir(), 'workflow-bundle-'));
  const out = join(dir, 'workflow-bundle.js');
  try {
    const args = ['--import', 'tsx', self, '--out', out, ...(failureConverterPath ? ['--failure-converter', failureConverterPath] : [])];
    await execFileAsync(process.execPath, args, { maxBuffer: 16 << 20 }).catch((error: { stderr?: string; message: string }) => {
      throw new Error(`compiling the workflow bundle failed (${self}):\n${error.stderr || error.message}`);
    });
    const code = await readFile(out, 'utf8');
    return { code: code.slice(code.indexOf('\n') + 1) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/**
 * With `WORKFLOW_BUNDLE_CACHE=<dir>` (set by the test suite's global set-up to a directory of its own, so that the
 * sources cannot change under it), the first process to compile a bundle writes it there and every later process
 * (test files, the workers they spawn) loads it instead of compiling again.
 */
export const compileCached = async (failureConverterPath?: string): Promise<WorkflowBundle | WorkflowBundlePath> => {
  const dir = process.env.WORKFLOW_BUNDLE_CACHE;
  if (!dir) return compileInChild(failureConverterPath);
  const file = join(dir, `workflow-bundle-${failureConverterPath ? basename(failureConverterPath, '.ts').replace(/\W/g, '_') : 'default'}.js`);
  const cached = await prebuiltBundle(file, failureConverterPath).catch(() => undefined);
  if (cached) return cached;
  const { code } = await compileInChild(failureConverterPath);
  await mkdir(dir, { recursive: true });
  // Written under a unique name and renamed, so a process never reads a half-written bundle.
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, marker(failureConverterPath) + code);
  await rename(partial, file);
  return { code };
};

const bundles = new Map<string, Promise<WorkflowBundle | WorkflowBundlePath>>();

/**
 * The bundle a worker runs: the prebuilt one if `prebuilt` (WORKFLOW_BUNDLE) names it, else compiled once per
 * process and failure converter (tests start many workers).
 */
export const workflowBundle = (failureConverterPath?: string, prebuilt?: string): Promise<WorkflowBundle | WorkflowBundlePath> => {
  if (prebuilt) return prebuiltBundle(prebuilt, failureConverterPath);
  const key = failureConverterPath ?? '';
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = compileCached(failureConverterPath);
    bundles.set(key, bundle);
    bundle.catch(() => bundles.delete(key));
  }
  return bundle;
};

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === self;
if (isMain) {
  const { Command } = await import('commander');
  const program = new Command('bundle-workflows')
    .description('compile the workflow code into one file for WORKFLOW_BUNDLE')
    .requiredOption('--out <file>', 'where to write the bundle')
    .option('--with-codec', 'for workers that encrypt payloads (PAYLOAD_KEY set): include the codec\'s failure converter')
    .option('--failure-converter <module>', 'internal: failure converter module to include')
    .action(async (opts: { out: string; withCodec?: boolean; failureConverter?: string }) => {
      const { failureConverterPath } = await import('../codec/data-converter.js');
      await writeWorkflowBundle(opts.out, opts.failureConverter ?? (opts.withCodec ? failureConverterPath : undefined));
      console.log(`workflow bundle written to ${opts.out}`);
    });
  await program.parseAsync();
}
