/**
 * The DuckDB connections of one warehouse: a database file opened once, a writer through which every write runs one
 * at a time (as a transaction where it must be atomic), and a reader that sees committed snapshots only. Write work
 * started inside a job context whose signal fires is interrupted, rolled back and rejected with the signal's reason.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, LIST, VARCHAR, listValue } from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import type { Row } from '../core/mappers.js';
import { currentSignal } from '../job-context.js';

export type Params = Record<string, DuckDBValue>;
export type Types = Record<string, DuckDBType>;

export interface ConnectionOptions {
  /** Database file path, or ':memory:' for tests. */
  path: string;
  /**
   * DuckDB memory_limit; beyond it, sorts, joins and large inserts spill to `tempDirectory`. Defaults to 256MB
   * for a database file: the stream's micro-batches look every id up in `transactions`, and keep up at 25,000
   * events/s only while that table's blocks stay cached (docs/stream.md). An in-memory database (tests) keeps
   * DuckDB's default, since its tables live in it.
   */
  memoryLimit?: string;
  /**
   * memory_limit while a file's rows are staged, replaced, reported on, reverted or restored (default 96MB with
   * `memoryLimit`, none without): the writer is the file's alone then, so the blocks the stream keeps cached are
   * dropped (they are on disk) and the file's millions of rows spill rather than grow the process
   * (docs/files.md: what the file path costs in memory).
   */
  fileMemoryLimit?: string;
  /** Where DuckDB spills; defaults to `<database file>.tmp` beside the file. */
  tempDirectory?: string;
  threads?: number;
}

/** File work runs within the file's memory budget; everything else within the usual one. */
export type Budget = 'usual' | 'file';

const DEFAULT_MEMORY_LIMIT = '256MB';
const DEFAULT_FILE_MEMORY_LIMIT = '96MB';

/** strftime format of an instant as the port's ISO text. */
export const ISO_TS = `'%Y-%m-%dT%H:%M:%S.%fZ'`;

export const sqlLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;

export const dateList = (dates: string[]): DuckDBValue => listValue(dates);
export const LIST_TYPE: Types = { dates: LIST(VARCHAR) };

/** The signal of the write work a connection is running, checked before each of its statements. */
const cancellation = new WeakMap<DuckDBConnection, AbortSignal>();

/** DuckDB refuses parameters a statement does not use; pass only those it names. */
const only = <T>(sql: string, values?: Record<string, T>): Record<string, T> | undefined =>
  values && Object.fromEntries(Object.entries(values).filter(([k]) => new RegExp(`\\$${k}\\b`).test(sql)));

export const run = async (c: DuckDBConnection, sql: string, params?: Params, types?: Types): Promise<void> => {
  cancellation.get(c)?.throwIfAborted();
  await c.run(sql, only(sql, params), types && only(sql, types));
};

export const rows = async (c: DuckDBConnection, sql: string, params?: Params, types?: Types): Promise<Row[]> => {
  cancellation.get(c)?.throwIfAborted();
  const reader = await c.runAndReadAll(sql, only(sql, params), types && only(sql, types));
  return reader.getRowObjectsJson() as Row[];
};

