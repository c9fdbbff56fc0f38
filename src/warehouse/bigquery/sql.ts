/**
 * Typed query parameters and the SQL fragments the BigQuery adapter shares between statements.
 * Every value reaches BigQuery as a named, typed parameter; only validated identifiers are spliced into SQL.
 */
import { BigQuery } from '@google-cloud/bigquery';

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

export const ISO_TS = (column: string): string => `FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%E6SZ', ${column}, 'UTC')`;

export { sameContent } from '../rows.js';

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

/** Per-date totals of a row set as JSON text of CurrencyTotal[] (`rows` is reserved in BigQuery, hence the quotes). */
export const totalsJson = (alias: string, source: string): string => `${alias} AS (
  SELECT event_date, SUM(n) AS n,
         TO_JSON_STRING(ARRAY_AGG(STRUCT(currency AS currency, n AS \`rows\`, CAST(total AS STRING) AS total) ORDER BY currency)) AS totals
  FROM (SELECT event_date, currency, COUNT(*) AS n, SUM(amount) AS total FROM (${source}) GROUP BY event_date, currency)
  GROUP BY event_date)`;
