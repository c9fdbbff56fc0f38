/**
 * Typed query parameters and the SQL fragments the BigQuery adapter shares between statements.
 * Every value reaches BigQuery as a named, typed parameter; only validated identifiers are spliced into SQL.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { WarehouseError } from '../port.js';

/** A parameter type in the Node client's notation: 'STRING', ['DATE'], [{ field: 'TYPE' }]. */
export type ParamType = string | ParamType[] | { [field: string]: ParamType };
export interface Param {
  value: unknown;
  type: ParamType;
}
export type Params = Record<string, Param>;

/** One SQL statement and the parameters it names. */
export interface Statement {
  sql: string;
  params: Params;
}

export const p = {
  str: (value: string | null): Param => ({ value, type: 'STRING' }),
  int: (value: number | null): Param => ({ value, type: 'INT64' }),
  /** NUMERIC travels as decimal text, never as a JS number. */
  num: (value: string | null): Param => ({ value, type: 'NUMERIC' }),
  bool: (value: boolean): Param => ({ value, type: 'BOOL' }),
  date: (value: string | null): Param => ({ value: value === null ? null : BigQuery.date(value), type: 'DATE' }),
  dates: (values: string[]): Param => ({ value: values.map((d) => BigQuery.date(d)), type: ['DATE'] }),
  structs: (value: Array<Record<string, unknown>>, fields: Record<string, string>): Param => ({ value, type: [fields] }),
};

export const dateValue = (d: string): unknown => BigQuery.date(d);
/** BigQuery TIMESTAMP keeps microseconds: digits beyond the sixth are dropped, as DuckDB does. */
export const timestampValue = (ts: string): unknown => BigQuery.timestamp(ts.replace(/(\.\d{6})\d+/, '$1'));

