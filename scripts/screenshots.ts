/**
 * Screenshots of the real Temporal UI for docs/operations.md: runs the demo with `--keep` (private server with
 * UI), adds one date whose file is late, and photographs the operator's queries in headless Chromium.
 * Not part of the test suite. Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
 *
 *   npx tsx scripts/screenshots.ts
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { repoRoot } from '../src/cli/stack.js';
import { addDays, businessDateOfInstant } from '../src/domain/dates.js';
import type { dailyWorkflow } from '../src/workflows/daily-workflow.js';
import { workflowIds } from '../src/domain/workflow-api.js';

const outDir = join(repoRoot, 'docs/screenshots');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const demo = spawn(join(repoRoot, 'node_modules/.bin/tsx'), ['scripts/demo.ts', '--keep'], {
  cwd: repoRoot,
  env: { ...process.env, NO_COLOR: '1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
demo.stdout.on('data', (chunk: Buffer) => {
  output += chunk.toString();
  process.stdout.write(chunk);
});
const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));

try {
  for (let i = 0; !/Temporal UI http:\/\/localhost:\d+/.test(output); i++) {
    if (demo.exitCode !== null || i > 1200) throw new Error('the demo did not reach its end state');
    await sleep(250);
  }
  const ui = /Temporal UI (http:\/\/localhost:\d+)/.exec(output)?.[1] ?? '';
  const address = /ready at (127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });

  // A date whose file never came: its daily run is late and stays so.
  const timeZone = 'America/New_York';
  const missing = addDays(businessDateOfInstant(Date.now(), timeZone), -3);
  const late = await client.workflow.start<typeof dailyWorkflow>('dailyWorkflow', {
    taskQueue: 'demo',
    workflowId: workflowIds.daily('acme', missing),
    args: [{ clientId: 'acme', timeZone, deadline: '06:00', date: missing, checkIntervalMs: 5000 }],
    staticSummary: `Waits for acme's reconciliation file of ${missing}; late after ${addDays(missing, 1)} 06:00 ${timeZone}`,
  });
  await sleep(4000);
  const stream = await client.workflow.getHandle(workflowIds.stream('sim:acme:p0')).describe();

  // A fresh profile directory each time (Playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 720 },
  });
  const page = await browser.newPage();
  mkdirSync(outDir, { recursive: true });
  const list = (query: string): string => `${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
  const run = (workflowId: string, runId: string): string =>
    `${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
  const since = new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10);
  const shots: Array<[string, string]> = [
    ['failed-reconciliations', list(`WorkflowType = 'fileWorkflow' AND FileKind = 'reconciliation' AND ExecutionStatus = 'Failed' AND StartTime > '${since}T00:00:00Z'`)],
    ['late-files', list(`WorkflowType = 'dailyWorkflow' AND LateFile = true AND ExecutionStatus = 'Running'`)],
    ['stream', run(stream.workflowId, stream.runId)],
    ['daily-run', run(late.workflowId, late.firstExecutionRunId)],
  ];
  for (const [name, url] of shots) {
    await page.goto(url, { waitUntil: 'load' });
    await sleep(5000);
    // On a workflow's page, show its summary and current details (what the workflow says about itself).
    if (url.includes('/history')) {
      await page.getByText('User Metadata', { exact: true }).first().click().catch(() => undefined);
      await sleep(1500);
    }
    await page.screenshot({ path: join(outDir, `${name}.png`) });
    console.log(`docs/screenshots/${name}.png ← ${url}`);
  }
  await browser.close();
  await late.terminate('screenshots taken');
  await connection.close();
} finally {
  demo.kill('SIGINT');
  await new Promise((r) => demo.once('close', r));
  rmSync(profile, { recursive: true, force: true });
}
