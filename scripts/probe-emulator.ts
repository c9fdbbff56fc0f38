/**
 * Probes a running BigQuery emulator for what the BigQuery adapter needs and prints
 * a Markdown table (capability | ok/FAIL | detail). Evidence for docs/emulators.md.
 *
 *   bash scripts/emulator.sh start
 *   npx tsx scripts/probe-emulator.ts
 *
 * Environment (all optional):
 *   BQ_EMULATOR_PORT     REST port of the emulator (9050)
 *   BQ_EMULATOR_PROJECT  project id (local-project)
 *   PROBE_TIMEOUT_MS     per-check time limit (30000)
 *   PROBE_SKIP           comma-separated words: checks whose name contains one are skipped
 *                        (e.g. PROBE_SKIP=empty for an emulator that hangs on that check)
 *
 * Every check verifies the data it produced, not only that the call returned.
 * Exit code: 0 when every check passed, 1 otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BigQuery, type Dataset, type Query } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';

const port = Number(process.env.BQ_EMULATOR_PORT ?? 9050);
const projectId = process.env.BQ_EMULATOR_PROJECT ?? 'local-project';
const timeoutMs = Number(process.env.PROBE_TIMEOUT_MS ?? 30_000);
const skip = (process.env.PROBE_SKIP ?? '').split(',').map((w) => w.trim().toLowerCase()).filter(Boolean);

// The construction that works against the emulator: plain-http apiEndpoint (the client
// appends /bigquery/v2 itself) and an auth client that never calls Google (a fixed token).
const authClient = new OAuth2Client();
authClient.setCredentials({ access_token: 'emulator' });
const bq = new BigQuery({ projectId, apiEndpoint: `http://127.0.0.1:${port}`, authClient });

const datasetId = `probe_${Date.now()}`;
const BIG = '12345678901234567890123456789.123456789'; // NUMERIC max precision: 29 integer + 9 fraction digits
const D1 = '2024-03-01';
const D2 = '2024-03-02';
const schema = [
  { name: 'id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'event_date', type: 'DATE', mode: 'REQUIRED' },
  { name: 'amount', type: 'NUMERIC' },
  { name: 'status', type: 'STRING' },
];
const tableOptions = { schema, timePartitioning: { type: 'DAY', field: 'event_date' } };
let dataset: Dataset;
const fq = (table: string): string => `\`${projectId}.${datasetId}.${table}\``;
// DATE parameters must be BigQuery.date(...) values: with @google-cloud/bigquery 8.3.1 a plain
// string under types {x: 'DATE'} is sent with an empty parameterValue, i.e. as NULL.
const date = (d: string) => BigQuery.date(d);

interface Result {
  rows: Array<Record<string, unknown>>;
  dmlAffected: string | undefined;
}

async function run(query: string, params?: Record<string, unknown>, types?: Record<string, unknown>): Promise<Result> {
  const options: Query = { query, useLegacySql: false };
  if (params) options.params = params;
  if (types) options.types = types as NonNullable<Query['types']>;
  const [job] = await bq.createQueryJob(options);
  const [rows] = await job.getQueryResults();
  const [meta] = await job.getMetadata();
  return { rows: rows as Array<Record<string, unknown>>, dmlAffected: meta?.statistics?.query?.numDmlAffectedRows };
}

/** A NUMERIC as the Node client returns it (Big) or as a string, in plain notation. */
function plain(v: unknown): string {
  if (v && typeof v === 'object' && 'toFixed' in v) return (v as { toFixed(): string }).toFixed();
  if (v && typeof v === 'object' && 'value' in v) return String((v as { value: unknown }).value);
  return String(v);
}

/** id:amount pairs of a table, sorted, for compact comparisons (amounts as the client reads them). */
async function snapshot(table: string, where = 'TRUE'): Promise<string> {
  const { rows } = await run(`SELECT id, amount FROM ${fq(table)} WHERE ${where} ORDER BY id`);
  return rows.map((r) => `${String(r.id)}:${plain(r.amount)}`).join(',');
}

function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Recreates `events` with the 4 base rows (2 per date) through DML, so each check starts from a known state. */
async function resetEvents(): Promise<void> {
  await run(`DELETE FROM ${fq('events')} WHERE TRUE`);
  await run(`INSERT INTO ${fq('events')} (id, event_date, amount, status) VALUES
    ('a', DATE '${D1}', NUMERIC '10.50', 'provisional'), ('b', DATE '${D1}', NUMERIC '20.25', 'provisional'),
    ('c', DATE '${D2}', NUMERIC '30', 'provisional'), ('d', DATE '${D2}', NUMERIC '0.000000001', 'provisional')`);
}

