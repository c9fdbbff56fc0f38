/** `npm run demo` end to end: a compressed day on its own dev server; exits 0 only if the end state is right. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { DemoResult } from '../../scripts/demo.js';
import { repoRoot } from '../support/servers.js';

it('plays the day and ends with the earlier date amended, yesterday reconciled, the bad file rejected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'demo-test-'));
  const resultPath = join(dir, 'result.json');
  try {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
      const child = spawn(join(repoRoot, 'node_modules/.bin/tsx'), ['scripts/demo.ts'], {
        cwd: repoRoot,
        env: { ...process.env, DEMO_RESULT_PATH: resultPath, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c ?? 1, output: text }));
    });
    expect(code, output.slice(-4000)).toBe(0);
    const result = JSON.parse(readFileSync(resultPath, 'utf8')) as DemoResult;
    expect(result.ok).toBe(true);
    expect(result.checks.length).toBeGreaterThanOrEqual(13);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(output).toContain('[PROVISIONAL]');
    expect(output).toContain('[RECONCILED]');
    expect(output).toContain('[AMENDED]');
    expect(output).toMatch(/unknown column "amt"/);
    expect(output).toMatch(/LATE FILE|LateFile = true/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
