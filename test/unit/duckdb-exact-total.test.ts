// DuckDB's exact_total macro (src/warehouse/duckdb/schema.ts) against the TypeScript sum (src/domain/decimal.ts), on
// amounts across NUMERIC's whole range: around the 10^18 split, at 29 digits, and with every sign of units and nanos.
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { canonicalAmount, sumDecimals } from '../../src/domain/decimal.js';
import { MIGRATIONS } from '../../src/warehouse/duckdb/schema.js';

const NINES = '99999999999999999999999999999.999999999';

/** A deterministic mix of amounts: small, near 10^18 on both sides, and 29-digit ones. */
const amounts = (seed: number, n: number): string[] => {
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state;
  };
  const digits = (k: number): string => Array.from({ length: k }, () => String(next() % 10)).join('').replace(/^0+(?=\d)/, '');
  return Array.from({ length: n }, () => {
    const sign = next() % 2 === 0 ? '' : '-';
    const size = [1, 6, 18, 19, 29][next() % 5] ?? 1;
    const fraction = next() % 3 === 0 ? '' : `.${digits(1 + (next() % 9))}`;
    return canonicalAmount(`${sign}${digits(size)}${fraction}`);
  });
};

describe('duckdb exact_total', () => {
  it('sums amounts of any size exactly, as decimal text equal to the TypeScript sum, per group', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    try {
      for (const m of MIGRATIONS.filter((s) => s.includes('MACRO'))) await c.run(m);
      await c.run('CREATE TABLE t (g INTEGER, a DECIMAL(38, 9))');
      const groups: string[][] = [
        [NINES, NINES, '-0.5'],
        [`-${NINES}`, `-${NINES}`, '0.25'],
        ['-5000000000000000000', '0.25'],
        ['1000000000000000000', '-0.5'],
        ['999999999999999999.999999999', '0.000000001'],
        ['-1000000000000000000', '1000000000000000000'],
        ['0'],
        ...Array.from({ length: 20 }, (_, i) => amounts(i + 1, 40)),
      ];
      const values = groups.flatMap((g, i) => g.map((a) => `(${i}, ${a}::DECIMAL(38, 9))`));
      await c.run(`INSERT INTO t VALUES ${values.join(', ')}`);
      const got = (await c.runAndReadAll('SELECT g, exact_total(a) FROM t GROUP BY g ORDER BY g')).getRows().map((r) => String(r[1]));
      expect(got).toEqual(groups.map((g) => sumDecimals(g)));
    } finally {
      c.closeSync();
      instance.closeSync();
    }
  });
});
