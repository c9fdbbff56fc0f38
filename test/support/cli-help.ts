/**
 * The help of a command of the project CLI, read in this process from the same commander tree `npm run cli` parses
 * (src/cli/main.ts builds it on import and parses only when run): one process instead of a Node process compiling
 * the CLI per command. commander prints exactly this text for `--help`.
 */
import type { Command } from 'commander';

export const cliProgram = async (): Promise<Command> => (await import('../../src/cli/main.js')).program;

/** `npm run cli -- <path> --help`'s text; throws for a path the tree does not have. */
export const cliHelp = async (path: string[]): Promise<string> => {
  let command = await cliProgram();
  for (const name of path) {
    const sub = command.commands.find((c) => c.name() === name);
    if (sub === undefined) throw new Error(`the CLI has no command "${path.join(' ')}" (no "${name}" under "${command.name()}")`);
    command = sub;
  }
  return command.helpInformation();
};
