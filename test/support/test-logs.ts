/**
 * Every test process sends the Temporal runtime's logs (in-process workers, activities, workflows) through the
 * console at LOG_LEVEL (INFO by default), instead of straight to stderr. Vitest then keeps them with the test
 * that wrote them, and with `silent: 'passed-only'` shows them only for a test that fails.
 */
import { inspect } from 'node:util';
import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';

const LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
const requested = process.env.LOG_LEVEL?.toUpperCase();
const level: LogLevel = LEVELS.find((l) => l === requested) ?? 'INFO';

const toConsole = (entry: LogEntry): void => {
  const meta = entry.meta && Object.keys(entry.meta).length > 0 ? ` ${inspect(entry.meta, { breakLength: Infinity, depth: 4 })}` : '';
  const line = `[${entry.level}] ${entry.message}${meta}`;
  if (entry.level === 'ERROR' || entry.level === 'WARN') console.error(line);
  else console.log(line);
};

try {
  Runtime.install({ logger: new DefaultLogger(level, toConsole) });
} catch {
  // Installed already: setup files run once per test file, and with isolation off the process is reused.
}
