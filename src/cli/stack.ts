/** The local Temporal dev server through scripts/temporal.sh, as a developer would run it. */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs `scripts/temporal.sh <command>` with the port taken from TEMPORAL_ADDRESS; resolves with its output. */
export const temporalScript = (config: Config, command: 'start' | 'stop' | 'status', env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> =>
  new Promise((done, fail) => {
    const port = config.TEMPORAL_ADDRESS.split(':').at(-1) ?? '7233';
    const child = spawn('bash', [join(repoRoot, 'scripts/temporal.sh'), command], {
      cwd: repoRoot,
      env: { ...process.env, TEMPORAL_PORT: port, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, output: output.trim() }));
  });
