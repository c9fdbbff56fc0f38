/**
 * docs/runbook.md names only commands that exist: every `temporal …` command path and flag is in the installed CLI's
 * help, and every `npm run cli -- …` command and flag is in the project CLI's help.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cliHelp } from '../support/cli-help.js';
import { repoRoot } from '../support/servers.js';

const run = promisify(execFile);
const runbook = readFileSync(join(repoRoot, 'docs/runbook.md'), 'utf8');
const temporalBin = join(repoRoot, '.tools/bin/temporal');

/** Every command line in code blocks and inline code (an inline span may wrap across lines). */
const commandLines = (): string[] => {
  const blocks = [...runbook.matchAll(/```(?:sh)?\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split('\n'));
  const withoutBlocks = runbook.replace(/```[\s\S]*?```/g, '');
  const inline = [...withoutBlocks.matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').replace(/\s*\n\s*/g, ' '));
  return [...blocks, ...inline].map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
};

interface Invocation {
  path: string[];
  flags: string[];
}

/** `<prefix> a b --x 1 --y` → path [a, b], flags [--x, --y]; the path stops at the first flag or argument. */
const parse = (line: string, prefix: RegExp): Invocation | undefined => {
  const match = prefix.exec(line);
  if (!match) return undefined;
  const tokens = line.slice(match.index + match[0].length).split(/\s+/).filter(Boolean);
  const path: string[] = [];
  for (const t of tokens) {
    if (!/^[a-z][a-z-]*$/.test(t)) break;
    path.push(t);
  }
  const flags = tokens.filter((t) => /^--[a-z][a-z-]*/.test(t)).map((t) => t.replace(/=.*$/, ''));
  return path.length > 0 ? { path, flags } : undefined;
};

const grouped = (invocations: Invocation[]): Map<string, Set<string>> => {
  const byPath = new Map<string, Set<string>>();
  for (const { path, flags } of invocations) {
    const key = path.join(' ');
    const set = byPath.get(key) ?? new Set<string>();
    for (const f of flags) set.add(f);
    byPath.set(key, set);
  }
  return byPath;
};

describe('docs/runbook.md', () => {
  const lines = commandLines();
  const temporalCommands = grouped(lines.flatMap((l) => parse(l, /(?:^|\s)temporal\s+/) ?? []));
  const cliCommands = grouped(lines.flatMap((l) => parse(l, /npm run cli --\s+/) ?? []));

  it('covers reset, batch operations, retention, replaying a file and the alerts', () => {
    for (const heading of ['## Alerts: what each means and what to do', '## Replaying a file', '## Reset', '## Batch operations', '## Retention']) {
      expect(runbook).toContain(heading);
    }
    expect([...temporalCommands.keys()]).toEqual(expect.arrayContaining(['workflow reset', 'workflow terminate', 'batch list', 'operator namespace update']));
    expect([...cliCommands.keys()]).toEqual(expect.arrayContaining(['replay', 'daily rerun', 'search-attributes', 'codec-server']));
  });

  it('uses temporal CLI commands and flags that the installed CLI has', async () => {
    const globalOptions = (await run(temporalBin, ['options'])).stdout;
    await Promise.all(
      [...temporalCommands].map(async ([path, flags]) => {
        const help = (await run(temporalBin, [...path.split(' '), '--help'])).stdout;
        // An unknown subcommand prints its parent's help: the usage line must name the whole path.
        expect(help, path).toMatch(new RegExp(`^\\s+temporal ${path}( |$)`, 'm'));
        for (const flag of flags) expect(help.includes(flag) || globalOptions.includes(flag), `temporal ${path} ${flag}`).toBe(true);
      }),
    );
  });

  it("uses the project CLI's commands and flags as they are", async () => {
    // Read from the commander tree `npm run cli` parses (test/support/cli-help.ts): the text --help prints.
    for (const [path, flags] of cliCommands) {
      const help = await cliHelp(path.split(' '));
      expect(help, path).toMatch(new RegExp(`^Usage: cli ${path}( |$)`, 'm'));
      for (const flag of flags) expect(help, `npm run cli -- ${path} ${flag}`).toContain(flag);
    }
  });
});