export class DuckDbConnections {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly instance: DuckDBInstance,
    readonly writer: DuckDBConnection,
    readonly reader: DuckDBConnection,
    /** memory_limit outside file work, and during it; unset for an in-memory database. */
    private readonly budgets?: { usual: string; file: string },
  ) {}

  static async open(options: ConnectionOptions): Promise<DuckDbConnections> {
    const inMemory = options.path === ':memory:';
    if (!inMemory) mkdirSync(dirname(options.path), { recursive: true });
    const settings: Record<string, string> = {};
    // Bounded by default (DuckDB's own default is 80% of RAM): large sorts and inserts spill instead.
    const memoryLimit = options.memoryLimit ?? (inMemory ? undefined : DEFAULT_MEMORY_LIMIT);
    if (memoryLimit !== undefined) settings.memory_limit = memoryLimit;
    if (options.threads !== undefined) settings.threads = String(options.threads);
    const tempDirectory = options.tempDirectory ?? (inMemory ? undefined : `${options.path}.tmp`);
    if (tempDirectory !== undefined) settings.temp_directory = tempDirectory;
    const instance = await DuckDBInstance.create(options.path, settings);
    const writer = await instance.connect();
    const reader = await instance.connect();
    // Timestamps are instants; render them in UTC whatever the host's zone.
    for (const c of [writer, reader]) await run(c, `SET TimeZone = 'UTC'`);
    const budgets = memoryLimit === undefined ? undefined : { usual: memoryLimit, file: options.fileMemoryLimit ?? DEFAULT_FILE_MEMORY_LIMIT };
    return new DuckDbConnections(instance, writer, reader, budgets);
  }

  /**
   * Runs write work one at a time, in arrival order. With budgets (a database file), file work runs within the
   * file's memory budget and without insertion order kept, so its large inserts run in parallel; both come back
   * afterwards. Every read the warehouse serves has its own ORDER BY, so no reader depends on insertion order.
   * The caller's cancellation signal (its job context) is taken when the work is queued.
   */
  exclusive<T>(work: () => Promise<T>, budget: Budget = 'usual'): Promise<T> {
    const signal = currentSignal();
    const budgets = this.budgets;
    const budgeted = budget === 'file' && budgets ? () => this.withinFileBudget(budgets, work) : work;
    const guarded = signal ? () => this.cancellable(signal, budgeted) : budgeted;
    const next = this.queue.then(guarded, guarded);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** `work` as one transaction on the writer: committed whole, or rolled back whole when it throws or is cancelled. */
  transaction<T>(work: (c: DuckDBConnection) => Promise<T>, budget: Budget = 'usual'): Promise<T> {
    return this.exclusive(() => this.inTransaction(work), budget);
  }

  /** `transaction` for work already running exclusively (inside `exclusive`). */
  async inTransaction<T>(work: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    await run(this.writer, 'BEGIN TRANSACTION');
    try {
      const result = await work(this.writer);
      // A cancellation that arrived after the last statement still undoes the work: nothing is committed late.
      cancellation.get(this.writer)?.throwIfAborted();
      await this.writer.run('COMMIT');
      return result;
    } catch (error) {
      await this.settle('ROLLBACK');
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.reader.closeSync();
      this.writer.closeSync();
      this.instance.closeSync();
    });
  }

  /**
   * While `work` runs, the signal interrupts the writer's running statement; the work then fails with the signal's
   * reason (the interruption's own error is DuckDB's), and no later statement of it starts.
   */
  private async cancellable<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    const interrupt = (): void => this.writer.interrupt();
    cancellation.set(this.writer, signal);
    signal.addEventListener('abort', interrupt, { once: true });
    try {
      return await work();
    } catch (error) {
      signal.throwIfAborted();
      throw error;
    } finally {
      signal.removeEventListener('abort', interrupt);
      cancellation.delete(this.writer);
    }
  }

  /**
   * Runs a statement that must run even after a cancellation (rollback, budget reset). The signal interrupts once:
   * if it lands on this statement, the second attempt runs undisturbed.
   */
  private async settle(sql: string): Promise<void> {
    try {
      await this.writer.run(sql);
    } catch {
      await this.writer.run(sql);
    }
  }

  private async withinFileBudget<T>(budgets: { usual: string; file: string }, work: () => Promise<T>): Promise<T> {
    try {
      await run(this.writer, `SET memory_limit = ${sqlLiteral(budgets.file)}`);
      await run(this.writer, 'SET preserve_insertion_order = false');
      return await work();
    } finally {
      // Not through `run`: the budget comes back even after a cancellation.
      await this.settle('RESET preserve_insertion_order');
      await this.settle(`SET memory_limit = ${sqlLiteral(budgets.usual)}`);
    }
  }
}
