import { DuckDbWarehouse } from '../../src/warehouse/duckdb/duckdb-warehouse.js';
import { describeWarehouseContract } from '../support/warehouse-contract.js';

describeWarehouseContract({
  name: 'duckdb',
  open: () => DuckDbWarehouse.open({ path: ':memory:' }),
});
