import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { describeWarehouseContract } from '../support/warehouse-contract.js';

describeWarehouseContract({
  name: 'duckdb',
  open: (options) => DuckDbWarehouse.open({ path: ':memory:', ...options }),
});