/** The partition-replace script: delete D1, insert the staged D1 rows, in one transaction. */
async function replaceD1(withParams: boolean): Promise<void> {
  await resetEvents();
  await run(`DELETE FROM ${fq('staging')} WHERE TRUE`);
  await run(`INSERT INTO ${fq('staging')} (id, event_date, amount, status) VALUES ('z', DATE '${D1}', NUMERIC '7', 'amended')`);
  const d = withParams ? '@d' : `DATE '${D1}'`;
  await run(
    `BEGIN TRANSACTION;
     DELETE FROM ${fq('events')} WHERE event_date = ${d};
     INSERT INTO ${fq('events')} (id, event_date, amount, status)
       SELECT id, event_date, amount, status FROM ${fq('staging')} WHERE event_date = ${d};
     COMMIT TRANSACTION;`,
    ...(withParams ? [{ d: date(D1) }, { d: 'DATE' }] : []),
  );
}

const checks: Array<[string, () => Promise<string>]> = [
  ['create dataset', async () => {
    [dataset] = await bq.createDataset(datasetId);
    const [exists] = await bq.dataset(datasetId).exists();
    expectEqual(exists, true, 'dataset exists');
    return datasetId;
  }],

  ['create table partitioned by DATE event_date, NUMERIC column', async () => {
    await dataset.createTable('events', tableOptions);
    await dataset.createTable('staging', { schema });
    const [meta] = await dataset.table('events').getMetadata();
    expectEqual(meta.timePartitioning?.field, 'event_date', 'timePartitioning.field');
    const amount = (meta.schema?.fields as Array<{ name: string; type: string }>).find((f) => f.name === 'amount');
    expectEqual(amount?.type, 'NUMERIC', 'amount type');
    return `timePartitioning=${JSON.stringify(meta.timePartitioning)}`;
  }],

  ['load local CSV (table.load)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bq-probe-'));
    try {
      const file = join(dir, 'rows.csv');
      writeFileSync(file, `id,event_date,amount,status\nl1,${D1},1.10,loaded\nl2,${D1},${BIG},loaded\nl3,${D2},-3.000000001,loaded\n`);
      const [job] = await dataset.table('events').load(file, {
        sourceFormat: 'CSV', skipLeadingRows: 1, writeDisposition: 'WRITE_APPEND',
      });
      const state = job.status?.state;
      const { rows } = await run(`SELECT COUNT(*) AS n FROM ${fq('events')} WHERE status = 'loaded'`);
      expectEqual(Number(rows[0]?.n), 3, 'loaded rows');
      return `job state ${String(state)}, 3 rows`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }],

  ['NUMERIC round-trip (29+9 digits) via CSV load', async () => {
    const { rows } = await run(`SELECT CAST(amount AS STRING) AS s, amount FROM ${fq('events')} WHERE id = 'l2'`);
    expectEqual(rows[0]?.s, BIG, 'CAST(amount AS STRING)');
    expectEqual(plain(rows[0]?.amount), BIG, 'client value');
    return 'exact (server string and client Big)';
  }],

  ['NUMERIC round-trip via query parameter', async () => {
    const { rows } = await run('SELECT @n AS n, CAST(@n AS STRING) AS s', { n: BIG }, { n: 'NUMERIC' });
    expectEqual(rows[0]?.s, BIG, 'CAST(@n AS STRING)');
    expectEqual(plain(rows[0]?.n), BIG, 'client value');
    return 'exact';
  }],

  ['NUMERIC sums are exact', async () => {
    await resetEvents();
    const { rows } = await run(`SELECT SUM(x) AS s FROM UNNEST([NUMERIC '0.1', NUMERIC '0.1', NUMERIC '0.1']) AS x`);
    expectEqual(plain(rows[0]?.s), '0.3', 'SUM(0.1 x3)');
    const big = await run(`SELECT SUM(x) AS s FROM UNNEST([NUMERIC '${BIG}', NUMERIC '0.000000001']) AS x`);
    expectEqual(plain(big.rows[0]?.s), '12345678901234567890123456789.12345679', 'SUM(big + 1e-9)');
    const t = await run(`SELECT SUM(amount) AS s FROM ${fq('events')}`);
    expectEqual(plain(t.rows[0]?.s), '60.750000001', 'SUM(amount) over the table');
    return '0.1x3=0.3, big+1e-9 exact, table sum 60.750000001 (client values)';
  }],

  ['CAST(NUMERIC AS STRING) canonical like BigQuery', async () => {
    const { rows } = await run(`SELECT CAST(NUMERIC '10.50' AS STRING) AS s`);
    expectEqual(rows[0]?.s, '10.5', "CAST(NUMERIC '10.50' AS STRING)");
    return "'10.5'";
  }],

  ['query with named params: NUMERIC, DATE, ARRAY<DATE>', async () => {
    const { rows } = await run(
      `SELECT COUNT(*) AS n, SUM(amount) AS s FROM ${fq('events')}
       WHERE event_date IN UNNEST(@dates) AND amount >= @min AND event_date <= @until`,
      { dates: [date(D1), date(D2)], min: '10.5', until: date(D2) },
      { dates: ['DATE'], min: 'NUMERIC', until: 'DATE' },
    );
    expectEqual([Number(rows[0]?.n), plain(rows[0]?.s)], [3, '60.75'], 'count, sum');
    return 'BigQuery.date() values + types {dates: ["DATE"], min: "NUMERIC", until: "DATE"}';
  }],

  ['query with auto-typed params (BigQuery.date(), string)', async () => {
    const { rows } = await run(
      `SELECT COUNT(*) AS n FROM ${fq('events')} WHERE event_date IN UNNEST(@dates) AND status = @status`,
      { dates: [date(D1)], status: 'provisional' },
    );
    expectEqual(Number(rows[0]?.n), 2, 'count');
    return 'ok';
  }],

  ['empty ARRAY<DATE> param (typed)', async () => {
    const { rows } = await run(
      `SELECT COUNT(*) AS n FROM ${fq('events')} WHERE event_date IN UNNEST(@dates)`, { dates: [] }, { dates: ['DATE'] },
    );
    expectEqual(Number(rows[0]?.n), 0, 'count');
    return 'ok';
  }],

  ['INSERT ... SELECT', async () => {
    await run(`DELETE FROM ${fq('staging')} WHERE TRUE`);
    await run(
      `INSERT INTO ${fq('staging')} (id, event_date, amount, status)
       SELECT id, event_date, amount * 2, 'copied' FROM ${fq('events')} WHERE event_date = @d`,
      { d: date(D1) }, { d: 'DATE' },
    );
    expectEqual(await snapshot('staging'), 'a:21,b:40.5', 'staging');
    return 'a:21,b:40.5';
  }],

  ['DML numDmlAffectedRows reported', async () => {
    const r = await run(`UPDATE ${fq('staging')} SET status = 'x' WHERE TRUE`);
    expectEqual(r.dmlAffected, '2', 'numDmlAffectedRows');
    return 'numDmlAffectedRows=2';
  }],

  ['MERGE ... NOT MATCHED BY SOURCE AND event_date IN UNNEST(@dates) THEN DELETE', async () => {
    await resetEvents();
    await run(`DELETE FROM ${fq('staging')} WHERE TRUE`);
    // Replacement file for D1: a is corrected, b is missing (must be deleted), e is new; D2 untouched.
    await run(`INSERT INTO ${fq('staging')} (id, event_date, amount, status) VALUES
      ('a', DATE '${D1}', NUMERIC '11', 'reconciled'), ('e', DATE '${D1}', NUMERIC '5', 'reconciled')`);
    await run(
      `MERGE ${fq('events')} T USING ${fq('staging')} S ON T.id = S.id
       WHEN MATCHED THEN UPDATE SET amount = S.amount, status = S.status
       WHEN NOT MATCHED BY SOURCE AND T.event_date IN UNNEST(@dates) THEN DELETE
       WHEN NOT MATCHED THEN INSERT (id, event_date, amount, status) VALUES (S.id, S.event_date, S.amount, S.status)`,
      { dates: [date(D1)] }, { dates: ['DATE'] },
    );
    expectEqual(await snapshot('events'), 'a:11,c:30,d:0.000000001,e:5', 'events after MERGE');
    return 'a updated, b deleted, e inserted, D2 kept';
  }],

  ['script: BEGIN TRANSACTION; DELETE; INSERT; COMMIT (literals)', async () => {
    await replaceD1(false);
    expectEqual(await snapshot('events'), 'c:30,d:0.000000001,z:7', 'events after COMMIT');
    return 'D1 replaced';
  }],

  ['script: same transaction with query parameters (@d)', async () => {
    await replaceD1(true);
    expectEqual(await snapshot('events'), 'c:30,d:0.000000001,z:7', 'events after COMMIT');
    return 'D1 replaced';
  }],

  ['script: BEGIN TRANSACTION; DELETE; ROLLBACK', async () => {
    await resetEvents();
    await run(`BEGIN TRANSACTION; DELETE FROM ${fq('events')} WHERE event_date = DATE '${D1}'; ROLLBACK TRANSACTION;`);
    expectEqual(await snapshot('events'), 'a:10.5,b:20.25,c:30,d:0.000000001', 'events after ROLLBACK');
    return 'delete undone';
  }],

  ['script: error inside transaction rolls back', async () => {
    await resetEvents();
    let failed = false;
    try {
      await run(`BEGIN TRANSACTION; DELETE FROM ${fq('events')} WHERE event_date = DATE '${D1}'; SELECT ERROR('probe failure'); COMMIT TRANSACTION;`);
    } catch {
      failed = true;
    }
    expectEqual(failed, true, 'script reported an error');
    expectEqual(await snapshot('events'), 'a:10.5,b:20.25,c:30,d:0.000000001', 'events after failed script');
    return 'job failed and delete was undone';
  }],

  ['copy job (table.copy)', async () => {
    await resetEvents();
    await dataset.table('events').copy(dataset.table('events_copy'));
    expectEqual(await snapshot('events_copy'), 'a:10.5,b:20.25,c:30,d:0.000000001', 'copy contents');
    const [meta] = await dataset.table('events_copy').getMetadata();
    return `copied 4 rows; copy timePartitioning=${JSON.stringify(meta.timePartitioning ?? null)}`;
  }],

  ['INFORMATION_SCHEMA.PARTITIONS', async () => {
    await resetEvents();
    const { rows } = await run(
      `SELECT partition_id, total_rows FROM \`${projectId}.${datasetId}\`.INFORMATION_SCHEMA.PARTITIONS
       WHERE table_name = 'events' ORDER BY partition_id`,
    );
    const got = rows.map((r) => `${String(r.partition_id)}=${Number(r.total_rows)}`).join(',');
    expectEqual(got, '20240301=2,20240302=2', 'partitions');
    return got;
  }],

  ['bq.query() (jobs.query) surfaces a failing query as an error', async () => {
    try {
      const [rows] = await bq.query({ query: "SELECT ERROR('probe failure') AS e", useLegacySql: false });
      throw new Error(`no error raised, rows=${JSON.stringify(rows)}`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message.startsWith('no error raised')) throw err;
      return message;
    }
  }],

  ['createQueryJob + getQueryResults surfaces a failing query', async () => {
    try {
      await run("SELECT ERROR('probe failure') AS e");
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    throw new Error('no error raised');
  }],

  ['streaming insert (table.insert)', async () => {
    await dataset.table('events').insert([{ id: 's1', event_date: D2, amount: '1.000000001', status: 'streamed' }]);
    expectEqual(await snapshot('events', "status = 'streamed'"), 's1:1.000000001', 'streamed row');
    return 'ok';
  }],
];

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/\|/g, '\\|').slice(0, 300);
}

