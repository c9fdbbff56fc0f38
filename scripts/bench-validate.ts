/**
 * Measures validateFile alone on a generated file: wall time per phase, rows/s and peak RSS.
 *   tsx scripts/bench-validate.ts --rows 1000000 [--gzip] [--memory-limit 256MB]
 */
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { generateFile } from '../src/files/generate.js';
import { validateFile, type ValidationPhase } from '../src/files/validate.js';

const program = new Command('bench-validate')
  .option('--rows <n>', 'data rows', (v) => Number(v.replaceAll('_', '')), 1_000_000)
  .option('--gzip', 'gzip the data file', false)
  .option('--memory-limit <size>', 'DuckDB memory limit', '256MB')
  .option('--dir <dir>', 'scratch directory', join(tmpdir(), 'bench-validate'))
  .option('--keep', 'keep the generated files', false)
  .action(async (opts: { rows: number; gzip: boolean; memoryLimit: string; dir: string; keep: boolean }) => {
    let peakRss = 0;
    const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const t0 = performance.now();
    const file = await generateFile({ dir: opts.dir, kind: 'reconciliation', covers: ['2026-11-21'], rows: opts.rows, seed: 9, gzip: opts.gzip });
    const generated = performance.now();
    const phaseStart = new Map<ValidationPhase, number>();
    const result = await validateFile({
      dataPath: file.dataPath,
      manifestText: await readFile(file.manifestPath, 'utf8'),
      manifestName: `${file.fileId}.manifest.json`,
      workDir: join(opts.dir, 'work'),
      memoryLimit: opts.memoryLimit,
      onProgress: (p) => {
        if (!phaseStart.has(p.phase)) phaseStart.set(p.phase, performance.now());
      },
    });
    const done = performance.now();
    clearInterval(sample);
    if (!result.ok) throw new Error(`validation failed: ${JSON.stringify(result.issues.slice(0, 3))}`);
    const phases = [...phaseStart.entries()];
    const seconds = (done - generated) / 1000;
    console.log(`generate: ${opts.rows.toLocaleString('en-US')} rows in ${((generated - t0) / 1000).toFixed(1)} s`);
    console.log(`validate: ${seconds.toFixed(1)} s, ${Math.round(opts.rows / seconds).toLocaleString('en-US')} rows/s`);
    phases.forEach(([phase, start], i) => {
      const end = phases[i + 1]?.[1] ?? done;
      console.log(`  ${phase.padEnd(9)} ${((end - start) / 1000).toFixed(1)} s`);
    });
    console.log(`peak RSS (sampled): ${Math.round(peakRss / 1e6)} MB`);
    if (!opts.keep) await rm(opts.dir, { recursive: true, force: true });
    else console.log(`kept ${file.dataPath} and ${result.normalizedCsvPath}`);
  });

await program.parseAsync();
