import type { Config } from '../config.js';
import type { Warehouse } from './port.js';

/** Opens the configured warehouse; adapters load lazily so the local default needs no cloud library at start. */
export const openWarehouse = async (config: Config): Promise<Warehouse> => {
  if (config.WAREHOUSE === 'duckdb') {
    const { DuckDbWarehouse } = await import('./duckdb/duckdb-warehouse.js');
    return DuckDbWarehouse.open({
      path: config.DUCKDB_PATH,
      ...(config.DUCKDB_MEMORY_LIMIT ? { memoryLimit: config.DUCKDB_MEMORY_LIMIT } : {}),
      ...(config.DUCKDB_FILE_MEMORY_LIMIT ? { fileMemoryLimit: config.DUCKDB_FILE_MEMORY_LIMIT } : {}),
    });
  }
  const { BigQueryWarehouse } = await import('./bigquery/bigquery-warehouse.js');
  return BigQueryWarehouse.open({
    projectId: config.BIGQUERY_PROJECT ?? '',
    datasetId: config.BIGQUERY_DATASET,
    location: config.BIGQUERY_LOCATION,
    labels: { client: config.CLIENT_ID },
    ...(config.BIGQUERY_EMULATOR_ENDPOINT ? { apiEndpoint: config.BIGQUERY_EMULATOR_ENDPOINT } : {}),
    ...(config.BIGQUERY_STREAM_SINK === 'storage-write'
      ? {
          streamSink: {
            mergeEveryMs: config.BIGQUERY_MERGE_EVERY_MS,
            ...(config.BIGQUERY_STORAGE_GRPC_ENDPOINT ? { grpcEndpoint: config.BIGQUERY_STORAGE_GRPC_ENDPOINT } : {}),
          },
        }
      : {}),
  });
};
