/** The local servers through their scripts (scripts/temporal.sh, scripts/kafka.sh), as a developer would run them. */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

type StackCommand = 'start' | 'stop' | 'status';

/** Runs `scripts/temporal.sh <command>` with the port taken from TEMPORAL_ADDRESS; resolves with its output. */
export const temporalScript = (config: Config, command: StackCommand, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> =>
  runScript('scripts/temporal.sh', command, { TEMPORAL_PORT: config.TEMPORAL_ADDRESS.split(':').at(-1) ?? '7233', ...env });

/** Runs `scripts/kafka.sh <command>` with the port of the first of KAFKA_BROKERS. */
export const kafkaScript = (config: Config, command: StackCommand): Promise<{ code: number; output: string }> =>
  runScript('scripts/kafka.sh', command, { KAFKA_PORT: config.KAFKA_BROKERS.split(',')[0]?.split(':').at(-1) ?? '9092', KAFKA_PARTITIONS: String(config.KAFKA_PARTITIONS) });

const runScript = (script: string, command: StackCommand, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> =>
  new Promise((done, fail) => {
    const child = spawn('bash', [join(repoRoot, script), command], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, output: output.trim() }));
  });
