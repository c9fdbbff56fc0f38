/** BigQuery tables from the shared table model (core/model.ts): created through the tables API, views by DDL. */
import type { TableMetadata } from '@google-cloud/bigquery';
import { TABLES, viewStatements, type FieldSpec, type TableSpec } from '../core/model.js';
import { isAlreadyExists, type BigQueryConnection } from './connection.js';
import { WIDE_DECIMAL, wideSum } from './sql.js';

export {
  DATA_TABLES,
  dailyTotalsQuery,
  LEDGER_COLUMN_NAMES,
  STAGING_FIELDS,
  TABLES,
  TRANSACTION_COLUMN_NAMES,
  viewStatements,
} from '../core/model.js';

/**
 * A BIGNUMERIC column is created NUMERIC and widened by `widenColumns` right after, the one way that works on
 * BigQuery and on the emulator, whose tables API refuses BIGNUMERIC (docs/emulators.md). The same step widens the
 * column of a table an earlier release created NUMERIC.
 */
const createdType = (c: FieldSpec): string => (c.type === 'BIGNUMERIC' ? 'NUMERIC' : c.type);

export const tableMetadata = (spec: TableSpec): TableMetadata => ({
  schema: { fields: spec.fields.map((c) => ({ name: c.name, type: createdType(c), mode: c.mode })) },
  description: spec.description,
  ...(spec.partitionBy ? { timePartitioning: { type: 'DAY', field: spec.partitionBy } } : {}),
  ...(spec.requirePartitionFilter ? { requirePartitionFilter: true } : {}),
  ...(spec.clusterBy ? { clustering: { fields: spec.clusterBy } } : {}),
});

/** Creates the dataset, tables and views when missing, and the write fence's one row; safe at every start. */
export const migrateTables = async (c: BigQueryConnection): Promise<void> => {
  const [exists] = await c.dataset.exists();
  if (!exists) {
    try {
      await c.bq.createDataset(c.options.datasetId, { location: c.options.location });
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
  }
  for (const spec of TABLES) await migrateTable(c, spec);
  for (const statement of viewStatements((n) => c.t(n), wideSum)) await c.query(statement);
  await c.query(
    `INSERT INTO ${c.t('write_fence')} (id, touched_at) SELECT 1, CURRENT_TIMESTAMP() FROM UNNEST([1])
     WHERE NOT EXISTS (SELECT 1 FROM ${c.t('write_fence')})`,
  );
};

/**
 * Creates a missing table, or brings one an earlier release created up to the model. The table's metadata is read
 * once (a table created here is as `tableMetadata` made it) and serves every step below.
 */
const migrateTable = async (c: BigQueryConnection, spec: TableSpec): Promise<void> => {
  const table = c.dataset.table(spec.name);
  const [tableExists] = await table.exists();
  let metadata = tableMetadata(spec);
  if (tableExists) {
    [metadata] = (await table.getMetadata()) as [TableMetadata, ...unknown[]];
    await addMissingColumns(c, spec, metadata);
    await requirePartitionFilter(c, spec, metadata);
  } else {
    try {
      await c.dataset.createTable(spec.name, metadata);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
  }
  await widenColumns(c, spec, metadata);
};

/** A table created by an earlier release gains the nullable columns added since (never drops or retypes one). */
const addMissingColumns = async (c: BigQueryConnection, spec: TableSpec, metadata: TableMetadata): Promise<void> => {
  const present = new Set((metadata.schema?.fields ?? []).map((field) => field.name));
  for (const field of spec.fields.filter((x) => !present.has(x.name) && x.mode === 'NULLABLE')) {
    await c.query(`ALTER TABLE ${c.t(spec.name)} ADD COLUMN IF NOT EXISTS ${field.name} ${field.type === 'BIGNUMERIC' ? WIDE_DECIMAL : field.type}`);
  }
};

/**
 * Columns the model types BIGNUMERIC that the table holds narrower become BIGNUMERIC(47, 9), by the DDL BigQuery
 * documents for widening a column (NUMERIC coerces to BIGNUMERIC; existing values are kept). A table whose metadata
 * already says BIGNUMERIC sends nothing. The emulator keeps reporting NUMERIC, so there this runs at every start.
 * A column just added by addMissingColumns is absent from `metadata` and already wide: left alone.
 */
const widenColumns = async (c: BigQueryConnection, spec: TableSpec, metadata: TableMetadata): Promise<void> => {
  const types = new Map((metadata.schema?.fields ?? []).map((f) => [f.name, f.type]));
  // One column per statement: the emulator cannot parse several ALTER COLUMN actions in one.
  for (const f of spec.fields.filter((x) => x.type === 'BIGNUMERIC' && types.has(x.name) && types.get(x.name) !== 'BIGNUMERIC')) {
    await c.query(`ALTER TABLE ${c.t(spec.name)} ALTER COLUMN ${f.name} SET DATA TYPE ${WIDE_DECIMAL}`);
  }
};

/** A table created before the model required a partition filter gains the requirement. */
const requirePartitionFilter = async (c: BigQueryConnection, spec: TableSpec, metadata: TableMetadata): Promise<void> => {
  if (!spec.requirePartitionFilter || metadata.requirePartitionFilter === true) return;
  await c.dataset.table(spec.name).setMetadata({ requirePartitionFilter: true });
};
