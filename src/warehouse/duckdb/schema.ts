/** DuckDB DDL rendered from the shared table model (core/model.ts): same tables, columns and views as BigQuery. */
import { TABLES, viewStatements, type FieldSpec } from '../core/model.js';
import { rows, run, type DuckDbConnections } from './connection.js';

export { DATA_TABLES, LEDGER_COLUMN_NAMES, TRANSACTION_COLUMN_NAMES } from '../core/model.js';

/**
 * BIGNUMERIC (a sum of amounts, 38 integer digits) is decimal text here: DuckDB's widest exact decimal is
 * DECIMAL(38, 9), 29 integer digits, and `sum` over it fails with "Overflow in HUGEINT addition" past that.
 */
const DUCKDB_TYPE: Record<FieldSpec['type'], string> = {
  STRING: 'VARCHAR',
  INT64: 'BIGINT',
  NUMERIC: 'DECIMAL(38, 9)',
  BIGNUMERIC: 'VARCHAR',
  DATE: 'DATE',
  TIMESTAMP: 'TIMESTAMPTZ',
  BOOL: 'BOOLEAN',
};

const column = (c: FieldSpec): string => `${c.name} ${DUCKDB_TYPE[c.type]}${c.mode === 'REQUIRED' ? ' NOT NULL' : ''}`;

/**
 * The exact sum of a DECIMAL(38, 9) column as canonical decimal text (`exact_total(amount)`), whatever its size.
 * Amounts under 10^18 (nearly all) are summed natively: even 10^11 of them stay inside DECIMAL(38, 9). Larger ones are
 * split into whole units (HUGEINT, room for 10^9 amounts of 29 digits) and nanos; `decimal_text` joins the parts.
 * The split runs only for the large amounts (a CASE, not a FILTER, which would compute it for every row), and the
 * test is two comparisons, not abs(): over 5M rows `sum` took 27 ms, this 48 ms (with abs() 72–90 ms).
 */
const EXACT_TOTAL_MACROS = [
  `CREATE OR REPLACE MACRO is_small_amount(x) AS x > -1000000000000000000::DECIMAL(38, 9) AND x < 1000000000000000000::DECIMAL(38, 9)`,
  `CREATE OR REPLACE MACRO nanos_carry(nanos) AS nanos // 1000000000 - CASE WHEN nanos % 1000000000 < 0 THEN 1 ELSE 0 END`,
  `CREATE OR REPLACE MACRO nanos_rest(nanos) AS (nanos % 1000000000 + 1000000000) % 1000000000`,
  // units + rest / 10^9 with 0 <= rest < 10^9, printed without trailing zeros.
  `CREATE OR REPLACE MACRO units_text(units, rest) AS rtrim(rtrim(CASE
     WHEN units >= 0 OR rest = 0 THEN units::VARCHAR || '.' || lpad(rest::VARCHAR, 9, '0')
     ELSE '-' || (-(units + 1))::VARCHAR || '.' || lpad((1000000000 - rest)::VARCHAR, 9, '0') END, '0'), '.')`,
  `CREATE OR REPLACE MACRO decimal_text(units, nanos) AS units_text(units + nanos_carry(nanos), nanos_rest(nanos))`,
  // Sum of the small amounts, whole units and nanos of the large ones; the same condition in each, computed once.
  `CREATE OR REPLACE MACRO exact_total(x) AS decimal_text(
     coalesce(sum(CASE WHEN is_small_amount(x) THEN NULL ELSE trunc(x)::HUGEINT END), 0)
       + coalesce(trunc(sum(CASE WHEN is_small_amount(x) THEN x END))::HUGEINT, 0),
     coalesce(sum(CASE WHEN is_small_amount(x) THEN NULL ELSE ((x - trunc(x)) * 1000000000)::BIGINT END), 0)
       + coalesce(((sum(CASE WHEN is_small_amount(x) THEN x END) - trunc(sum(CASE WHEN is_small_amount(x) THEN x END))) * 1000000000)::BIGINT, 0))`,
];

/** The engine's exact sum of an amount column (see EXACT_TOTAL_MACROS), as decimal text. */
export const exactTotal = (column: string): string => `exact_total(${column})`;

export const MIGRATIONS: string[] = [
  ...TABLES.filter((t) => t.only === undefined).map(
    (t) => `CREATE TABLE IF NOT EXISTS ${t.name} (${[...t.fields.map(column), ...(t.primaryKey ? [`PRIMARY KEY (${t.primaryKey})`] : [])].join(', ')})`,
  ),
  // A database created before a nullable column was added to the model gains it (never drops one).
  ...TABLES.filter((t) => t.only === undefined).flatMap((t) =>
    t.fields.filter((c) => c.mode === 'NULLABLE').map((c) => `ALTER TABLE ${t.name} ADD COLUMN IF NOT EXISTS ${column(c)}`),
  ),
  ...EXACT_TOTAL_MACROS,
  ...viewStatements((name) => name, exactTotal),
];

/** The writer's own table for a micro-batch, filled by an appender as text (stream-writes.ts casts it). */
const STREAM_INCOMING = `CREATE TEMP TABLE IF NOT EXISTS stream_incoming (
  ord INTEGER, stream_offset BIGINT, transaction_id VARCHAR, account_id VARCHAR, event_ts VARCHAR,
  event_date VARCHAR, amount VARCHAR, currency VARCHAR, merchant_id VARCHAR, description VARCHAR)`;

/**
 * Columns a database created by an earlier release holds narrower than the model: report totals were DECIMAL(38, 9)
 * before they became BIGNUMERIC. Widening to text keeps every value (each reads back as the same decimal).
 */
const widenColumns = async (db: DuckDbConnections): Promise<void> => {
  const wide = TABLES.filter((t) => t.only === undefined).flatMap((t) =>
    t.fields.filter((c) => c.type === 'BIGNUMERIC').map((c) => ({ table: t.name, column: c.name })),
  );
  const present = await rows(
    db.writer,
    `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()`,
  );
  for (const { table, column: name } of wide) {
    const found = present.find((r) => r.table_name === table && r.column_name === name);
    if (found && found.data_type !== DUCKDB_TYPE.BIGNUMERIC) {
      await run(db.writer, `ALTER TABLE ${table} ALTER COLUMN ${name} SET DATA TYPE ${DUCKDB_TYPE.BIGNUMERIC}`);
    }
  }
};

export const migrate = (db: DuckDbConnections): Promise<void> =>
  db.exclusive(async () => {
    for (const statement of [...MIGRATIONS, STREAM_INCOMING]) await run(db.writer, statement);
    await widenColumns(db);
  });
