/**
 * Turns raw stream records into contract-checked transactions and rejects. Pure: no I/O, no clock.
 */
import {
  AMOUNT_PATTERN,
  FILE_COLUMNS,
  CURRENCY_PATTERN,
  ID_PATTERN,
  ISO_4217,
  isRealTimestamp,
  formatIssue,
  streamEventSchema,
  zodIssues,
  type StreamEvent,
  type Transaction,
} from './contract.js';
import { businessDate, isCalendarDate } from './dates.js';

/** A raw record as read from a source: its offset and the payload text as received. */
export interface RawStreamRecord {
  offset: number;
  payload: string;
}

export interface ParseStreamRecordsInput {
  /** Source id, named in reject reasons (`sim:acme:p0`). */
  sourceId: string;
  records: readonly RawStreamRecord[];
  /** The client's IANA time zone, for deriving an omitted `event_date` from `event_ts`. */
  timeZone: string;
}

export interface ParsedStreamRecords {
  /** Valid events in record order; the amount text is kept exactly as sent. */
  events: Transaction[];
  /** Events that failed the contract, with a reason naming the field, and the payload verbatim. */
  rejects: StreamReject[];
  /** Unknown fields in the valid events (ignored, counted; rejected events are not counted). */
  unknownFields: number;
  /** Offset of each entry of `events` (same index), for tracing an event back to the stream. */
  offsets: number[];
}

/**
 * Largest event accepted, in UTF-8 bytes. The contract's longest valid event is about 3 KB (512 characters of
 * description at up to 4 bytes each); anything far beyond is not an event of this contract, and a broker would
 * otherwise let one record fill a batch's memory.
 */
export const MAX_EVENT_BYTES = 64 * 1024;
/** How much of an oversized event is kept beside its reject reason. */
const OVERSIZED_RAW_KEPT = 1024;
const utf8 = new TextEncoder();

const KNOWN_FIELDS = new Set<string>(['schema_version', ...FILE_COLUMNS]);

// Names a missing field plainly instead of zod's "expected string, received undefined".
const parseOptions = {
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : undefined),
};

const codePointsAtMost = (s: string, max: number): boolean => s.length <= max || [...s].length <= max;

/**
 * The contract's rules for a stream event, checked by hand: zod alone runs near 200k events/s, which leaves
 * no room for JSON parsing at the 200k/s this path needs. Conservative by design: it only ever says "valid"
 * when `streamEventSchema` would; anything else goes to zod, which has the final word and the reasons.
 * test/unit/stream-event.test.ts checks both agree.
 */
const isValidEventFast = (e: Record<string, unknown>): boolean => {
  const { transaction_id: id, account_id: account, event_ts: ts, event_date: date, amount, currency } = e;
  const { merchant_id: merchant, description } = e;
  return (
    e.schema_version === 1 &&
    typeof id === 'string' &&
    ID_PATTERN.test(id) &&
    typeof account === 'string' &&
    ID_PATTERN.test(account) &&
    typeof ts === 'string' &&
    isRealTimestamp(ts) &&
    typeof amount === 'string' &&
    AMOUNT_PATTERN.test(amount) &&
    typeof currency === 'string' &&
    CURRENCY_PATTERN.test(currency) &&
    ISO_4217.has(currency) &&
    (date === undefined || (typeof date === 'string' && isCalendarDate(date))) &&
    (merchant === undefined || (typeof merchant === 'string' && merchant.length <= 64)) &&
    (description === undefined || (typeof description === 'string' && codePointsAtMost(description, 512)))
  );
};

const countUnknownFields = (value: object): number => {
  let unknown = 0;
  // JSON.parse yields plain objects with own properties only, so for-in needs no hasOwn check.
  for (const key in value) if (!KNOWN_FIELDS.has(key)) unknown++;
  return unknown;
};

const reject = (sourceId: string, offset: number, field: string | null, reason: string, raw: string): StreamReject => ({
  offset,
  reason: formatIssue({ source: sourceId, line: offset, field, reason }),
  raw,
});

/**
 * Parses each record's payload as one stream event of the client contract (version 1).
 *
 * - Non-JSON text, JSON that is not an object, and objects failing `streamEventSchema` become rejects;
 *   the reason is `formatIssue` of every issue (`sim:acme:p0:17 field currency: is required`), joined by '; '.
 * - Unknown fields of valid events are ignored and counted.
 * - An omitted `event_date` is derived from `event_ts` in `timeZone`; a present one is kept as sent.
 * - `amount` keeps the exact text sent (compare amounts with `canonicalAmount`).
 */
export const parseStreamRecords = ({ sourceId, records, timeZone }: ParseStreamRecordsInput): ParsedStreamRecords => {
  const events: Transaction[] = [];
  const offsets: number[] = [];
  const rejects: StreamReject[] = [];
  let unknownFields = 0;
  for (const record of records) {
    // Length in UTF-16 units is at most the UTF-8 size, and a third of it at least: count bytes only near the limit.
    if (record.payload.length * 3 > MAX_EVENT_BYTES) {
      const bytes = utf8.encode(record.payload).length;
      if (bytes > MAX_EVENT_BYTES) {
        const kept = `${record.payload.slice(0, OVERSIZED_RAW_KEPT)}…[${bytes} bytes, truncated]`;
        rejects.push(reject(sourceId, record.offset, null, `event is ${bytes} bytes, over the limit of ${MAX_EVENT_BYTES}`, kept));
        continue;
      }
    }
    let value: unknown;
    try {
      value = JSON.parse(record.payload);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      rejects.push(reject(sourceId, record.offset, null, `not valid JSON (${detail})`, record.payload));
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      rejects.push(reject(sourceId, record.offset, null, 'event must be a JSON object', record.payload));
      continue;
    }
    let e: StreamEvent;
    if (isValidEventFast(value as Record<string, unknown>)) {
      e = value as StreamEvent;
    } else {
      const parsed = streamEventSchema.safeParse(value, parseOptions);
      if (!parsed.success) {
        rejects.push({
          offset: record.offset,
          reason: zodIssues(parsed.error, sourceId, record.offset).map(formatIssue).join('; '),
          raw: record.payload,
        });
        continue;
      }
      e = parsed.data;
    }
    unknownFields += countUnknownFields(value);
    events.push({
      transactionId: e.transaction_id,
      accountId: e.account_id,
      eventTs: e.event_ts,
      eventDate: e.event_date ?? businessDate(e.event_ts, timeZone),
      amount: e.amount,
      currency: e.currency,
      merchantId: e.merchant_id ?? null,
      description: e.description ?? null,
    });
    offsets.push(record.offset);
  }
  return { events, rejects, unknownFields, offsets };
};

/** An event refused by the contract, kept verbatim with the reason. */
export interface StreamReject {
  offset: number;
  reason: string;
  /** The event as received (JSON text), stored verbatim. */
  raw: string;
}
