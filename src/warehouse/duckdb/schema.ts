/** DuckDB DDL rendered from the shared table model (core/model.ts): same tables, columns and views as BigQuery. */
import { TABLES, viewStatements, type FieldSpec } from '../core/model.js';
import { run, type DuckDbConnections } from './connection.js';

export { DATA_TABLES, LEDGER_COLUMN_NAMES, TRANSACTION_COLUMN_NAMES } from '../core/model.js';

const DUCKDB_TYPE: Record<FieldSpec['type'], string> = {
  STRING: 'VARCHAR',
  INT64: 'BIGINT',
  NUMERIC: 'DECIMAL(38, 9)',
  DATE: 'DATE',
  TIMESTAMP: 'TIMESTAMPTZ',
  BOOL: 'BOOLEAN',
};

const column = (c: FieldSpec): string => `${c.name} ${DUCKDB_TYPE[c.type]}${c.mode === 'REQUIRED' ? ' NOT NULL' : ''}`;

export const MIGRATIONS: string[] = [
  ...TABLES.filter((t) => t.only === undefined).map(
    (t) => `CREATE TABLE IF NOT EXISTS ${t.name} (${[...t.fields.map(column), ...(t.primaryKey ? [`PRIMARY KEY (${t.primaryKey})`] : [])].join(', ')})`,
  ),
  // A database created before a nullable column was added to the model gains it (never drops or retypes one).
  ...TABLES.filter((t) => t.only === undefined).flatMap((t) =>
    t.fields.filter((c) => c.mode === 'NULLABLE').map((c) => `ALTER TABLE ${t.name} ADD COLUMN IF NOT EXISTS ${column(c)}`),
  ),
  ...viewStatements((name) => name),
];

/** The writer's own table for a micro-batch, filled by an appender as text (stream-writes.ts casts it). */
const STREAM_INCOMING = `CREATE TEMP TABLE IF NOT EXISTS stream_incoming (
  ord INTEGER, stream_offset BIGINT, transaction_id VARCHAR, account_id VARCHAR, event_ts VARCHAR,
  event_date VARCHAR, amount VARCHAR, currency VARCHAR, merchant_id VARCHAR, description VARCHAR)`;

export const migrate = (db: DuckDbConnections): Promise<void> =>
  db.exclusive(async () => {
    for (const statement of [...MIGRATIONS, STREAM_INCOMING]) await run(db.writer, statement);
  });
