/**
 * How the CLI reads the warehouse. DuckDB lets one process open its file, and the worker holds it; so the
 * worker serves read-only JSON endpoints beside /metrics (`/api/*`, on METRICS_ADDRESS, loopback by default), and the CLI opens the
 * warehouse itself only when no worker answers (or for BigQuery, which has no such lock).
 */
import { localUrl, type Config } from '../config.js';
import type { PipelineMetrics } from './metrics.js';
import { openWarehouse } from '../warehouse/open.js';
import type { Warehouse } from '../warehouse/port.js';

/** The reads an operator needs; a subset of the warehouse port. */
export type WarehouseReader = Pick<Warehouse, 'getPartitions' | 'getChanges' | 'getReport' | 'dailyTotals' | 'getFile'> & {
  /** Where the answers come from, for the operator. */
  readonly via: string;
  close(): Promise<void>;
};

const list = (value: string | null): string[] => (value ? value.split(',').filter(Boolean) : []);
const required = (query: URLSearchParams, name: string): string => {
  const value = query.get(name);
  if (!value) throw new Error(`missing query parameter ${name}`);
  return value;
};

/** Registers the read endpoints on the worker's metrics server. */
export const registerReadApi = (metrics: PipelineMetrics, warehouse: Warehouse, clientId: string): void => {
  metrics.routes.set('/api/ping', async () => ({ ok: true, engine: warehouse.engine, clientId }));
  metrics.routes.set('/api/partitions', (q) => {
    const dates = list(q.get('dates'));
    return warehouse.getPartitions(dates.length > 0 ? dates : undefined);
  });
  metrics.routes.set('/api/changes', (q) => warehouse.getChanges(required(q, 'date')));
  metrics.routes.set('/api/report', (q) => warehouse.getReport(required(q, 'date')));
  metrics.routes.set('/api/totals', (q) => warehouse.dailyTotals(list(q.get('dates'))));
  metrics.routes.set('/api/file', (q) => warehouse.getFile(required(q, 'fileId'), required(q, 'sha256')));
};

export const httpReader = (baseUrl: string): WarehouseReader => {
  const get = async <T>(path: string, query: Record<string, string>): Promise<T> => {
    const response = await fetch(`${baseUrl}${path}?${new URLSearchParams(query).toString()}`, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`worker read API ${path} answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as T;
  };
  return {
    via: `worker at ${baseUrl}`,
    getPartitions: (dates) => get('/api/partitions', dates ? { dates: dates.join(',') } : {}),
    getChanges: (date) => get('/api/changes', { date }),
    getReport: (date) => get('/api/report', { date }),
    dailyTotals: (dates) => get('/api/totals', { dates: dates.join(',') }),
    getFile: (fileId, sha256) => get('/api/file', { fileId, sha256 }),
    close: async () => {},
  };
};

/** Through the running worker when one answers on METRICS_ADDRESS:METRICS_PORT; otherwise the warehouse opened directly. */
export const openReader = async (config: Config): Promise<WarehouseReader> => {
  const baseUrl = localUrl(config.METRICS_ADDRESS, config.METRICS_PORT);
  const ping = await fetch(`${baseUrl}/api/ping`, { signal: AbortSignal.timeout(2000) }).then(
    async (r) => (r.ok ? ((await r.json()) as { clientId?: unknown }) : null),
    () => null,
  );
  if (ping !== null) {
    // Another client's worker on this port would answer with that client's warehouse: never show it as ours.
    if (ping.clientId !== config.CLIENT_ID) {
      throw new Error(`the worker at ${baseUrl} serves client ${String(ping.clientId)}, not ${config.CLIENT_ID}: set METRICS_PORT to ${config.CLIENT_ID}'s worker`);
    }
    return httpReader(baseUrl);
  }
  const warehouse = await openWarehouse(config);
  return {
    via: config.WAREHOUSE === 'duckdb' ? `${config.DUCKDB_PATH} (no worker running)` : `BigQuery ${config.BIGQUERY_DATASET}`,
    getPartitions: (dates) => warehouse.getPartitions(dates),
    getChanges: (date) => warehouse.getChanges(date),
    getReport: (date) => warehouse.getReport(date),
    dailyTotals: (dates) => warehouse.dailyTotals(dates),
    getFile: (fileId, sha256) => warehouse.getFile(fileId, sha256),
    close: () => warehouse.close(),
  };
};
