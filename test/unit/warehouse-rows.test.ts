/**
 * The warehouse rules both engines share (src/warehouse/core/): the versioning decision of a replacement,
 * the SQL of "same content" and of the differing ids (run here on an in-memory DuckDB), and the row mappers.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WarehouseError } from '../../src/warehouse/port.js';
import { num, parseTotals, rowMappers, str, toFileEntry } from '../../src/warehouse/core/mappers.js';
import { DATA_TABLES, TABLES } from '../../src/warehouse/core/model.js';
import { checkVersions } from '../../src/warehouse/core/rules.js';
import { consumerView, differingIds, DIFF_KIND_COUNTS, readmitLateStatements, sameContent, SUMMARY_COLUMNS } from '../../src/warehouse/core/sql.js';
import type { ConsumerView } from '../../src/warehouse/port.js';

const ledger = (eventDate: string, sequence: number | null, changeId: string | null, pendingChange = false) => ({ eventDate, sequence, changeId, pendingChange });

describe('checkVersions: the versioning rules of a replacement', () => {
  const input = { fileId: 'f-5', sequence: 5, force: false };

  it('lets a file through when no covered date holds a newer sequence or a pending change', () => {
    expect(checkVersions(input, [])).toBeNull();
    expect(checkVersions(input, [ledger('2026-11-20', 4, 'c1'), ledger('2026-11-21', null, null), ledger('2026-11-22', 5, 'c2')])).toBeNull();
  });

  it('refuses an older file with the newer dates and sequences, and a reason naming them', () => {
    const refused = checkVersions(input, [ledger('2026-11-20', 6, 'c1'), ledger('2026-11-21', 4, 'c2'), ledger('2026-11-22', 9, 'c3')]);
    expect(refused).toEqual({
      outcome: 'refused_stale',
      reason: 'file f-5 has sequence 5, older than 2026-11-20 at sequence 6, 2026-11-22 at sequence 9; replay it explicitly to apply it anyway',
      newerSequences: [
        { eventDate: '2026-11-20', sequence: 6 },
        { eventDate: '2026-11-22', sequence: 9 },
      ],
    });
  });

  it('applies an older file when it is replayed explicitly', () => {
    expect(checkVersions({ ...input, force: true }, [ledger('2026-11-20', 6, 'c1')])).toBeNull();
  });

  it('refuses a date another change holds unpublished with a retryable CONFLICT naming the dates and the change, even when forced', () => {
    const busy = [ledger('2026-11-20', 1, 'c-busy', true), ledger('2026-11-21', 1, 'c-other', false), ledger('2026-11-22', 1, 'c-busy', true)];
    for (const force of [false, true]) {
      let error: unknown;
      try {
        checkVersions({ ...input, force }, busy);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(WarehouseError);
      expect(error).toMatchObject({ code: 'CONFLICT', message: 'dates 2026-11-20, 2026-11-22 are being changed by c-busy; retry later' });
    }
  });

  it('does not count a pending flag without a change as busy', () => {
    expect(checkVersions(input, [ledger('2026-11-20', 1, null, true)])).toBeNull();
  });
});

describe('row mappers', () => {
  it('num and str map missing values to 0 and null, and keep others', () => {
    expect([num(null), num(undefined), num('12'), num(3)]).toEqual([0, 0, 12, 3]);
    expect([str(null), str(undefined), str(0), str('x')]).toEqual([null, null, '0', 'x']);
  });

  it('parseTotals reads JSON totals with canonical amounts, and an empty list from nothing', () => {
    expect(parseTotals('[{"currency":"USD","rows":"2","total":"10.500"},{"currency":"EUR","rows":1,"total":-0.1}]')).toEqual([
      { currency: 'USD', rows: 2, total: '10.5' },
      { currency: 'EUR', rows: 1, total: '-0.1' },
    ]);
    expect(parseTotals(null)).toEqual([]);
    expect(parseTotals(undefined)).toEqual([]);
  });

  it('toFileEntry maps every registry column', () => {
    const entry = toFileEntry({
      file_id: 'f1', sha256: 'ab', client_id: 'acme', kind: 'amendment', covers: '["2026-11-20","2026-11-21"]', sequence: '7',
      row_count: 12n, data_path: 'landing/f1', workflow_id: 'wf', run_id: 'run', replay: 1, outcome: 'applied', reason: null,
      errors: '[{"line":2,"field":"amount","reason":"bad"}]', change_id: 'c1', received: '2026-11-22T00:00:00Z', updated: '2026-11-22T00:01:00Z',
    });
    expect(entry).toEqual({
      fileId: 'f1', sha256: 'ab', clientId: 'acme', kind: 'amendment', covers: ['2026-11-20', '2026-11-21'], sequence: 7, rowCount: 12,
      dataPath: 'landing/f1', workflowId: 'wf', runId: 'run', replay: true, outcome: 'applied', reason: null,
      errors: [{ line: 2, field: 'amount', reason: 'bad' }], changeId: 'c1', receivedAt: '2026-11-22T00:00:00Z', updatedAt: '2026-11-22T00:01:00Z',
    });
    expect(toFileEntry({ replay: false, reason: 'r', change_id: undefined, covers: '[]', errors: '[]' })).toMatchObject({ replay: false, reason: 'r', changeId: null });
  });

  it('maps a change, a ledger entry and a transaction, reading the date from the given column', () => {
    const m = rowMappers('d');
    expect(m.toDateChange({
      d: '2026-11-20', from_version: 1, to_version: '2', from_status: 'reconciled', rows_before: 3, rows_after: '4',
      totals_before: '[{"currency":"USD","rows":3,"total":"3.00"}]', totals_after: '[]',
    })).toEqual({
      eventDate: '2026-11-20', fromVersion: 1, toVersion: 2, fromStatus: 'reconciled', rowsBefore: 3, rowsAfter: 4,
      totalsBefore: [{ currency: 'USD', rows: 3, total: '3' }], totalsAfter: [],
    });
    expect(m.toPartitionState({
      d: '2026-11-21', status: 'amended', version: 2, sequence: '9', file_id: 'f', change_id: 'c', row_count: 5, totals: '[]', updated: 't',
    })).toEqual({ eventDate: '2026-11-21', status: 'amended', version: 2, sequence: 9, fileId: 'f', changeId: 'c', rowCount: 5, totals: [], updatedAt: 't' });
    expect(m.toPartitionState({ d: 'x', sequence: null, file_id: null, change_id: null, totals: null, updated: null })).toMatchObject({
      sequence: null, fileId: null, changeId: null, totals: [], updatedAt: null, version: 0, rowCount: 0,
    });
    expect(m.toPartitionState({ d: 'x' }).sequence).toBeNull();
    expect(m.toTransaction({
      transaction_id: 't1', account_id: 'a1', ts: '2026-11-20T12:00:00Z', d: '2026-11-20', amount: '12.500000000', currency: 'USD',
      merchant_id: null, description: 'x',
    })).toEqual({
      transactionId: 't1', accountId: 'a1', eventTs: '2026-11-20T12:00:00Z', eventDate: '2026-11-20', amount: '12.5', currency: 'USD',
      merchantId: null, description: 'x',
    });
  });

  it('lists the data tables a rolled-back file must leave untouched, the registry among them', () => {
    expect(DATA_TABLES).toContain('transactions');
    expect(DATA_TABLES).toContain('partition_ledger');
    expect(DATA_TABLES).toContain('file_registry');
    expect(new Set(DATA_TABLES).size).toBe(DATA_TABLES.length);
  });
});

describe('shared SQL, run on DuckDB', () => {
  let instance: DuckDBInstance;
  const query = async (sql: string): Promise<Array<Record<string, unknown>>> => {
    const connection = await instance.connect();
    try {
      return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>>;
    } finally {
      connection.closeSync();
    }
  };
  const columns = `transaction_id VARCHAR, account_id VARCHAR, event_ts VARCHAR, event_date DATE, amount DECIMAL(38, 9), currency VARCHAR,
    merchant_id VARCHAR, description VARCHAR`;

  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    await connection.run(`CREATE TABLE a (${columns}); CREATE TABLE b (${columns})`);
    await connection.run(`INSERT INTO a VALUES
      ('same', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('acct', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('ts', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('date', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('amount', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('ccy', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('merchant', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('desc', 'x', 't', '2026-11-20', 1, 'USD', 'm', 'd'),
      ('stream-only', 'x', 't', '2026-11-20', 5, 'USD', NULL, NULL)`);
    await connection.run(`INSERT INTO b VALUES
      ('same', 'x', 't', '2026-11-20', 1.000, 'USD', NULL, NULL),
      ('acct', 'y', 't', '2026-11-20', 1, 'USD', NULL, NULL),
      ('ts', 'x', 'u', '2026-11-20', 1, 'USD', NULL, NULL),
      ('date', 'x', 't', '2026-11-21', 1, 'USD', NULL, NULL),
      ('amount', 'x', 't', '2026-11-20', 2, 'USD', NULL, NULL),
      ('ccy', 'x', 't', '2026-11-20', 1, 'EUR', NULL, NULL),
      ('merchant', 'x', 't', '2026-11-20', 1, 'USD', 'm', NULL),
      ('desc', 'x', 't', '2026-11-20', 1, 'USD', 'm', NULL),
      ('file-only', 'x', 't', '2026-11-20', 7, 'USD', NULL, NULL)`);
    connection.closeSync();
  });
  afterAll(() => {
    instance.closeSync();
  });

  it('sameContent matches only when every field is equal, nulls included', async () => {
    const rows = await query(`SELECT a.transaction_id AS id FROM a JOIN b USING (transaction_id) WHERE ${sameContent('a', 'b')} ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual(['same']);
  });

  it('differingIds lists each id that changed amount, or is only on one side, per date', async () => {
    const rows = await query(
      `SELECT CAST(event_date AS VARCHAR) AS d, transaction_id AS id, kind, CAST(before_amount AS VARCHAR) AS b, CAST(after_amount AS VARCHAR) AS a
       FROM (${differingIds('a', 'b')}) ORDER BY id, d`,
    );
    expect(rows).toEqual([
      { d: '2026-11-20', id: 'amount', kind: 'amount_changed', b: '1.000000000', a: '2.000000000' },
      { d: '2026-11-20', id: 'date', kind: 'only_in_stream', b: '1.000000000', a: null },
      { d: '2026-11-21', id: 'date', kind: 'only_in_file', b: null, a: '1.000000000' },
      { d: '2026-11-20', id: 'file-only', kind: 'only_in_file', b: null, a: '7.000000000' },
      { d: '2026-11-20', id: 'stream-only', kind: 'only_in_stream', b: '5.000000000', a: null },
    ]);
  });

  it('DIFF_KIND_COUNTS counts the differing ids in all and per kind', async () => {
    const [counts] = await query(
      `SELECT CAST(n AS INTEGER) AS n, CAST(only_in_stream AS INTEGER) AS s, CAST(only_in_file AS INTEGER) AS f, CAST(amount_changed AS INTEGER) AS c
       FROM (SELECT ${DIFF_KIND_COUNTS} FROM (${differingIds('a', 'b')}))`,
    );
    expect(counts).toEqual({ n: 5, s: 2, f: 2, c: 1 });
  });

  it('re-admits the late arrivals of reopened dates only: a new id as a provisional row, a changed one as a conflict, an equal one dropped', async () => {
    const eventColumns = 'transaction_id VARCHAR, account_id VARCHAR, event_ts VARCHAR, event_date DATE, amount DECIMAL(38, 9), currency VARCHAR, merchant_id VARCHAR, description VARCHAR';
    const run = (sql: string): Promise<unknown> => query(sql);
    await run(`CREATE SCHEMA r`);
    await run(`CREATE TABLE r.transactions (${eventColumns}, status VARCHAR, partition_version INTEGER, source_kind VARCHAR, source_id VARCHAR,
      change_id VARCHAR, written_at VARCHAR)`);
    await run(`CREATE TABLE r.late_arrivals (${eventColumns}, source_id VARCHAR, batch_id VARCHAR, stream_offset BIGINT, received_at VARCHAR)`);
    await run(`CREATE TABLE r.stream_conflicts (${eventColumns}, source_id VARCHAR, batch_id VARCHAR, stream_offset BIGINT, received_at VARCHAR)`);
    await run(`CREATE TABLE r.partition_ledger (event_date DATE, sealed BOOLEAN)`);
    // 11-20 was reopened by the revert, 11-21 is still sealed by an earlier file, 11-22 was not reverted.
    await run(`INSERT INTO r.partition_ledger VALUES ('2026-11-20', false), ('2026-11-21', true), ('2026-11-22', true)`);
    await run(`INSERT INTO r.transactions VALUES
      ('kept', 'x', 't', '2026-11-20', 1, 'USD', 'm', 'd', 'provisional', 0, 'stream', 'b0', NULL, 'w0'),
      ('changed', 'x', 't', '2026-11-20', 1, 'USD', NULL, NULL, 'provisional', 0, 'stream', 'b0', NULL, 'w0')`);
    await run(`INSERT INTO r.late_arrivals VALUES
      ('new', 'x', 't', '2026-11-20', 3, 'USD', 'm', 'd', 'src', 'b1', 10, 'r1'),
      ('kept', 'x', 't', '2026-11-20', 1, 'USD', 'm', 'd', 'src', 'b1', 11, 'r1'),
      ('changed', 'x', 't', '2026-11-20', 2, 'USD', NULL, NULL, 'src', 'b1', 12, 'r1'),
      ('still-sealed', 'x', 't', '2026-11-21', 4, 'USD', NULL, NULL, 'src', 'b1', 13, 'r1'),
      ('not-reverted', 'x', 't', '2026-11-22', 5, 'USD', NULL, NULL, 'src', 'b1', 14, 'r1')`);
    const statements = readmitLateStatements((t) => `r.${t}`, (column) => `${column} IN ('2026-11-20', '2026-11-21')`);
    expect(statements).toHaveLength(3);
    for (const sql of statements) await run(sql);

    expect(await query(`SELECT transaction_id AS id, account_id AS a, event_ts AS ts, CAST(event_date AS VARCHAR) AS d, CAST(amount AS VARCHAR) AS amount,
      currency AS c, merchant_id AS m, description AS ds, status, partition_version AS v, source_kind AS k, source_id AS src, change_id AS ch,
      written_at AS w FROM r.transactions ORDER BY id`)).toEqual([
      { id: 'changed', a: 'x', ts: 't', d: '2026-11-20', amount: '1.000000000', c: 'USD', m: null, ds: null, status: 'provisional', v: 0, k: 'stream', src: 'b0', ch: null, w: 'w0' },
      { id: 'kept', a: 'x', ts: 't', d: '2026-11-20', amount: '1.000000000', c: 'USD', m: 'm', ds: 'd', status: 'provisional', v: 0, k: 'stream', src: 'b0', ch: null, w: 'w0' },
      { id: 'new', a: 'x', ts: 't', d: '2026-11-20', amount: '3.000000000', c: 'USD', m: 'm', ds: 'd', status: 'provisional', v: 0, k: 'stream', src: 'b1', ch: null, w: 'r1' },
    ]);
    expect(await query(`SELECT transaction_id AS id, account_id AS a, event_ts AS ts, CAST(event_date AS VARCHAR) AS d, CAST(amount AS VARCHAR) AS amount,
      currency AS c, merchant_id AS m, description AS ds, source_id AS src, batch_id AS b, CAST(stream_offset AS INTEGER) AS o, received_at AS r
      FROM r.stream_conflicts`)).toEqual([
      { id: 'changed', a: 'x', ts: 't', d: '2026-11-20', amount: '2.000000000', c: 'USD', m: null, ds: null, src: 'src', b: 'b1', o: 12, r: 'r1' },
    ]);
    expect((await query(`SELECT transaction_id AS id FROM r.late_arrivals ORDER BY id`)).map((r) => r.id)).toEqual(['not-reverted', 'still-sealed']);
  });
});

describe('shared SQL constants', () => {
  it('SUMMARY_COLUMNS lists the columns of reconciliation_summaries in table order', () => {
    const table = TABLES.find((t) => t.name === 'reconciliation_summaries');
    expect(SUMMARY_COLUMNS.split(', ')).toEqual(table?.fields.map((f) => f.name));
  });

  it('consumerView accepts the two consumer views and refuses any other name with INVARIANT', () => {
    expect(consumerView('finance_transactions')).toBe('finance_transactions');
    expect(consumerView('operations_transactions')).toBe('operations_transactions');
    const refused = (() => {
      try {
        consumerView('transactions; DROP TABLE x' as ConsumerView);
        return null;
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(WarehouseError);
    expect(refused).toMatchObject({ code: 'INVARIANT', message: 'unknown consumer view "transactions; DROP TABLE x"' });
  });
});
