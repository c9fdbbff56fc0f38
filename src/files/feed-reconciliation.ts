/**
 * A reconciliation file built from the simulated feed's truth for a date: the same transactions (ids, amounts,
 * times) the stream received, plus a small, stated number of differences, so the first report a newcomer reads
 * shows what a reconciliation is for: a few transactions the stream missed, a few amounts the client corrected,
 * and a few the stream saw that the client's books do not have.
 */
import { formatTimestamp, startOfBusinessDate } from '../domain/dates.js';
import { formatMinor, type FeedModel } from '../sources/simulated-feed.js';
import { generateFile, type GeneratedFile, type GeneratedRow } from './generate.js';

export interface FeedDifferences {
  /** Transactions only in the file: the stream never received them. */
  missed: number;
  /** Transactions whose amount the file corrects (+1.00, or +1 yen). */
  corrected: number;
  /** Transactions the stream received that the file leaves out. */
  streamOnly: number;
}

export const DEFAULT_FEED_DIFFERENCES: FeedDifferences = { missed: 3, corrected: 2, streamOnly: 1 };

type FeedRow = GeneratedRow & { minor: number };

/**
 * The valid, first-seen transactions of `date` among the feed's offsets [0, through): what the stream holds for
 * the date once it has read that far (invalid events, duplicates and conflicting re-sends excluded).
 */
export function* feedTruth(model: FeedModel, date: string, through: number): Generator<FeedRow> {
  for (let offset = 0; offset < through; offset++) {
    const plan = model.plan(offset);
    if (plan.kind === 'invalid' || plan.kind === 'duplicate' || plan.kind === 'conflict') continue;
    const f = plan.fields;
    if (f.eventDate !== date) continue;
    yield {
      transaction_id: f.transactionId,
      account_id: f.accountId,
      event_ts: f.eventTs,
      event_date: f.eventDate,
      amount: formatMinor(f.minor, f.currency),
      currency: f.currency,
      merchant_id: f.merchantId,
      description: f.descriptionJson === null ? null : (JSON.parse(f.descriptionJson) as string),
      minor: f.minor,
    };
  }
}

export interface FeedReconciliation {
  file: GeneratedFile;
  /** Transactions of the date in the feed (before the differences). */
  truthRows: number;
  missed: string[];
  corrected: Array<{ transactionId: string; from: string; to: string }>;
  streamOnly: string[];
}

export const reconciliationFromFeed = async (input: {
  dir: string;
  model: FeedModel;
  date: string;
  /** Offsets [0, through) are what the stream has read. */
  through: number;
  sequence: number;
  clientId: string;
  differences?: FeedDifferences;
}): Promise<FeedReconciliation> => {
  const wanted = input.differences ?? DEFAULT_FEED_DIFFERENCES;
  const truth = [...feedTruth(input.model, input.date, input.through)];
  // Corrections from the front, omissions from the back: never the same transaction twice.
  const correctedCount = Math.min(wanted.corrected, truth.length);
  const streamOnlyCount = Math.min(wanted.streamOnly, truth.length - correctedCount);
  const corrected: FeedReconciliation['corrected'] = [];
  const rows: GeneratedRow[] = truth.slice(0, truth.length - streamOnlyCount).map((row, i) => {
    const { minor, ...cells } = row;
    if (i >= correctedCount) return cells;
    const currency = cells.currency as Parameters<typeof formatMinor>[1];
    const to = formatMinor(minor + (currency === 'JPY' ? 1 : 100), currency);
    corrected.push({ transactionId: cells.transaction_id ?? '', from: cells.amount ?? '', to });
    return { ...cells, amount: to };
  });
  const streamOnly = truth.slice(truth.length - streamOnlyCount).map((r) => r.transaction_id ?? '');
  const tz = input.model.settings.timeZone;
  const noon = startOfBusinessDate(input.date, tz) + 12 * 3_600_000;
  const missed: string[] = [];
  for (let i = 0; i < wanted.missed; i++) {
    const id = `file-only-${input.date.replaceAll('-', '')}-${i + 1}`;
    missed.push(id);
    rows.push({
      transaction_id: id,
      account_id: 'acct-9999',
      event_ts: formatTimestamp(noon + i * 60_000, tz),
      event_date: input.date,
      amount: `${10 + i}.00`,
      currency: 'USD',
      merchant_id: null,
      description: 'Recorded by the client, never streamed',
    });
  }
  const file = await generateFile({
    dir: input.dir,
    kind: 'reconciliation',
    covers: [input.date],
    rows: rows.length,
    sequence: input.sequence,
    clientId: input.clientId,
    rowsOf: () => rows,
  });
  return { file, truthRows: truth.length, missed, corrected, streamOnly };
};