async function main(): Promise<void> {
  const results: Array<{ name: string; ok: boolean | 'skipped'; detail: string; ms: number }> = [];
  for (const [name, check] of checks) {
    if (skip.some((w) => name.toLowerCase().includes(w))) {
      results.push({ name, ok: 'skipped', detail: 'PROBE_SKIP', ms: 0 });
      continue;
    }
    const started = Date.now();
    try {
      const detail = await withTimeout(check());
      results.push({ name, ok: true, detail, ms: Date.now() - started });
    } catch (err) {
      results.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err), ms: Date.now() - started });
    }
  }
  try {
    await withTimeout(bq.dataset(datasetId).delete({ force: true }));
  } catch {
    // best effort: the emulator's data directory is throw-away
  }

  console.log(`BigQuery emulator probe: http://127.0.0.1:${port} project ${projectId} dataset ${datasetId}\n`);
  console.log('| capability | result | detail | ms |');
  console.log('| --- | --- | --- | --- |');
  for (const r of results) {
    const result = r.ok === 'skipped' ? 'skipped' : r.ok ? 'ok' : 'FAIL';
    console.log(`| ${r.name} | ${result} | ${oneLine(r.detail)} | ${r.ms} |`);
  }
  const passed = results.filter((r) => r.ok === true).length;
  const failed = results.filter((r) => r.ok === false).length;
  const skipped = results.length - passed - failed;
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  // Exit explicitly: requests to a hung emulator would keep the event loop alive.
  process.exit(failed === 0 ? 0 : 1);
}

await main();
