import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Runtime } from '@temporalio/worker';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { repoRoot } from '../support/servers.js';

const runFixture = (env: Record<string, string>): Promise<{ code: number; out: string }> =>
  new Promise((resolve, reject) => {
    const vitest = join(repoRoot, 'node_modules/.bin/vitest');
    const child = spawn(vitest, ['run', '--config', 'test/fixtures/quiet-logs/vitest.config.ts'], {
      cwd: repoRoot,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });

describe('test output', () => {
  afterEach(() => vi.restoreAllMocks());

  test("the Temporal runtime's logs in a test process go through the console, filtered at LOG_LEVEL", () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    Runtime.instance().logger.info('runtime log probe', { step: 'validate' });
    Runtime.instance().logger.debug('below the level');
    expect(log.mock.calls.map((c) => String(c[0]))).toEqual(["[INFO] runtime log probe { step: 'validate' }"]);
  });

  test("a green run prints no worker log lines; a failing test's log lines are shown", async () => {
    const green = await runFixture({});
    expect(green.code, green.out).toBe(0);
    expect(green.out).toMatch(/1 passed/);
    expect(green.out).not.toMatch(/\[INFO\] PASSING-TEST-LOG-LINE/);

    const red = await runFixture({ QUIET_LOGS_FAIL: '1' });
    expect(red.code).not.toBe(0);
    expect(red.out).toMatch(/\[WARN\] FAILING-TEST-LOG-LINE/);
    expect(red.out).not.toMatch(/\[INFO\] PASSING-TEST-LOG-LINE/);
  });

  test('LOG_LEVEL is honoured in test processes: ERROR hides the WARN line of a failing test', async () => {
    const red = await runFixture({ QUIET_LOGS_FAIL: '1', LOG_LEVEL: 'ERROR' });
    expect(red.code).not.toBe(0);
    expect(red.out).toMatch(/fails after logging/);
    expect(red.out).not.toMatch(/\[WARN\] FAILING-TEST-LOG-LINE/);
  });
});
