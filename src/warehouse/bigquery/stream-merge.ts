/**
 * The periodic classification of `stream_events` into `transactions` (provisional), `late_arrivals` and
 * `stream_conflicts` (duplicates counted), one arrival window per run on a configurable cadence.
 *
 * Order against a file's replacement: both touch the write fence first, so BigQuery serialises them. A run that
 * meets a concurrent update (or its own window guard) yields at once, without retrying; the next tick reads the
 * ledger again and classifies the same window, so events for a date the replacement just sealed become late
 * arrivals. The replacement keeps its own bounded retries and waits at most one run (a few seconds): no endless
 * "aborted due to concurrent update" loop on either side.
 */
import { GUARD_MARKER } from './sql.js';
import {
  classifyScript,
  emptyWindowStatement,
  lastMergeStatement,
  pendingDatesStatement,
  sealedDatesStatement,
  type MergeWindow,
  type TableRef,
} from './stream-sql.js';

export type RunSql = (sql: string) => Promise<Array<Record<string, unknown>>>;

export interface StreamMergeOptions {
  run: RunSql;
  t: TableRef;
  /**
   * Events are classified once they are this old: longer than any successful append takes (the sink fails a batch
   * whose appends took over half of it), so no event becomes visible behind a window already classified.
   */
  settleMs?: number;
  now?: () => Date;
  /** Prefix of each run's id (a worker identity), for the `stream_merges` log. */
  runIdPrefix?: string;
  /** Days of event dates around the window's in which an id is looked for (default CROSS_DATE_DAYS; see classifyScript). */
  crossDateDays?: number;
}

export type MergeOutcome =
  | { outcome: 'merged'; window: MergeWindow; counts: MergeCounts }
  | { outcome: 'empty'; from: string; to: string }
  /** A concurrent writer (a file's replacement or another classifier) held the fence: nothing written, try next tick. */
  | { outcome: 'yielded'; reason: string };

export interface MergeCounts {
  events: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  late: number;
}

export const DEFAULT_SETTLE_MS = 30_000;
const EPOCH = '1970-01-01T00:00:00.000000Z';

/** BigQuery's concurrent-update aborts and this module's guard: the run yields instead of retrying. */
export const yieldsToConcurrentWriter = (error: unknown): boolean => {
  const e = error as { message?: string; errors?: Array<{ message?: string }> };
  const text = [e.message ?? '', ...(e.errors ?? []).map((x) => x.message ?? '')].join('\n');
  return text.includes(GUARD_MARKER) || /could not serialize access|concurrent update|transaction is aborted/i.test(text);
};

/** A row's `event_date` text; anything else is an error (the run fails and the next tick tries the window again). */
const dateOf = (row: Record<string, unknown>): string => {
  const d = row.event_date;
  if (typeof d !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(d)) throw new Error(`unexpected event_date in a result row: ${JSON.stringify(row)}`);
  return d;
};

const isoMicros = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class StreamMerge {
  private readonly settleMs: number;
  private readonly now: () => Date;
  private seq = 0;

  constructor(private readonly options: StreamMergeOptions) {
    this.settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.now = options.now ?? (() => new Date());
  }

  /** Classifies every event that arrived since the last run and is older than the settle time. */
  async tick(): Promise<MergeOutcome> {
    const { run, t } = this.options;
    const [last] = await run(lastMergeStatement(t));
    const from = typeof last?.window_to === 'string' ? last.window_to : EPOCH;
    const to = isoMicros(new Date(this.now().getTime() - this.settleMs));
    if (to <= from) return { outcome: 'empty', from, to };
    const mergeId = `${this.options.runIdPrefix ?? 'merge'}-${Date.parse(to)}-${++this.seq}`;
    try {
      const dates = (await run(pendingDatesStatement(t, from, to))).map((r) => dateOf(r)).sort();
      if (dates.length === 0) {
        await run(emptyWindowStatement(t, { mergeId, from, to }));
        return { outcome: 'empty', from, to };
      }
      const sealedDates = (await run(sealedDatesStatement(t, dates))).map((r) => dateOf(r));
      const window: MergeWindow = { mergeId, from, to, dates, sealedDates };
      await run(classifyScript(t, window, this.options.crossDateDays));
      const [row] = await run(
        `SELECT events, inserted, duplicates, conflicts, late FROM ${t('stream_merges')} WHERE merge_id = '${mergeId}'`,
      );
      if (!row) return { outcome: 'yielded', reason: 'run not recorded' };
      const n = (k: string): number => Number(row[k] ?? 0);
      return {
        outcome: 'merged',
        window,
        counts: { events: n('events'), inserted: n('inserted'), duplicates: n('duplicates'), conflicts: n('conflicts'), late: n('late') },
      };
    } catch (error) {
      if (yieldsToConcurrentWriter(error)) return { outcome: 'yielded', reason: (error as Error).message };
      throw error;
    }
  }
}

/** Runs `tick` every `everyMs` until stopped; one run at a time, errors reported, never thrown into the timer. */
export const startMergeLoop = (
  merge: StreamMerge,
  everyMs: number,
  onResult: (result: MergeOutcome | { outcome: 'failed'; error: unknown }) => void = () => {},
): { stop: () => Promise<void> } => {
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = merge.tick().then(onResult, (error: unknown) => onResult({ outcome: 'failed', error })).finally(schedule);
    }, everyMs);
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
};
