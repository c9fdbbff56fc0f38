import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { failureConverterPath } from '../../src/codec/data-converter.js';
import { compileCached, prebuiltBundle, workflowBundle } from '../../src/workers/bundle.js';

const execFileAsync = promisify(execFile);

describe('workflow bundle', () => {
  let dir: string;
  let plain: string;
  let withCodec: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bundle-test-'));
    plain = join(dir, 'plain.js');
    withCodec = join(dir, 'codec.js');
    // The build command of the README, run as a user runs it.
    const bundler = ['--import', 'tsx', 'src/workers/bundle.ts'];
    await execFileAsync(process.execPath, [...bundler, '--out', plain]);
    await execFileAsync(process.execPath, [...bundler, '--out', withCodec, '--with-codec']);
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('builds a bundle holding the workflows, marked with its failure converter', async () => {
    const code = await readFile(plain, 'utf8');
    expect(code.split('\n')[0]).toBe('// workflow bundle; failure converter: default');
    expect(code).toContain('streamWorkflow');
    expect(code).toContain('fileWorkflow');
    expect((await readFile(withCodec, 'utf8')).split('\n')[0]).toBe('// workflow bundle; failure converter: failure-converter.ts');
  });

  it('loads a prebuilt bundle by path when its failure converter matches the worker', async () => {
    await expect(workflowBundle(undefined, plain)).resolves.toEqual({ codePath: plain });
    await expect(workflowBundle(failureConverterPath, withCodec)).resolves.toEqual({ codePath: withCodec });
  });

  it('refuses a prebuilt bundle built for another failure converter, saying how to rebuild it', async () => {
    await expect(prebuiltBundle(plain, failureConverterPath)).rejects.toThrow(/another failure converter.*npm run build:workflows -- --with-codec/);
    await expect(prebuiltBundle(withCodec)).rejects.toThrow(/another failure converter/);
    await expect(prebuiltBundle(join(dir, 'missing.js'))).rejects.toThrow(/missing\.js: cannot read it/);
  });

  it('compiles the sources in a child process when no bundle is named', async () => {
    await import('@temporalio/worker');
    vi.stubEnv('WORKFLOW_BUNDLE_CACHE', '');
    const bundle = await workflowBundle();
    vi.unstubAllEnvs();
    expect('code' in bundle && bundle.code).toContain('fileWorkflow');
    // webpack (and its 100+ MB of compilation heap) never loaded in this process.
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.some((m) => m.includes('@temporalio/worker'))).toBe(true);
    expect(loaded.filter((m) => m.endsWith('/node_modules/webpack/lib/Compiler.js'))).toEqual([]);
  }, 120_000);

  it('with WORKFLOW_BUNDLE_CACHE, compiles once and has every later worker load the written bundle', async () => {
    const cache = join(dir, 'cache');
    vi.stubEnv('WORKFLOW_BUNDLE_CACHE', cache);
    try {
      const first = await compileCached();
      expect('code' in first && first.code).toContain('fileWorkflow');
      const written = join(cache, 'workflow-bundle-default.js');
      expect(readFileSync(written, 'utf8').slice(0, 200)).toContain('failure converter: default');
      await expect(compileCached()).resolves.toEqual({ codePath: written });
      // A bundle for another failure converter is compiled and kept beside it, never mixed up.
      await expect(compileCached(failureConverterPath)).resolves.toHaveProperty('code');
      await expect(compileCached(failureConverterPath)).resolves.toEqual({ codePath: join(cache, 'workflow-bundle-failure_converter.js') });
    } finally {
      vi.unstubAllEnvs();
    }
  }, 240_000);
});
