/** BigQuery table metadata from the shared table model; tables are created through the tables API, views by DDL. */
import type { TableMetadata } from '@google-cloud/bigquery';
import type { TableSpec } from '../core/model.js';

export {
  DATA_TABLES,
  LEDGER_COLUMN_NAMES,
  STAGING_FIELDS,
  TABLES,
  TRANSACTION_COLUMN_NAMES,
  viewStatements,
} from '../core/model.js';

export const tableMetadata = (spec: TableSpec): TableMetadata => ({
  schema: { fields: spec.fields.map((c) => ({ name: c.name, type: c.type, mode: c.mode })) },
  description: spec.description,
  ...(spec.partitionBy ? { timePartitioning: { type: 'DAY', field: spec.partitionBy } } : {}),
  ...(spec.clusterBy ? { clustering: { fields: spec.clusterBy } } : {}),
});
