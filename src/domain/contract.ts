/**
 * The client's data contract, version 1 (see docs/contract.md): stream events, file rows and manifests.
 * Every value arriving from the client passes through one of these schemas; nothing is guessed or defaulted.
 */
import { z } from 'zod';

export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const AMOUNT_PATTERN = /^-?[0-9]{1,29}(\.[0-9]{1,9})?$/;
export const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
/**
 * RFC 3339 with a mandatory offset or Z, fractional seconds optional, and field ranges (hour 00–23, minute and second
 * 00–59, offset up to ±23:59): no leap second, no 24:00, which BigQuery TIMESTAMP refuses. The date part is checked as a calendar date separately.
 * Written so that the same source works in JavaScript and in RE2 (DuckDB's and BigQuery's regex engine).
 */
export const STRICT_TIMESTAMP_PATTERN =
  /^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
/** Earliest calendar date BigQuery DATE accepts (year 0000 is a valid ISO date but not a warehouse one). */
export const MIN_DATE = '0001-01-01';
/** Longest merchant_id and description, in Unicode code points. */
export const MAX_MERCHANT_ID_CHARS = 64;
export const MAX_DESCRIPTION_CHARS = 512;

/** The columns a file must carry, in the canonical order used for staging. */
export const FILE_COLUMNS = [
  'transaction_id',
  'account_id',
  'event_ts',
  'event_date',
  'amount',
  'currency',
  'merchant_id',
  'description',
] as const;
export type FileColumn = (typeof FILE_COLUMNS)[number];
export const REQUIRED_FILE_COLUMNS: readonly FileColumn[] = FILE_COLUMNS.filter(
  (c) => c !== 'merchant_id' && c !== 'description',
);

/** ISO 4217 alpha-3 codes in active use; an unknown code is rejected, never guessed. */
export const ISO_4217 = new Set(
  (
    'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF ' +
    'CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG ' +
    'HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA ' +
    'MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD ' +
    'RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX ' +
    'USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG'
  ).split(' '),
);

/** A real calendar date YYYY-MM-DD from 0001-01-01 (no 2026-02-30). */
export const isRealDate = (s: string): boolean => {
  if (!DATE_PATTERN.test(s) || s < MIN_DATE) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
};
// Date.parse alone is lenient (it accepts 2026-02-30T00:00:00Z and 24:00), hence the strict pattern and the calendar check.
export const isRealTimestamp = (s: string): boolean => STRICT_TIMESTAMP_PATTERN.test(s) && isRealDate(s.slice(0, 10));
const codePoints = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

export const idSchema = z.string().regex(ID_PATTERN, 'must be 1–64 chars of [A-Za-z0-9._:-]');
export const eventDateSchema = z.string().refine(isRealDate, 'must be a calendar date YYYY-MM-DD');
export const eventTsSchema = z.string().refine(isRealTimestamp, 'must be an RFC 3339 timestamp with an offset or Z');
export const amountSchema = z
  .string()
  .regex(AMOUNT_PATTERN, 'must be an exact decimal with at most 29 integer and 9 fractional digits');
export const currencySchema = z
  .string()
  .regex(CURRENCY_PATTERN, 'must be an upper-case ISO 4217 code')
  .refine((c) => ISO_4217.has(c), 'is not an ISO 4217 currency');
const merchantSchema = z
  .string()
  .refine((s) => codePoints(s) <= MAX_MERCHANT_ID_CHARS, `must be at most ${MAX_MERCHANT_ID_CHARS} characters`);
const descriptionSchema = z
  .string()
  .refine((s) => codePoints(s) <= MAX_DESCRIPTION_CHARS, `must be at most ${MAX_DESCRIPTION_CHARS} characters`);

const transactionShape = {
  transaction_id: idSchema,
  account_id: idSchema,
  event_ts: eventTsSchema,
  amount: amountSchema,
  currency: currencySchema,
  merchant_id: merchantSchema.optional(),
  description: descriptionSchema.optional(),
};

/** A stream event as the client sends it. Unknown fields are ignored (and counted by the caller). */
export const streamEventSchema = z.object({
  schema_version: z.literal(1),
  ...transactionShape,
  event_date: eventDateSchema.optional(),
});
export type StreamEvent = z.infer<typeof streamEventSchema>;

/** A file data row (all columns are strings as read from CSV; empty optional cells are null). */
export const fileRowSchema = z.strictObject({
  ...transactionShape,
  event_date: eventDateSchema,
  merchant_id: merchantSchema.nullable(),
  description: descriptionSchema.nullable(),
});
export type FileRow = z.infer<typeof fileRowSchema>;

export const fileKindSchema = z.enum(['reconciliation', 'amendment']);
export type FileKind = z.infer<typeof fileKindSchema>;

export const manifestSchema = z
  .strictObject({
    file_id: idSchema,
    client_id: idSchema,
    kind: fileKindSchema,
    covers: z.array(eventDateSchema).min(1, 'must list at least one date'),
    sequence: z.number().int().nonnegative(),
    row_count: z.number().int().nonnegative(),
    control_totals: z.record(currencySchema, amountSchema),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
    created_at: eventTsSchema,
  })
  .superRefine((m, ctx) => {
    if (new Set(m.covers).size !== m.covers.length) {
      ctx.addIssue({ code: 'custom', path: ['covers'], message: 'lists a date twice' });
    }
    if (m.kind === 'reconciliation' && m.covers.length !== 1) {
      ctx.addIssue({ code: 'custom', path: ['covers'], message: 'a reconciliation covers exactly one date' });
    }
  });
export type Manifest = z.infer<typeof manifestSchema>;

/** A validated transaction in the shape every warehouse adapter writes. */
export interface Transaction {
  transactionId: string;
  accountId: string;
  eventTs: string;
  eventDate: string;
  amount: string;
  currency: string;
  merchantId: string | null;
  description: string | null;
}

/** A problem found in client input, with enough structure for an operator to act on it. */
export interface InputIssue {
  /** File name or stream source. */
  source: string;
  /** 1-based line in the file, or the stream offset. */
  line: number | null;
  field: string | null;
  reason: string;
}

export const formatIssue = (i: InputIssue): string =>
  `${i.source}${i.line === null ? '' : `:${i.line}`}${i.field === null ? '' : ` field ${i.field}`}: ${i.reason}`;

/** Flattens zod issues into InputIssues that name the field. */
export const zodIssues = (error: z.ZodError, source: string, line: number | null): InputIssue[] =>
  error.issues.map((issue) => ({
    source,
    line,
    field: issue.path.length > 0 ? issue.path.join('.') : null,
    reason: issue.message,
  }));
