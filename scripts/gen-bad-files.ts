/**
 * Writes the bad-input corpus (one folder per case) and an index of expected outcomes:
 *   tsx scripts/gen-bad-files.ts --dir .data/bad-corpus
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { writeBadCorpus } from '../testkit/bad-corpus.js';

const program = new Command('gen-bad-files')
  .description('Write every bad or edge-case input with its expected outcome (expected.json)')
  .option('--dir <dir>', 'output directory', '.data/bad-corpus')
  .action(async (opts: { dir: string }) => {
    const cases = await writeBadCorpus(opts.dir);
    const index = cases.map((c) => ({
      name: c.name,
      description: c.description,
      ...(c.decision === undefined ? {} : { decision: c.decision }),
      data: c.dataName,
      manifest: c.manifestText === null ? null : c.manifestName,
      expect: { ...c.expect, ...('reason' in c.expect && c.expect.reason !== undefined ? { reason: String(c.expect.reason) } : {}) },
    }));
    await writeFile(join(opts.dir, 'expected.json'), `${JSON.stringify(index, null, 2)}\n`);
    for (const c of index) {
      const e = c.expect;
      const outcome = e.outcome === 'accept' ? 'accept' : `reject field=${String(e.field)} line=${String(e.line)}`;
      console.log(`${c.name.padEnd(40)} ${outcome}`);
    }
    console.log(`${cases.length} cases in ${opts.dir} (expected.json lists them)`);
  });

await program.parseAsync();