/** Project id as GCP allows it (6–30 chars, lower case, digits, hyphens), optionally with a domain prefix. */
export const PROJECT_ID = /^(?:[a-z][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
export const DATASET_ID = /^[a-zA-Z0-9_]{1,1024}$/;
export const LOCATION = /^[a-zA-Z0-9-]{1,64}$/;
export const STAGING_ID = /^[a-z0-9_]{1,100}$/;

/** Marker of this adapter's own optimistic-concurrency guards: the state it read has moved, read again. */
export const GUARD_MARKER = 'warehouse-guard';

/**
 * A partition filter that keeps every date: for the few reads that need the whole table (an operator's listing of
 * all dates, a test's checksums). `transactions` requires a partition filter, so such a read says so in its text.
 */
export const allDates = (column: string): string => `${column} >= DATE '0001-01-01'`;

export const ISO_TS = (column: string): string => `FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', ${column}, 'UTC')`;

export { sameContent } from '../core/sql.js';

/** Fields of one stream event in the `@events` array parameter. */
export const EVENT_STRUCT: Record<string, string> = {
  ord: 'INT64',
  stream_offset: 'INT64',
  transaction_id: 'STRING',
  account_id: 'STRING',
  event_ts: 'TIMESTAMP',
  event_date: 'DATE',
  amount: 'NUMERIC',
  currency: 'STRING',
  merchant_id: 'STRING',
  description: 'STRING',
};

export const REJECT_STRUCT: Record<string, string> = { stream_offset: 'INT64', reason: 'STRING', raw: 'STRING' };

/** Per covered date: the version it moves from and to (read before the transaction, checked by its guard). */
export const VERSION_STRUCT: Record<string, string> = {
  event_date: 'DATE',
  from_version: 'INT64',
  to_version: 'INT64',
  from_status: 'STRING',
};

/** The model's BIGNUMERIC: 38 integer and 9 fraction digits, room for the sum of 10^9 amounts of 29 digits. */
export const WIDE_DECIMAL = 'BIGNUMERIC(47, 9)';

/**
 * An exact sum of NUMERIC amounts that cannot overflow: a day of 29-digit amounts exceeds NUMERIC, so the sum is taken
 * as BIGNUMERIC with 38 integer and 9 fraction digits. The precision is spelled out because the emulator's
 * BIGNUMERIC keeps 5 fraction digits unless given a scale (docs/emulators.md); with it, both give the exact sum up to
 * 29 integer digits (the emulator holds it as DECIMAL(38, 9)), BigQuery up to 38.
 */
export const wideSum = (expr: string): string => `SUM(CAST(${expr} AS ${WIDE_DECIMAL}))`;

/** Per-date totals of a row set as JSON text of CurrencyTotal[] (`rows` is reserved in BigQuery, hence the quotes). */
export const totalsJson = (alias: string, source: string): string => `${alias} AS (
  SELECT event_date, SUM(n) AS n,
         TO_JSON_STRING(ARRAY_AGG(STRUCT(currency AS currency, n AS \`rows\`, CAST(total AS STRING) AS total) ORDER BY currency)) AS totals
  FROM (SELECT event_date, currency, COUNT(*) AS n, ${wideSum('amount')} AS total FROM (${source}) GROUP BY event_date, currency)
  GROUP BY event_date)`;

/**
 * Text a script may carry as a literal: ids, statuses, fingerprints. No quote, backslash or newline can occur, so
 * the literal cannot end early; anything else is refused (such values travel as parameters of single statements).
 */
const SCRIPT_TEXT = /^[\p{L}\p{N} ._:/@=+,#~-]{0,1024}$/u;
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}$/;
const DECIMAL_TEXT = /^-?\d{1,38}(\.\d{1,38})?$/;

const refuse = (what: string, value: unknown): never => {
  throw new WarehouseError(`${what} ${JSON.stringify(value)} cannot be written into a script`, 'INVARIANT');
};

/** A date value as the client carries it (BigQueryDate) or as text. */
const dateText = (value: unknown): string => {
  const text = typeof value === 'object' && value !== null && 'value' in value ? String((value as { value: unknown }).value) : String(value);
  return DATE_TEXT.test(text) ? text : refuse('date', value);
};

const typeName = (type: ParamType): string => {
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return `ARRAY<${typeName(type[0] ?? 'STRING')}>`;
  return `STRUCT<${Object.entries(type).map(([name, t]) => `${name} ${typeName(t)}`).join(', ')}>`;
};

/** One value of a given parameter type as a GoogleSQL literal (validated, never raw text). */
export const literal = (value: unknown, type: ParamType): string => {
  if (value === null || value === undefined) return `CAST(NULL AS ${typeName(type)})`;
  if (Array.isArray(type)) {
    const element = type[0] ?? 'STRING';
    const items = Array.isArray(value) ? value : refuse('array', value);
    return items.length === 0 ? `CAST([] AS ${typeName(type)})` : `[${items.map((v) => literal(v, element)).join(', ')}]`;
  }
  if (typeof type === 'object') {
    const record = value as Record<string, unknown>;
    return `STRUCT(${Object.entries(type).map(([name, t]) => `${literal(record[name], t)} AS ${name}`).join(', ')})`;
  }
  switch (type) {
    case 'STRING':
      return typeof value === 'string' && SCRIPT_TEXT.test(value) ? `'${value}'` : refuse('text', value);
    case 'INT64':
      return typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : refuse('integer', value);
    case 'BOOL':
      return typeof value === 'boolean' ? (value ? 'TRUE' : 'FALSE') : refuse('boolean', value);
    case 'DATE':
      return `DATE '${dateText(value)}'`;
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return typeof value === 'string' && DECIMAL_TEXT.test(value) ? `${type} '${value}'` : refuse('decimal', value);
    default:
      return refuse(`a ${type} value`, value);
  }
};

/** The statement with every `@name` it uses replaced by the literal of that parameter. */
export const bindLiterals = (sql: string, params: Params): string =>
  sql.replace(/@([A-Za-z_][A-Za-z0-9_]*)\b/g, (_, name: string) => {
    const param = params[name];
    if (!param) throw new WarehouseError(`statement uses @${name}, which has no value`, 'INVARIANT');
    return literal(param.value, param.type);
  });
