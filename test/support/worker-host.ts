/**
 * One process hosting several workers against the dev server from global setup (a stream worker and a files worker,
 * two builds of one deployment), sharing a fresh in-memory DuckDB warehouse and one client; stopped together.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { temporalAddress } from './pipeline.js';

export interface WorkerHost {
  namespace: string;
  warehouse: DuckDbWarehouse;
  native: NativeConnection;
  client: Client;
  /** Runs the worker until `stop`. */
  run(worker: Worker): void;
  stop(): Promise<void>;
}

export const openWorkerHost = async (): Promise<WorkerHost> => {
  const address = temporalAddress();
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const warehouse = await DuckDbWarehouse.open({ path: ':memory:' });
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  const running: Array<{ worker: Worker; done: Promise<void> }> = [];
  return {
    namespace,
    warehouse,
    native,
    client: new Client({ connection, namespace }),
    run: (worker) => void running.push({ worker, done: worker.run() }),
    stop: async () => {
      for (const r of running) r.worker.shutdown();
      await Promise.all(running.map((r) => r.done));
      await native.close();
      await connection.close();
      await warehouse.close();
    },
  };
};
